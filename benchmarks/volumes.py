"""Volumes end to end against the bare model, side by side in one run, and memory over many volumes.

    python -m benchmarks.volumes --rounds 3 --memory 10 100

(a) ``brainlens classify study.nii.gz --csv --json`` (the CLI's code path: NIfTI decoding, reorientation,
    slicing, windowing, empty-slice skipping, resizing, batched model runs with Grad-CAM outputs, the
    volume summary, CSV and JSON) on a 256 x 256 x 26 volume of the MNI template, with the loaded model;
(b) a bare onnxruntime ``session.run`` loop over the same slices, already decoded and resized.
They take turns, round by round (the machine is shared, its speed changes by the minute); the ratio
is total (a) time / total (b) time. Then the peak memory of ``brainlens classify --heatmaps`` over
folders of N copies of that volume, each in its own process (the tiny test model by default: memory of
the pipeline, not of the model's weights, which are constant).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHAPE = (256, 256, 26)


def build_volume(path: Path, shape: tuple[int, int, int] = SHAPE) -> Path:
    """MNI axial slices inside the head, padded square and resized to shape[:2], as an int16 NIfTI."""
    import cv2
    import nibabel

    from tests import volume_data

    mni = nibabel.load(volume_data.mni_path())
    data = np.asarray(mni.dataobj, dtype=np.float32)
    zs = np.linspace(50, 150, shape[2]).round().astype(int)
    side = max(data.shape[:2])
    slices = []
    for z in zs:
        square = np.zeros((side, side), np.float32)
        square[: data.shape[0], : data.shape[1]] = data[:, :, z]
        slices.append(cv2.resize(square, shape[1::-1], interpolation=cv2.INTER_LINEAR))
    volume = (np.stack(slices, axis=-1) * 16).astype(np.int16)
    step = side / shape[0]
    affine = np.diag([step, step, float(zs[1] - zs[0]), 1.0])
    nibabel.save(nibabel.Nifti1Image(volume, affine), str(path))
    return path


def _tensors(path: Path, classifier) -> np.ndarray:
    from app.core.runs.volumes import classifiable_slices
    from app.core.scans.loading import ScanSource, load_volume

    scans = classifiable_slices(load_volume(ScanSource("volume", (path,))), ("axial",))
    return np.stack([classifier.prepare(s.display).tensor for s in scans]).astype(np.float32)


def _bare(session, tensors: np.ndarray, batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(tensors), batch):
        session.run(None, {"image": tensors[i : i + batch]})
    return time.perf_counter() - started


def _end_to_end(path: Path, classifier, batch: int, out: Path) -> tuple[float, int]:
    from app import cli

    args = cli.build_parser().parse_args([str(path), "--csv", str(out / "r.csv"), "--json", str(out / "r.json"),
                                          "--quiet", "--no-audit", "--batch-size", str(batch)])
    with open(os.devnull, "w") as devnull:
        started = time.perf_counter()
        code = cli.classify(args, out=devnull, err=devnull, classifier=classifier)
        seconds = time.perf_counter() - started
    if code != cli.EXIT_OK:
        raise RuntimeError(f"brainlens classify failed (exit {code})")
    return seconds, json.loads((out / "r.json").read_text())["summary"]["ok"]


def side_by_side(path: Path, model: Path | None, rounds: int, batch: int) -> dict:
    from benchmarks.throughput import _session
    from app.core.model.inference import Classifier

    classifier = Classifier(model, device="cpu")
    session = _session(classifier.path)
    tensors = _tensors(path, classifier)
    session.run(None, {"image": tensors[:batch]})  # warm-up of both, not timed
    bare, e2e, slices = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        _end_to_end(path, classifier, batch, Path(tmp))
        for _ in range(rounds):
            bare.append(_bare(session, tensors, batch))
            seconds, slices = _end_to_end(path, classifier, batch, Path(tmp))
            e2e.append(seconds)
    return {"slices": slices, "bare_slices": len(tensors), "bare_s": bare, "e2e_s": e2e,
            "ratio": sum(e2e) / sum(bare), "model": classifier.path.name}


def part_memory(folder: Path, model: Path) -> None:
    """In a child process: classify the folder with heatmap volumes; print the peak RSS."""
    from app import cli

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.devnull, "w") as devnull:
            args = cli.build_parser().parse_args([str(folder), "--model", str(model), "--device", "cpu", "--quiet",
                                                  "--no-audit", "--csv", str(Path(tmp) / "r.csv"),
                                                  "--heatmaps", str(Path(tmp) / "maps")])
            code = cli.classify(args, out=devnull, err=devnull)
        maps = len(list((Path(tmp) / "maps").iterdir()))
    print("RESULT " + json.dumps({"exit": code, "heatmaps": maps, "peak_rss_mb": round(peak_rss_mb(), 1)}), flush=True)


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM). ru_maxrss would report the parent's when it was larger
    at fork time (Linux carries it over the exec), e.g. a parent holding the VGG16 session."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory(volume: Path, counts: list[int], model: Path) -> list[dict]:
    results = []
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "volumes"
            folder.mkdir()
            for i in range(count):
                shutil.copy(volume, folder / f"study{i:03d}.nii.gz")
            command = [sys.executable, "-m", "benchmarks.volumes", "--part-memory", str(folder), str(model)]
            done = subprocess.run(command, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                  capture_output=True, text=True, timeout=3600)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise RuntimeError(f"memory run failed: {done.stderr[-2000:]}")
            results.append({"volumes": count, **json.loads(line[len("RESULT "):])})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--memory", type=int, nargs="*", default=[10, 100], metavar="N",
                        help="volume counts for the memory runs (none: skip them)")
    parser.add_argument("--memory-model", type=Path, default=None, help="default: the tiny test model")
    parser.add_argument("--part-memory", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part_memory:
        part_memory(*args.part_memory)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        volume = build_volume(Path(tmp) / "study.nii.gz")
        result = side_by_side(volume, args.model, args.rounds, args.batch_size)
        print(f"{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} volume, {result['slices']} slices classified ({result['model']}, "
              f"batch {args.batch_size}, {args.rounds} rounds taking turns)")
        print(f"  bare session.run on pre-decoded slices: {', '.join(f'{s:.2f}' for s in result['bare_s'])} s")
        print(f"  brainlens classify end to end:          {', '.join(f'{s:.2f}' for s in result['e2e_s'])} s")
        print(f"  end to end / bare = {result['ratio']:.3f}  (target <= 1.3)")
        if args.memory:
            model = args.memory_model
            if model is None:
                from tests.model_fixtures import build_tiny_model

                model = build_tiny_model(Path(tmp) / "tiny.onnx")
            for row in memory(volume, args.memory, model):
                print(f"  {row['volumes']:>4} volumes (--heatmaps): peak RSS {row['peak_rss_mb']:.0f} MB, "
                      f"{row['heatmaps']} heatmap volumes written, exit {row['exit']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
