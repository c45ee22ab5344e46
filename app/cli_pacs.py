"""``brainlens pacs …`` and the PACS parts of ``brainlens classify --from-pacs QUERY --send-results``.

    brainlens pacs nodes                          the configured nodes
    brainlens pacs add NAME --ae AE --host HOST --port PORT [--calling-ae AE] [--move-port PORT]
    brainlens pacs add NAME --url URL [--auth basic --user USER | --auth bearer] [--ca-file PEM]
    brainlens pacs remove NAME
    brainlens pacs echo NODE                      C-ECHO, or a one-result QIDO-RS query
    brainlens pacs find NODE QUERY                e.g. "patient=Roe*,date=20260101-20260131,modality=MR"
    brainlens pacs retrieve NODE QUERY [--method get|move|wado] [--to DIR]
    brainlens pacs send NODE PATH...              DICOM files or folders (C-STORE or STOW-RS)

A password or token is read from standard input (``--password-stdin``) or asked for without echo,
never taken from the command line, and stored in the system keyring only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import PacsError

if TYPE_CHECKING:
    from app.core.reports.sinks import RunSummary

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _store():
    from app.core.network.nodes import NodeStore

    return NodeStore()


def _connection(name: str | None, *, audit: bool = True):
    """The configured node called ``name`` (the only one when ``name`` is None)."""
    from app.core.network.pacs import PacsConnection

    store = _store()
    if name is None:
        names = store.names()
        if len(names) != 1:
            raise PacsError("Say which PACS node to use (--node NAME); configured: " + (", ".join(names) or "none") + ".")
        name = names[0]
    return PacsConnection(store.get(name), store, audit=audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainlens pacs", description="Query, retrieve from and send to a PACS.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("nodes", help="list the configured nodes")
    add = sub.add_parser("add", help="add or replace a node")
    add.add_argument("name")
    add.add_argument("--ae", dest="ae_title", default="", help="the node's AE title (DICOM)")
    add.add_argument("--host", default="", help="the node's host name or address (DICOM)")
    add.add_argument("--port", type=int, default=104, help="the node's DICOM port (104)")
    add.add_argument("--calling-ae", default="BRAINLENS", help="BrainLens's own AE title (BRAINLENS)")
    add.add_argument("--move-port", type=int, default=None, help="the port BrainLens listens on for C-MOVE")
    add.add_argument("--url", default="", help="a DICOMweb base URL instead of a DICOM node")
    add.add_argument("--auth", choices=("none", "basic", "bearer"), default="none", help="DICOMweb authentication")
    add.add_argument("--user", dest="username", default="", help="DICOMweb user name (basic auth)")
    add.add_argument("--ca-file", default="", help="a PEM file of the certificate authority to trust for TLS")
    add.add_argument("--timeout", type=float, default=30.0, help="seconds before any network call gives up (30)")
    add.add_argument("--password-stdin", action="store_true", help="read the password or token from stdin")
    remove = sub.add_parser("remove", help="remove a node (and its password from the keyring)")
    remove.add_argument("name")
    for name, text in (("echo", "check that a node answers"), ("find", "search a node"),
                       ("retrieve", "retrieve every matching series into the cache")):
        command = sub.add_parser(name, help=text)
        command.add_argument("node")
        if name != "echo":
            command.add_argument("query", help='KEY=VALUE[,KEY=VALUE]: patient, id, date, modality, description, '
                                               'study_uid, series_uid')
    retrieve = sub.choices["retrieve"]
    retrieve.add_argument("--method", choices=("get", "move", "wado"), default=None,
                          help="C-GET (default for DICOM nodes), C-MOVE, or WADO-RS (DICOMweb nodes)")
    retrieve.add_argument("--to", type=Path, default=None, help="cache folder (default: the user cache)")
    send = sub.add_parser("send", help="send DICOM files to a node")
    send.add_argument("node")
    send.add_argument("paths", nargs="+", type=Path)
    return parser


def main(argv: list[str] | None = None, *, out=None, err=None, stdin=None) -> int:
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args, out, err, stdin)
    except PacsError as exc:
        print(f"brainlens: {exc}", file=err)
        return EXIT_FAILED


def _nodes(args, out, err, stdin) -> int:
    nodes = _store().nodes()
    for node in nodes:
        print(f"{node.name}\t{node.kind}\t{node.address}", file=out)
    if not nodes:
        print("No PACS node is configured: add one with `brainlens pacs add`.", file=out)
    return EXIT_OK


def _add(args, out, err, stdin) -> int:
    from app.core.network.nodes import DICOMWEB, DIMSE, PacsNode

    node = PacsNode(name=args.name, kind=DICOMWEB if args.url else DIMSE, ae_title=args.ae_title, host=args.host,
                    port=args.port, calling_ae_title=args.calling_ae, move_port=args.move_port, url=args.url,
                    auth=args.auth, username=args.username, ca_file=args.ca_file, timeout_s=args.timeout)
    secret = None
    if node.needs_secret:
        if args.password_stdin:
            secret = stdin.readline().rstrip("\r\n")
        else:
            import getpass

            secret = getpass.getpass(f"{'Password' if node.auth == 'basic' else 'Token'} for {node.name}: ")
    _store().save(node, secret=secret)
    print(f"saved {node.name} ({node.address})" + ("; its secret is in the system keyring" if secret else ""),
          file=out)
    return EXIT_OK


def _remove(args, out, err, stdin) -> int:
    store = _store()
    store.get(args.name)
    store.remove(args.name)
    print(f"removed {args.name}", file=out)
    return EXIT_OK


def _echo(args, out, err, stdin) -> int:
    connection = _connection(args.node)
    connection.echo()
    print(f"{connection.node.name} ({connection.node.address}) answered.", file=out)
    return EXIT_OK


def format_match(match) -> str:
    images = "?" if match.n_images is None else str(match.n_images)
    return (f"{match.patient_name:<24.24} {match.patient_id:<14.14} {match.study_date:<8} {match.modality:<4} "
            f"{images:>5}  {match.study_description} / {match.series_description}")


def _find(args, out, err, stdin) -> int:
    from app.core.network.query import parse_query

    matches = _connection(args.node).find(parse_query(args.query))
    print(f"{'patient':<24} {'id':<14} {'date':<8} {'mod.':<4} {'imgs':>5}  study / series", file=out)
    for match in matches:
        print(format_match(match), file=out)
    print(f"{len(matches)} series found", file=out)
    return EXIT_OK


def retrieve_matches(connection, query_text: str, *, method: str | None, root: Path | None, err) -> tuple[list, bool]:
    """Retrieves every series matching ``query_text``: (results, all complete)."""
    from app.core.network.query import parse_query

    matches = connection.find(parse_query(query_text))
    if not matches:
        raise PacsError(f"Nothing on {connection.node.name} matches the query.")
    results, whole = [], True
    for n, match in enumerate(matches, start=1):
        result = connection.retrieve(match, method=method, root=root)
        print(f"series {n}/{len(matches)} ({match.modality} {match.series_description}): {result.summary()}",
              file=err)
        results.append(result)
        whole = whole and result.complete
    return results, whole


def _retrieve(args, out, err, stdin) -> int:
    results, whole = retrieve_matches(_connection(args.node), args.query, method=args.method, root=args.to, err=err)
    for result in results:
        print(result.folder, file=out)
    return EXIT_OK if whole else EXIT_FAILED


def _dicom_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files


def _send(args, out, err, stdin) -> int:
    files = _dicom_files(args.paths)
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise PacsError(f"{missing[0]} does not exist.")
    stored = _connection(args.node).send(files)
    print(f"{len(stored)} object(s) sent", file=out)
    return EXIT_OK


_COMMANDS = {"nodes": _nodes, "add": _add, "remove": _remove, "echo": _echo, "find": _find,
             "retrieve": _retrieve, "send": _send}


# --- brainlens classify --from-pacs QUERY --send-results -----------------------------------------

def prepare_classify(args, classifier, err) -> tuple[ResultSender | None, int | None]:
    """For ``brainlens classify``: (the sender when --send-results, an exit code when it cannot go on).

    Retrieves the series of ``--from-pacs`` and adds their cache folders to ``args.paths``."""
    from app.core.model.identity import ModelInfo

    sender = None
    if args.send_results:
        try:
            sender = ResultSender(args.node, ModelInfo.from_classifier(classifier), audit=args.audit, err=err,
                                  colormap=args.colormap, opacity=args.opacity)
        except PacsError as exc:
            print(f"brainlens: {exc}", file=err)
            return None, EXIT_USAGE
    if args.from_pacs:
        folders = classify_sources(args, err)
        if folders is None:
            return None, EXIT_FAILED
        args.paths = list(args.paths) + folders
    return sender, None


def classify_sources(args, err) -> list[Path] | None:
    """The cache folders of the series matching ``--from-pacs`` (None after a printed error)."""
    try:
        connection = _connection(args.node, audit=args.audit)
        results, whole = retrieve_matches(connection, args.from_pacs, method=args.retrieve_method, root=None, err=err)
    except PacsError as exc:
        print(f"brainlens: {exc}", file=err)
        return None
    if not whole:
        print("brainlens: some series are incomplete; their images that arrived are classified.", file=err)
    return [r.folder for r in results if r.files]


class ResultSender:
    """A result sink of ``brainlens classify`` that sends, per study, the SC, PDF and SR when the run ends.

    Nothing is sent if the run was interrupted; ``failed`` tells the CLI to exit non-zero."""

    def __init__(self, node_name: str | None, model_info: Any, *, audit: bool, err, colormap: str = "inferno",
                 opacity: float = 0.4) -> None:
        self.connection = _connection(node_name, audit=audit)  # fails now, before the run, if misconfigured
        self.model_info, self.err = model_info, err
        self.colormap, self.opacity = colormap, opacity
        self._by_study: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        self.failed = False
        self.sent = 0

    def write(self, item: Any) -> None:
        scan, prediction = getattr(item, "scan", None), getattr(item, "prediction", None)
        study = getattr(getattr(scan, "metadata", None), "study_instance_uid", None)
        if prediction is not None and study:
            self._by_study[study].append((scan, prediction))

    def close(self, summary: RunSummary) -> None:
        from app.core.network.send import study_result_objects

        if summary.interrupted:
            print("brainlens: interrupted, so nothing was sent to the PACS.", file=self.err)
            return
        for n, pairs in enumerate(self._by_study.values(), start=1):
            try:
                with tempfile.TemporaryDirectory(prefix="brainlens-send-") as tmp:
                    objects = study_result_objects(Path(tmp), [s for s, _ in pairs], [p for _, p in pairs],
                                                   self.model_info, colormap=self.colormap, opacity=self.opacity)
                    self.sent += len(self.connection.send(objects))
            except PacsError as exc:
                self.failed = True
                print(f"brainlens: study {n}: results not sent: {exc}", file=self.err)
        self._by_study.clear()
        print(f"{self.sent} result object(s) sent to {self.connection.node.name}", file=self.err)
