"""How right is BrainLens on real labelled MRI? The product and the bare model on kaggle/test-dev.

    python scripts/real_eval.py                       # the default model, ../shared/data/kaggle
    python scripts/real_eval.py --model M.onnx --markdown --json runs/real-eval.json

What it does, with the app's own core (app.core.scans.loading + app.core.model.inference.Classifier,
so the figures are the product's):

1. the leakage audit (training.leakage: sha256 of the pixels + 256-bit pHash within 10 bits) of
   test-dev against train and calibration; the duplicates are left out of every figure;
2. every remaining test-dev scan is loaded and classified as ``brainlens classify`` does;
3. "product": a scan the guard marks "not assessed" has no class (it counts as wrong in the overall
   accuracy); "bare model": the model's class for every scan, guard ignored;
4. healthy brains (training.healthy.held_out_slices: MNI slices and a contrast not used in training,
   and a real subject's EPI): how many get a tumour label with confidence >= 0.9 and no flag.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from training import healthy, real_data  # noqa: E402
from training.metrics import confidence_analysis, confusion_matrix, expected_calibration_error, per_class_scores  # noqa: E402

CONFIDENT = 0.9


def clean_test_paths(data_dir: Path | None = None, every: int = 1) -> tuple[list[tuple[Path, int]], dict]:
    """(file, label) of the test-dev scans that do not duplicate a train/calibration image, and the
    audit's counts. ``every`` > 1 keeps every n-th of them (a quicker, still stratified check)."""
    splits = real_data.load_all(240, data_dir)
    cleaned, report = real_data.audit(splits)
    root = real_data.kaggle_dir(data_dir)
    test = cleaned["test-dev"]
    pairs = [(root / p, int(label)) for p, label in zip(test.paths, test.labels)][::every]
    summary = real_data.audit_summary(report)
    summary["test_dev_total"] = len(splits["test-dev"])
    return pairs, summary


def classify_files(classifier, files: list[Path], batch_size: int = 8) -> list:
    from app.core.scans.loading import load_scans

    predictions = []
    for start in range(0, len(files), batch_size):
        scans = [load_scans(path)[0] for path in files[start : start + batch_size]]
        predictions.extend(classifier.classify(scans, batch_size=batch_size))
    return predictions


def figures(labels: np.ndarray, probabilities: np.ndarray, assessed: np.ndarray, names: tuple[str, ...]) -> dict:
    """The product's and the bare model's figures for true labels [N], probabilities [N, C] and
    the guard's verdicts [N]."""
    predicted = probabilities.argmax(axis=1)
    correct = predicted == labels
    n = len(labels)
    product_pred = np.where(assessed, predicted, len(names))  # column C: "not assessed"
    product_matrix = confusion_matrix(labels, product_pred, len(names) + 1)[: len(names)]
    product_scores = per_class_scores(np.vstack([product_matrix, np.zeros((1, len(names) + 1), int)]),
                                      [*names, "not assessed"])
    bare_matrix = confusion_matrix(labels, predicted, len(names))
    kept = assessed.astype(bool)
    return {
        "n": int(n),
        "product": {
            "assessed_share": float(kept.mean()) if n else None,
            "accuracy_of_assessed": float(correct[kept].mean()) if kept.any() else None,
            "overall_accuracy": float((correct & kept).mean()) if n else None,
            "per_class": {k: v for k, v in product_scores.items() if k != "not assessed"},
            "confusion_matrix": product_matrix.tolist(),
            "ece_of_assessed": expected_calibration_error(labels[kept], probabilities[kept]) if kept.any() else None,
            "confidence": confidence_analysis(labels[kept], probabilities[kept], CONFIDENT) if kept.any() else None,
        },
        "bare_model": {
            "accuracy": float(correct.mean()) if n else None,
            "per_class": per_class_scores(bare_matrix, names),
            "confusion_matrix": bare_matrix.tolist(),
            "ece": expected_calibration_error(labels, probabilities),
            "confidence": confidence_analysis(labels, probabilities, CONFIDENT),
        },
    }


def evaluate_test_dev(classifier, data_dir: Path | None = None, every: int = 1) -> dict:
    pairs, audit = clean_test_paths(data_dir, every)
    predictions = classify_files(classifier, [p for p, _ in pairs])
    names = classifier.card.class_names
    order = [names.index(c) for c in real_data.CLASS_NAMES]  # the data's label order -> the model's
    labels = np.array([order[label] for _, label in pairs])
    probabilities = np.stack([p.probabilities for p in predictions])
    assessed = np.array([p.assessed for p in predictions])
    result = figures(labels, probabilities, assessed, names)
    result["audit"] = audit
    result["not_assessed_reasons"] = dict(Counter(r for p in predictions for r in p.ood_reasons))
    result["every"] = every
    return result


def evaluate_healthy(classifier) -> dict:
    """Held-out healthy slices: unflagged tumour labels at confidence >= 0.9 (product) and any
    tumour label at >= 0.9 (bare model)."""
    names, displays = zip(*healthy.held_out_slices())
    predictions = classifier.predict(list(displays))
    no_tumour = classifier.card.no_tumour_class
    confident_tumour = [p.predicted_class != no_tumour and p.confidence >= CONFIDENT for p in predictions]
    unflagged = [c and p.assessed and not p.flags for c, p in zip(confident_tumour, predictions)]
    return {
        "slices": len(predictions),
        "assessed": int(sum(p.assessed for p in predictions)),
        "called_notumor": int(sum(p.predicted_class == no_tumour for p in predictions)),
        "unflagged_tumour_label_ge_0.9": int(sum(unflagged)),
        "bare_tumour_label_ge_0.9": int(sum(confident_tumour)),
        "unflagged_examples": [f"{n}: {p.predicted_class} {p.confidence:.2f}"
                               for n, p, u in zip(names, predictions, unflagged) if u][:10],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def table(result: dict, markdown: bool = False) -> str:
    p, b = result["product"], result["bare_model"]
    rows = [
        ("scans (non-duplicates)", str(result["n"]), str(result["n"])),
        ("assessed", _pct(p["assessed_share"]), "100 %"),
        ("accuracy of assessed scans", _pct(p["accuracy_of_assessed"]), _pct(b["accuracy"])),
        ("overall accuracy (not assessed = wrong)", _pct(p["overall_accuracy"]), _pct(b["accuracy"])),
        ("ECE (15 bins)", f"{p['ece_of_assessed']:.3f}" if p["ece_of_assessed"] is not None else "-", f"{b['ece']:.3f}"),
    ]
    for key, words in (("accuracy_above_threshold", "accuracy when confidence > 90 %"),
                       ("fraction_above_threshold", "share with confidence > 90 %"),
                       ("mean_confidence_correct", "mean confidence, right"),
                       ("mean_confidence_wrong", "mean confidence, wrong")):
        rows.append((words, _pct((p["confidence"] or {}).get(key)), _pct(b["confidence"].get(key))))
    for name in b["per_class"]:
        pc, bc = p["per_class"][name], b["per_class"][name]
        rows.append((f"{name}: precision / recall", f"{_pct(pc['precision'])} / {_pct(pc['recall'])}",
                     f"{_pct(bc['precision'])} / {_pct(bc['recall'])}"))
    header = ("test-dev", "product (with guard)", "bare model")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b_:>22}  {c:>16}" for a, b_, c in [header, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a BrainLens ONNX model (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=None, help="holds train/, calibration/, test-dev/")
    parser.add_argument("--every", type=int, default=1, help="use every n-th clean test-dev scan")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if not real_data.available(args.data):
        print(f"error: no kaggle train/calibration/test-dev under {real_data.kaggle_dir(args.data)}", file=sys.stderr)
        return 2
    from app.core.model.inference import Classifier

    classifier = Classifier(args.model, device="cpu")
    result = evaluate_test_dev(classifier, args.data, args.every)
    result["healthy"] = evaluate_healthy(classifier)
    result["model"] = f"{classifier.card.name} {classifier.card.version} (sha256 {classifier.model_sha256[:12]})"
    audit = result["audit"]
    print(f"model: {result['model']}")
    print(f"leakage audit: {audit['removed'].get('test-dev', 0)} of {audit['test_dev_total']} test-dev scans duplicate "
          f"a train/calibration image (pairs {json.dumps(audit['pairs'])}); left out\n")
    print(table(result, args.markdown))
    print("\nconfusion matrix (rows true, columns predicted; product's last column: not assessed):")
    print(f"  product {result['product']['confusion_matrix']}\n  bare    {result['bare_model']['confusion_matrix']}")
    print(f"not assessed because: {result['not_assessed_reasons'] or 'none'}")
    h = result["healthy"]
    print(f"\nhealthy brains (held out, {h['slices']} slices): unflagged tumour label >= 0.9: "
          f"{h['unflagged_tumour_label_ge_0.9']}; bare model tumour label >= 0.9: {h['bare_tumour_label_ge_0.9']}; "
          f"called notumor {h['called_notumor']}; assessed {h['assessed']}")
    for line in h["unflagged_examples"]:
        print(f"  {line}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
