"""Fuzz the scan loaders with mutated real files, each load in a worker with a time and memory limit.

Seeds are real files (``scripts/fuzz_cases.py``: seeds, mutations, bombs): pydicom's bundled DICOM (MR, CT, NM, US, secondary capture; uncompressed,
JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE, deflate; multi-frame, palette, YBR),
MNI template slices as PNG/JPG/TIFF (8 and 16 bit), scikit-image's multi-page TIFF, and a folder
holding a DICOM series. Mutations are byte-level (flips, cuts, splices, repeats) and structural
(DICOM header values such as Rows, Columns, NumberOfFrames, BitsAllocated and the transfer
syntax; PNG/TIFF image sizes), plus decompression bombs.

Every case must end as scans or a ``ScanLoadError`` with a non-empty message. Anything else is
reported: another exception ("crash"), no answer within the time limit ("hang"), the worker dying
or going over the memory limit ("memory").

    python scripts/fuzz.py --minutes 10                 # mutation fuzzing, 2 workers
    python scripts/fuzz.py --cases 300 --seed 1         # a fixed number of cases (what `make test` runs)
    python scripts/fuzz.py --engine atheris --minutes 10    # coverage-guided (atheris / libFuzzer)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.fuzz_cases import Case, bombs, generate, mutate_folder, seeds, series_folder_seed  # noqa: E402

TIME_LIMIT_S = 20.0
MEMORY_LIMIT_MB = 3072


@dataclass(frozen=True)
class Outcome:
    case: str
    status: str  # "scans", "error" (a ScanLoadError), "crash", "hang", "memory"
    detail: str
    seconds: float
    peak_mb: float

    @property
    def bad(self) -> bool:
        return self.status in ("crash", "hang", "memory")


# -- running --------------------------------------------------------------------------------------
def _worker(connection, memory_limit_mb: int, loader: str = "app.core.scans.loading:load_scans") -> None:
    """Loads cases sent over ``connection`` until it closes; replies (status, detail, peak MB).
    ``loader`` ("module:function") is the function under test."""
    import importlib
    import resource
    import warnings

    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("ignore")
    from app.core.errors import ScanLoadError

    module, function = loader.split(":")
    load_scans = getattr(importlib.import_module(module), function)
    connection.send("ready")
    while True:
        try:
            path = connection.recv()
        except EOFError:
            return
        try:
            scans = load_scans(path)
            bad = [s for s in scans if s.display.dtype.name != "uint8" or s.display.ndim not in (2, 3)]
            reply = ("crash", f"bad display array {bad[0].display.dtype} {bad[0].display.shape}") if bad else ("scans", str(len(scans)))
        except ScanLoadError as exc:
            message = str(exc)
            reply = ("crash", "ScanLoadError without a message") if not message.strip() else ("error", message)
        except MemoryError:
            reply = ("memory", "MemoryError escaped the loader")
        except BaseException as exc:  # noqa: BLE001 - this is what we are looking for
            reply = ("crash", f"{type(exc).__name__}: {exc}"[:300])
        connection.send((*reply, _peak_rss_mb()))


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space and starts afresh at
    exec; ru_maxrss survives exec, so a worker spawned by a big parent (a long pytest run) would
    report the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Runner:
    """A worker process that loads one case at a time; restarted after a hang or a death."""

    def __init__(self, time_limit_s: float = TIME_LIMIT_S, memory_limit_mb: int = MEMORY_LIMIT_MB,
                 loader: str = "app.core.scans.loading:load_scans") -> None:
        self.time_limit_s, self.memory_limit_mb, self.loader = time_limit_s, memory_limit_mb, loader
        self.folder = Path(tempfile.mkdtemp(prefix="brainlens-fuzz-"))
        self.process = None
        self.connection = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, self.memory_limit_mb, self.loader), daemon=True)
        self.process.start()
        self.connection = parent
        if not parent.poll(120) or parent.recv() != "ready":  # imports are not timed
            raise RuntimeError("the fuzz worker did not start")

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
        self.process = self.connection = None

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def run(self, case: Case) -> Outcome:
        path = self._write(case)
        if self.process is None or not self.process.is_alive():
            self._start()
        started = time.perf_counter()
        self.connection.send(str(path))
        try:
            if not self.connection.poll(self.time_limit_s):
                self._stop()
                return Outcome(case.name, "hang", f"no answer within {self.time_limit_s:g} s", self.time_limit_s, float("nan"))
            status, detail, peak = self.connection.recv()
        except (EOFError, ConnectionError):
            code = self.process.exitcode if self.process is not None else None
            self._stop()
            return Outcome(case.name, "memory", f"the worker died (exit code {code})", time.perf_counter() - started, float("nan"))
        finally:
            _remove(path)
        return Outcome(case.name, status, detail, time.perf_counter() - started, peak)


    def _write(self, case: Case) -> Path:
        if case.folder:
            folder = Path(tempfile.mkdtemp(dir=self.folder))
            for name, data in case.folder:
                (folder / name).write_bytes(data)
            return folder
        path = self.folder / f"case{case.suffix}"
        path.write_bytes(case.data)
        return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fuzz(*, minutes: float | None = None, cases: int | None = None, seed: int = 0, workers: int = 2,
         include_bombs: bool = True, time_limit_s: float = TIME_LIMIT_S, memory_limit_mb: int = MEMORY_LIMIT_MB,
         log=print) -> list[Outcome]:
    """Run until ``minutes`` pass or ``cases`` are done; returns every outcome."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    warnings.simplefilter("ignore")  # pydicom warns about the values the mutations write
    deadline = time.monotonic() + minutes * 60 if minutes else None
    rng = random.Random(seed)
    from scripts.fuzz_volumes import sagittal_folder_seed

    folder_seeds = [series_folder_seed(), sagittal_folder_seed(Case)]
    queue: list[Case] = bombs() if include_bombs else []
    outcomes: list[Outcome] = []
    batch = 0

    def more() -> list[Case]:
        nonlocal batch
        batch += 1
        made = generate(200, seed * 100_003 + batch)
        made += [mutate_folder(rng.choice(folder_seeds), rng) for _ in range(4)]
        return made

    runners = [Runner(time_limit_s, memory_limit_mb) for _ in range(max(1, workers))]
    try:
        with ThreadPoolExecutor(len(runners)) as pool:
            while True:
                if cases is not None and len(outcomes) >= cases:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    break
                if not queue:
                    queue = more()
                take = len(runners) if cases is None else min(len(runners), cases - len(outcomes))
                chunk, queue = queue[:take], queue[take:]
                for outcome in pool.map(lambda pair: pair[0].run(pair[1]), zip(runners, chunk)):
                    outcomes.append(outcome)
                    if outcome.bad:
                        log(f"{outcome.status.upper()}: {outcome.case}: {outcome.detail}")
    finally:
        for runner in runners:
            runner.close()
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    peaks = [o.peak_mb for o in outcomes if o.peak_mb == o.peak_mb]
    lines = [
        f"{len(outcomes)} cases: {counts['scans']} loaded, {counts['error']} refused with a ScanLoadError, "
        f"{counts['crash']} crashes, {counts['hang']} hangs, {counts['memory']} memory failures",
        f"slowest case {slowest.seconds:.2f} s ({slowest.case[:70]}); worker peak RSS {max(peaks, default=0):.0f} MB",
    ]
    bombs_seen = [o for o in outcomes if o.case.startswith("bomb:")]
    for o in bombs_seen:
        lines.append(f"  {o.case}: {o.status} in {o.seconds:.2f} s, peak {o.peak_mb:.0f} MB: {o.detail[:90]}")
    return "\n".join(lines)


# -- atheris --------------------------------------------------------------------------------------
def atheris_main(minutes: float, time_limit_s: float, memory_limit_mb: int) -> None:
    """Coverage-guided fuzzing of ``load_scans`` (libFuzzer's own -timeout and -rss_limit_mb)."""
    import atheris

    corpus = Path(tempfile.mkdtemp(prefix="brainlens-corpus-"))
    for index, case in enumerate(seeds()):
        (corpus / f"seed{index:03d}{case.suffix}").write_bytes(case.data)
    with atheris.instrument_imports():
        import PIL.Image  # noqa: F401
        import pydicom  # noqa: F401

        from app.core.scans import dicom, images, loading  # noqa: F401
    from app.core.errors import ScanLoadError
    from app.core.scans.loading import load_scans

    scratch = Path(tempfile.mkdtemp(prefix="brainlens-atheris-"))
    suffixes = (".dcm", ".png", ".tif", ".jpg")

    def one_input(data: bytes) -> None:
        path = scratch / f"input{suffixes[data[0] % 4] if data else '.dcm'}"
        path.write_bytes(data)
        try:
            load_scans(path)
        except ScanLoadError as exc:
            if not str(exc).strip():
                raise AssertionError("ScanLoadError without a message") from exc

    args = [sys.argv[0], str(corpus), f"-max_total_time={int(minutes * 60)}", f"-timeout={int(time_limit_s)}",
            f"-rss_limit_mb={memory_limit_mb}", "-print_final_stats=1"]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help="run for this long (default: 1 minute unless --cases)")
    parser.add_argument("--cases", type=int, help="run exactly this many cases (after the bombs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S, help="seconds per file (default 20)")
    parser.add_argument("--memory-limit", type=int, default=MEMORY_LIMIT_MB, help="MB of address space per worker")
    parser.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    parser.add_argument("--no-bombs", action="store_true")
    args = parser.parse_args(argv)
    if args.engine == "atheris":
        atheris_main(args.minutes or 1.0, args.time_limit, args.memory_limit)
        return 0
    minutes = args.minutes if args.minutes or args.cases else 1.0
    started = time.perf_counter()
    outcomes = fuzz(minutes=minutes, cases=args.cases, seed=args.seed, workers=args.workers,
                    include_bombs=not args.no_bombs, time_limit_s=args.time_limit, memory_limit_mb=args.memory_limit)
    print(summary(outcomes))
    print(f"{time.perf_counter() - started:.0f} s, {len(outcomes) / (time.perf_counter() - started):.1f} cases/s")
    return 1 if any(o.bad for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
