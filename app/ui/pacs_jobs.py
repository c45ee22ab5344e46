"""The PACS work the GUI runs on worker threads (no Qt here): each job yields plain values.

    echo_job      → the node's address once it answered
    find_job      → list[SeriesMatch]
    retrieve_job  → Progress values, then the RetrieveResult
    send_job      → Progress values, then the list of SOP Instance UIDs the node stored

A blocking core call that reports progress through a callback runs on a helper thread here, so its
progress can be yielded as it comes (and the worker's Cancel reaches the core's ``CancelToken``).
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

_DONE = object()


def _pumped(call: Callable[[Callable[[Any], None]], Any], poll_s: float = 0.1) -> Iterator[Any]:
    """Runs ``call(on_progress)`` on a helper thread; yields each progress value, then its result."""
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call(events.put)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the worker thread below
            outcome["error"] = exc
        finally:
            events.put(_DONE)

    helper = threading.Thread(target=run, name="brainlens-pacs", daemon=True)
    helper.start()
    while True:
        try:
            event = events.get(timeout=poll_s)
        except queue.Empty:
            continue
        if event is _DONE:
            break
        yield event
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["value"]


def connection_for(node_name: str, store: Any = None) -> Any:
    from app.core.network.nodes import NodeStore
    from app.core.network.pacs import PacsConnection

    store = store or NodeStore()
    return PacsConnection(store.get(node_name), store)


def echo_job(node_name: str, store: Any = None) -> Iterator[str]:
    connection = connection_for(node_name, store)
    connection.echo()
    yield connection.node.address


def find_job(node_name: str, query: Any, store: Any = None) -> Iterator[list[Any]]:
    yield connection_for(node_name, store).find(query)


def retrieve_job(node_name: str, match: Any, method: str | None, cancel: Any, store: Any = None,
                 root: Path | None = None) -> Iterator[Any]:
    connection = connection_for(node_name, store)
    yield from _pumped(lambda progress: connection.retrieve(match, method=method, root=root,
                                                            on_progress=progress, cancel=cancel))


def send_job(node_name: str, scans: Sequence[Any], predictions: Sequence[Any], model_info: Any,
             kinds: Sequence[str], index: int | None, overlay_rgb: Any, colormap: str, opacity: float,
             store: Any = None) -> Iterator[Any]:
    """Writes the chosen result objects (SC, PDF, SR) to a temporary folder and sends them."""
    from app.core.network.send import study_result_objects
    from app.core.runs.progress import Progress

    connection = connection_for(node_name, store)
    with tempfile.TemporaryDirectory(prefix="brainlens-send-") as tmp:
        yield Progress(None, 0, "writing the DICOM objects…")
        objects = study_result_objects(Path(tmp), scans, predictions, model_info, kinds=kinds, index=index,
                                       overlay_rgb=overlay_rgb, colormap=colormap, opacity=opacity)
        yield from _pumped(lambda progress: connection.send(objects, on_progress=progress))
