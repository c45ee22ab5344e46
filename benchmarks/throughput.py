"""Throughput and memory of BrainLens against the baselines, side by side in one run.

    python -m benchmarks.throughput --n 200

Builds a folder of N real-size scans (MNI template slices at 512x512, half JPEG, half DICOM
series, in chunks of 50), then measures in one process, taking turns chunk by chunk (the machine
is shared, its speed changes by the minute: interleaving makes the ratios fair):

(a) end to end: ``brainlens classify`` (app.cli, the CLI's code path: listing, decoding,
    windowing, crop/resize, batched model run with Grad-CAM outputs, CSV and JSON) at N and 2N files;
(b) a bare onnxruntime ``session.run`` loop on pre-decoded tensors of the same model;
(c) the seeds' way: Keras ``model.predict`` per image plus a ``GradientTape`` Grad-CAM;
(d) detect-tumor's ``TumorDetector.predict`` loop (no Grad-CAM);
(e) the int8 model against float32 on the same tensors, with top-1 agreement (when present),
    and (a') ``brainlens classify`` with the int8 model.

(c) runs in its own process (TensorFlow) on a few JPEGs; (d) reads the JPEG half only (neither
reads DICOM). Peak memory of (a) is measured in separate processes at N and 2N files.
Prints a markdown table; ``--results FILE`` also writes it there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
VGG16_GFLOPS_224 = 15.5  # multiply-adds (G) of VGG16's forward pass at 224x224


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _emit(result: dict) -> None:
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    print("RESULT " + json.dumps(result), flush=True)


def _files(folder: Path, suffix: str | None = None) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and (suffix is None or p.suffix == suffix))


def _decoded_tensors(folder: Path, model: Path) -> np.ndarray:
    from app.core.model.inference import Classifier
    from app.core.scans.loading import load_scans

    card = Classifier(model, device="cpu").card
    from app.core.model.preprocess import to_model_input

    spec = card.input
    tensors = [
        to_model_input(scan.display, spec.height, spec.width, spec.value_range, spec.color)
        for path in _files(folder)
        for scan in load_scans(path)
    ]
    return np.stack(tensors)


def _session(model: Path):
    import onnxruntime as ort

    from app.core.model.providers import physical_cores

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = physical_cores()
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _timed_loop(session, tensors: np.ndarray, batch: int, warm: bool = True) -> tuple[float, np.ndarray]:
    if warm:
        session.run(None, {"image": tensors[:batch]})  # warm-up, not timed
    started = time.perf_counter()
    top1 = []
    for i in range(0, len(tensors), batch):
        outputs = session.run(None, {"image": tensors[i : i + batch]})
        top1.append(np.argmax(outputs[0], axis=1))
    return time.perf_counter() - started, np.concatenate(top1)


# -- parts, each run in a child process -----------------------------------------------------------
def part_e2e(folder: Path, model: Path, batch: int) -> None:
    from app import cli

    with tempfile.TemporaryDirectory() as tmp:
        out_json = Path(tmp) / "r.json"
        with open(os.devnull, "w") as devnull:
            sys_stdout, sys.stdout = sys.stdout, devnull
            try:
                code = cli.main([str(folder), "--model", str(model), "--device", "cpu", "--quiet",
                                 "--batch-size", str(batch), "--csv", str(Path(tmp) / "r.csv"), "--json", str(out_json)])
            finally:
                sys.stdout = sys_stdout
        summary = json.loads(out_json.read_text())["summary"]
    _emit({"exit": code, "images": summary["ok"] + summary.get("not_assessed", 0), "failed": summary["error"], "seconds": summary["seconds"]})


def part_interleaved(root: Path, model: Path, int8: Path, dt_dir: Path, batch: int) -> None:
    """(a), (b), (d), (e) and (a') taking turns chunk by chunk in one process, so that a shared
    machine's swings in speed fall on all of them alike. Decoding for (b) and (e) is untimed."""
    from app import cli

    has_int8 = int8.is_file()
    has_dt = (dt_dir / "detect_tumor" / "detector.py").is_file()
    f32 = _session(model)
    q8 = _session(int8) if has_int8 else None
    detector = None
    if has_dt:
        sys.path.insert(0, str(dt_dir))
        from detect_tumor.detector import TumorDetector

        detector = TumorDetector(providers=["CPUExecutionProvider"])
    totals: dict[str, list[float]] = {}

    def add(name: str, images: int, seconds: float) -> None:
        totals.setdefault(name, [0, 0.0])
        totals[name][0] += images
        totals[name][1] += seconds

    from app.core.model.inference import Classifier

    classifiers = {"e2e": Classifier(model, device="cpu")}
    if has_int8:
        classifiers["e2e_int8"] = Classifier(int8, device="cpu")

    def e2e(chunk: Path, name: str) -> None:  # `brainlens classify CHUNK --csv --json`, model loaded once
        with tempfile.TemporaryDirectory() as tmp:
            out_json = Path(tmp) / "r.json"
            args = cli.build_parser().parse_args([
                str(chunk), "--device", "cpu", "--quiet", "--batch-size", str(batch),
                "--csv", str(Path(tmp) / "r.csv"), "--json", str(out_json)])
            with open(os.devnull, "w") as devnull:
                cli.classify(args, out=devnull, err=devnull, classifier=classifiers[name])
            summary = json.loads(out_json.read_text())["summary"]
        add(name, summary["ok"] + summary.get("not_assessed", 0), summary["seconds"])

    agree: list[bool] = []
    chunks = sorted(p for p in root.iterdir() if p.is_dir())
    for k, chunk in enumerate(chunks):
        tensors = _decoded_tensors(chunk, model)
        if k == 0:  # first-run set-up of every session, untimed
            for session in filter(None, (f32, q8)):
                session.run(None, {"image": tensors[:batch]})
            for clf in classifiers.values():
                clf.run([clf.prepare(np.zeros((64, 64), np.uint8))] * batch)
            if detector is not None:
                detector.predict(_files(chunk, ".jpg")[0])
        steps = ["e2e", "bare", "dt", "int8", "e2e_int8"]
        for step in steps if k % 2 == 0 else reversed(steps):
            if step == "e2e":
                e2e(chunk, "e2e")
            elif step == "bare":
                seconds, top_f32 = _timed_loop(f32, tensors, batch, warm=False)
                add("bare", len(tensors), seconds)
            elif step == "dt" and detector is not None:
                jpgs = _files(chunk, ".jpg")
                started = time.perf_counter()
                for path in jpgs:
                    detector.predict(path)
                add("dt", len(jpgs), time.perf_counter() - started)
            elif step == "int8" and q8 is not None:
                seconds, top_q8 = _timed_loop(q8, tensors, batch, warm=False)
                add("int8", len(tensors), seconds)
            elif step == "e2e_int8" and has_int8:
                e2e(chunk, "e2e_int8")
        if q8 is not None:
            agree.extend((top_f32 == top_q8).tolist())
    result = {name: {"images": int(n), "seconds": t} for name, (n, t) in totals.items()}
    if agree:
        result["int8"]["agreement"] = float(np.mean(agree))
    _emit({"parts": result, "chunks": len(chunks)})


def part_keras(folder: Path, onnx_source: Path, limit: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from PIL import Image

    from training.onnx_weights import build_from_onnx

    model = build_from_onnx(onnx_source)
    size = model.input_shape[1]
    grad_model = tf.keras.Model(model.inputs, [model.get_layer("block5_conv3").output, model.output])
    paths = _files(folder, ".jpg")[:limit]

    def one(path: Path) -> None:  # the seed notebooks' per-image predict + Grad-CAM
        image = Image.open(path).convert("RGB").resize((size, size))
        x = np.asarray(image, dtype=np.float32)[None] / 255.0
        predictions = model.predict(x, verbose=0)
        index = int(np.argmax(predictions[0]))
        with tf.GradientTape() as tape:
            conv, preds = grad_model(x)
            score = preds[:, index]
        grads = tape.gradient(score, conv)
        weights = tf.reduce_mean(grads, axis=(0, 1, 2))
        heatmap = tf.nn.relu(tf.reduce_sum(conv[0] * weights, axis=-1)).numpy()
        heatmap / (heatmap.max() + 1e-8)

    one(paths[0])  # warm-up (graph tracing), not timed
    started = time.perf_counter()
    for path in paths:
        one(path)
    _emit({"images": len(paths), "seconds": time.perf_counter() - started})


PARTS = {"e2e": part_e2e, "interleaved": part_interleaved, "keras": part_keras}


def _child(part: str, *args, timeout: float = 3600) -> dict | None:
    command = [sys.executable, "-m", "benchmarks.throughput", "--part", part, *map(str, args)]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    print(f"[{part}] failed (exit {done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
    return None


# -- the machine ----------------------------------------------------------------------------------
def cpu_peak() -> dict:
    """Theoretical FP32 peak: physical cores x GHz x FLOPs/cycle (FMA = 2 FLOPs per lane)."""
    from app.core.model.providers import physical_cores

    flags, model, mhz = set(), platform.processor(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags":
                flags = set(value.split())
            elif key == "model name":
                model = value.strip()
            elif key == "cpu MHz" and mhz is None:
                mhz = float(value)
    except OSError:
        pass
    if "avx512f" in flags:
        # 16 FP32 lanes x 2 (FMA) per unit; server cores with AVX-512 have 2 FMA units
        per_cycle, isa = 64, "AVX-512 FMA, 2 units: 2 x 16 lanes x 2"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2 FMA, 2 units: 2 x 8 lanes x 2"
    else:
        per_cycle, isa = 8, "SSE (no FMA): 4 lanes x 2"
    cores = physical_cores()
    ghz = (mhz or 2000.0) / 1000.0
    return {"model": model, "cores": cores, "ghz": ghz, "flops_per_cycle": per_cycle, "isa": isa,
            "peak_gflops": cores * ghz * per_cycle}


def vgg_gflops(size: int) -> float:
    return 2 * VGG16_GFLOPS_224 * (size / 224) ** 2


def _rate(result: dict | None, key: str = "seconds") -> float | None:
    if not result or not result.get(key):
        return None
    return result["images"] / result[key]


def _load(result: dict | None) -> str:
    return "" if not result or "load" not in result else f"{result['load'][0]}, {result['load'][1]}"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="scans in the folder (>= 200 for the README figures)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", type=Path, default=REPO / "resources" / "models" / "brainlens-vgg16.onnx")
    parser.add_argument("--int8", type=Path, default=REPO / "resources" / "models" / "brainlens-vgg16-int8.onnx")
    parser.add_argument("--detect-tumor", type=Path, default=None, help="folder holding the detect_tumor package")
    parser.add_argument("--baseline-n", type=int, default=24, help="JPEGs for the slow baselines (c) and (d)")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--skip-2n", action="store_true", help="skip the memory run at 2N files")
    parser.add_argument("--results", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.part:
        converters = {"e2e": (Path, Path, int), "interleaved": (Path, Path, Path, Path, int),
                      "keras": (Path, Path, int)}[args.part]
        PARTS[args.part](*(convert(value) for convert, value in zip(converters, rest)))
        return 0
    if not args.model.exists():
        print(f"no model at {args.model}: run `make model` first", file=sys.stderr)
        return 2

    from app.core.model.inference import Classifier

    card = Classifier(args.model, device="cpu").card
    dt_dir = args.detect_tumor or next(
        (p for p in (REPO / ".cache" / "detect-tumor" / "extracted", Path("/tmp/dt/x")) if (p / "detect_tumor" / "detector.py").is_file()),
        None,
    )
    results: dict[str, dict | None] = {}
    with tempfile.TemporaryDirectory(prefix="brainlens-bench-") as tmp:
        from benchmarks.data import build_folder

        root = Path(tmp)
        t0 = time.perf_counter()
        chunks = build_folder(root / "a", args.n, seed=0)
        if not args.skip_2n:
            build_folder(root / "b", args.n, seed=1)
        print(f"built {args.n if args.skip_2n else 2 * args.n} scans in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        steps = [("interleaved", ("interleaved", root / "a", args.model, args.int8,
                                  dt_dir or root / "none", args.batch_size))]
        steps.append(("mem_n", ("e2e", root / "a", args.model, args.batch_size)))
        if not args.skip_2n:
            steps.append(("mem_2n", ("e2e", root, args.model, args.batch_size)))
        if dt_dir is not None and not args.skip_keras:
            onnx_source = dt_dir / "detect_tumor" / "models" / "Tumor_classification_vgg16.onnx"
            steps.append(("keras", ("keras", chunks[0] / "jpg", onnx_source, args.baseline_n)))
        for name, step in steps:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            load_before = os.getloadavg()[0]
            result = _child(*step)
            if result is not None:  # the machine is shared: say how busy it was
                result["load"] = (round(load_before, 1), round(os.getloadavg()[0], 1))
                if name == "interleaved":
                    for part_name, part in result["parts"].items():
                        results[part_name] = {**part, "load": result["load"]}
                results[name] = result
            print(f"  {name}: {result}", file=sys.stderr, flush=True)
    table = report(results, args, card, dt_dir)
    print(table)
    if args.results:
        args.results.write_text(table + "\n", encoding="utf-8")
    return 0


def report(results: dict, args, card, dt_dir) -> str:
    e2e, bare = _rate(results.get("e2e")), _rate(results.get("bare"))
    keras, dt = _rate(results.get("keras")), _rate(results.get("dt"))
    int8 = results.get("int8")
    peak = cpu_peak()
    chunks = (results.get("interleaved") or {}).get("chunks", "?")
    size = card.input.height
    flops = vgg_gflops(size)

    def ratio(a, b):
        return None if a is None or b is None else a / b

    rows = [
        ("(a) `brainlens classify` end to end (decode + Grad-CAM + CSV/JSON)", e2e, "1.00", ""),
        ("(b) bare `session.run` loop, pre-decoded tensors", bare, _fmt(ratio(e2e, bare)), "a/b >= 0.9"),
        ("(c) seeds: Keras `predict` + `GradientTape` Grad-CAM, per image", keras, _fmt(ratio(e2e, keras)), "a/c >= 1.5"),
        ("(d) detect-tumor `TumorDetector.predict` loop (no Grad-CAM)", dt, _fmt(ratio(e2e, dt)), "a/d >= 1.5"),
    ]
    lines = [
        f"Benchmark: {args.n} scans of 512x512 (half JPEG, half DICOM series), model `{args.model.name}` "
        f"({size}x{size}), batch {args.batch_size}, CPU execution provider.",
        f"CPU: {peak['model']}, {peak['cores']} physical cores at {peak['ghz']:.2f} GHz; "
        f"theoretical FP32 peak {peak['cores']} x {peak['ghz']:.2f} GHz x {peak['flops_per_cycle']} FLOPs/cycle "
        f"({peak['isa']}) = {peak['peak_gflops']:.0f} GFLOP/s.",
        "",
        "| measurement | scans/s | (a) ÷ this | target | load avg (start, end) |",
        "|---|---:|---:|---|---|",
    ]
    keys = ("e2e", "bare", "keras", "dt")
    for key, (label, rate, r, target) in zip(keys, rows):
        lines.append(f"| {label} | {_fmt(rate)} | {r} | {target} | {_load(results.get(key))} |")
    e2e_int8 = _rate(results.get("e2e_int8"))
    if e2e_int8:
        lines.append(f"| (a') `brainlens classify` end to end with the int8 model | {_fmt(e2e_int8)} | "
                     f"(a') ÷ (d) = {_fmt(ratio(e2e_int8, dt))} | | {_load(results.get('e2e_int8'))} |")
    if int8:
        int8_rate = _rate(int8)
        lines.append(f"| (e) int8 model, bare loop (vs (b) float32) | {int8_rate:.2f} | "
                     f"int8 ÷ f32 = {_fmt(ratio(int8_rate, bare))}, top-1 agreement {int8['agreement']:.1%} | "
                     f">= 2, agreement shown | {_load(int8)} |")
    else:
        lines.append(f"| (e) int8 model | n/a | {args.int8.name} not built | >= 2 | |")
    lines.append("")
    mem_a = results.get("mem_n") or {}
    mem_2n = results.get("mem_2n") or {}
    lines.append(
        f"Peak memory of `brainlens classify` (max RSS of the process): {mem_a.get('peak_rss_mb', 'n/a')} MB at "
        f"{args.n} files, {mem_2n.get('peak_rss_mb', 'n/a')} MB at {2 * args.n} files."
    )
    for name, rate in (("bare loop (b)", bare), ("end to end (a)", e2e)):
        if rate:
            achieved = rate * flops
            lines.append(
                f"{name}: {rate:.2f} scans/s x {flops:.1f} GFLOPs (VGG16 forward at {size}x{size}) = "
                f"{achieved:.0f} GFLOP/s = {achieved / peak['peak_gflops']:.0%} of the theoretical peak."
            )
    if dt_dir is None:
        lines.append("(c) and (d) skipped: the detect-tumor package was not found (run `make model`).")
    lines.append(
        f"(a), (b), (d), (e), (a') took turns chunk by chunk ({chunks} chunks of 50 scans, order reversed every "
        "other chunk) in one process, so the shared machine's changing load fell on all alike; (d) reads the "
        f"JPEG half only (it cannot read DICOM); (c) ran in its own process on {args.baseline_n} JPEGs. "
        f"Python {platform.python_version()}.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
