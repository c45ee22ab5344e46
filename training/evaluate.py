"""Evaluation of a trained model: metrics JSON and plots for a run folder or a new test folder.

The temperature for temperature scaling is always fitted on the *validation* split (never on
the split being reported), by minimising the NLL of softmax(logits / T).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training import metrics
from training.data import DataError, Samples, find_layout, list_files, load_samples
from training.leakage import DEFAULT_NEAR_THRESHOLD, audit

TEMPERATURE_BOUNDS = (0.05, 20.0)
CARD_KEYS = ("accuracy", "per_class", "macro_f1", "auc", "macro_auc", "ece", "ece_after_temperature",
             "temperature", "confidence", "confusion_matrix", "n")


def save_fingerprints(path: Path, splits: dict[str, Samples]) -> None:
    """What a later ``evaluate`` needs to audit a new test set against this run's training data."""
    names = [n for n, s in splits.items() for _ in range(len(s))]
    np.savez_compressed(
        path,
        split=np.array(names, dtype=str),
        path=np.array([p for s in splits.values() for p in s.paths], dtype=str),
        sha256=np.array([h for s in splits.values() for h in s.sha256], dtype=str),
        phash=np.concatenate([s.phash for s in splits.values()]) if splits else np.zeros((0, 4), np.uint64),
    )


def load_fingerprints(path: Path) -> dict[str, Samples]:
    data = np.load(path)
    out = {}
    for name in dict.fromkeys(data["split"].tolist()):
        mask = data["split"] == name
        n = int(mask.sum())
        out[name] = Samples(
            np.zeros((n, 0, 0, 3), np.uint8), np.zeros(n, np.int64), data["path"][mask].tolist(),
            data["sha256"][mask].tolist(), data["phash"][mask],
        )
    return out


def _concat(parts: list[Samples]) -> Samples:
    return Samples(
        np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
        [x for p in parts for x in p.paths], [x for p in parts for x in p.sha256],
        np.concatenate([p.phash for p in parts]),
    )


def predict_logits(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Logits (the "logits" layer) for uint8 images, scaled to [0, 1] as in training."""
    import keras

    from training.augment import make_dataset

    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    ds = make_dataset(images, np.zeros(len(images), np.int64), batch_size, training=False).map(lambda x, y: x)
    return np.asarray(logits_model.predict(ds, verbose=0), np.float64)


def write_predictions(path: Path, samples: Samples, logits: np.ndarray, class_names: Sequence[str]) -> None:
    probs = metrics.softmax(logits)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true", "predicted", "confidence", *[f"p_{n}" for n in class_names]])
        for p, y, row in zip(samples.paths, samples.labels, probs):
            writer.writerow([p, class_names[y], class_names[int(row.argmax())], f"{row.max():.6f}",
                             *[f"{v:.6f}" for v in row]])


def report_split(
    samples: Samples, logits: np.ndarray, class_names: Sequence[str], temperature: float, folder: Path, split: str
) -> dict[str, Any]:
    """Metrics dict, plots and a predictions CSV for one split."""
    from training.plots import plot_evaluation

    report = metrics.classification_report(samples.labels, logits, class_names, temperature)
    if len(samples):
        plot_evaluation(samples.labels, logits, class_names, temperature, folder / "plots", split)
        write_predictions(folder / f"predictions_{split}.csv", samples, logits, class_names)
    return report


def fitted_temperature(logits: np.ndarray, labels: np.ndarray) -> tuple[float, str | None]:
    """(temperature, None), or (1.0, why not) when validation cannot determine one: with no
    wrong answer the NLL keeps falling as T -> 0, and the "fit" would be the search bound."""
    if len(labels) == 0:
        return 1.0, "no validation images: temperature not fitted"
    if np.all(logits.argmax(axis=1) == labels):
        return 1.0, "validation has no errors, so the NLL has no minimum: temperature left at 1"
    t = metrics.fit_temperature(logits, labels, TEMPERATURE_BOUNDS)
    if not TEMPERATURE_BOUNDS[0] * 1.01 < t < TEMPERATURE_BOUNDS[1] / 1.01:
        return t, f"the fitted temperature is at its search bound {TEMPERATURE_BOUNDS}: too little validation data?"
    return t, None


def evaluate_training_run(
    model, splits: dict[str, Samples], class_names: Sequence[str], run_dir: Path, batch_size: int = 32
) -> dict[str, Any]:
    """Validation (and test, when the data had one) metrics for a freshly trained model.

    Top-level keys describe the test split when there is one, else validation (``evaluated_on``
    says which), so export can copy them into the model card unchanged.
    """
    logits = {name: predict_logits(model, splits[name].images, batch_size)
              for name in ("validation", "test") if name in splits}
    val_logits, val_labels = logits["validation"], splits["validation"].labels
    temperature, note = fitted_temperature(val_logits, val_labels)
    reports = {name: report_split(splits[name], lg, class_names, temperature, run_dir, name)
               for name, lg in logits.items()}
    headline = "test" if len(splits.get("test", [])) else "validation"
    out: dict[str, Any] = {
        "class_names": list(class_names),
        "evaluated_on": headline,
        "temperature_fitted_on": "validation" if len(val_labels) else None,
    }
    if note is not None:
        out["temperature_note"] = note
    out.update({k: reports[headline][k] for k in CARD_KEYS})
    out.update(reports)
    return out


def evaluate_run(
    run_dir: Path,
    test_dir: Path,
    *,
    batch_size: int = 32,
    near_threshold: int = DEFAULT_NEAR_THRESHOLD,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluates the run's model on ``test_dir`` (class folders, or a Kaggle layout whose
    ``Testing`` folder is used). Test images duplicating the run's training/validation images are
    reported and left out. Writes ``RUN_DIR/evaluations/<test folder name>/``."""
    import keras
    from tqdm.auto import tqdm

    import training.models  # noqa: F401 - registers the custom layers for load_model

    run_dir, test_dir = Path(run_dir), Path(test_dir)
    config = json.loads((run_dir / "config.json").read_text())
    class_names = tuple(config["class_names"])
    layout = find_layout(test_dir)
    root = layout.test_root if layout.kind == "kaggle" and layout.test_root is not None else layout.train_root
    unknown = set(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) - set(class_names)
    if unknown:
        raise DataError(f"{root} has classes the model does not know: {sorted(unknown)} (it knows {list(class_names)})")
    bar = tqdm(total=len(list_files(root, class_names)), desc="loading test scans", unit="img", disable=not progress)
    test = load_samples(root, class_names, int(config["img_size"]), crop=bool(config["crop"]),
                        crop_margin=int(config.get("crop_margin", 0)),
                        relative_to=test_dir, progress=lambda done, total: bar.update(1))
    bar.close()
    failures = test.failures
    fingerprints = run_dir / "fingerprints.npz"
    parts = [s for s in load_fingerprints(fingerprints).values()] if fingerprints.exists() else []
    reference = _concat(parts) if parts else None
    splits = {"train+validation": reference, "test": test} if reference is not None else {"test": test}
    cleaned, leakage = audit(splits, near_threshold, count_within=False)
    test = cleaned["test"]

    out_dir = run_dir / "evaluations" / test_dir.name
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "leakage.json").write_text(json.dumps(leakage.to_dict(), indent=2))
    run_metrics_path = run_dir / "metrics.json"
    temperature = json.loads(run_metrics_path.read_text()).get("temperature", 1.0) if run_metrics_path.exists() else 1.0
    model = keras.models.load_model(run_dir / "model.keras")
    logits = predict_logits(model, test.images, batch_size)
    report = report_split(test, logits, class_names, temperature, out_dir, "test")
    report.update({
        "class_names": list(class_names),
        "test_dir": str(test_dir.resolve()),
        "leakage_removed": len(leakage.removed.get("test", [])),
        "unreadable_files": [{"path": p, "reason": r} for p, r in failures],
    })
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    return report
