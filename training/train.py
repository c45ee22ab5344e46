"""The training run: data → leakage audit → model → fit (Adam, early stopping, best checkpoint)
→ evaluation → a self-describing run folder (see training/README.md for its layout).

Ctrl-C during ``fit`` stops training, keeps the best checkpoint so far and still writes the run
folder (``metrics.json`` then says ``"interrupted": true``).
"""

from __future__ import annotations

import datetime
import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.data import Layout, Samples, class_weights, find_layout, load_samples, stratified_split
from training.leakage import DEFAULT_NEAR_THRESHOLD, audit

DEFAULT_LEARNING_RATE = {"vgg16": 1e-4, "cnn": 1e-3}


@dataclass
class TrainConfig:
    data_dir: Path
    out: Path
    arch: str = "vgg16"
    weights: str | None = None  # "imagenet", "none" or a file; None: imagenet for vgg16, none for cnn
    img_size: int = 224
    epochs: int = 20
    batch_size: int = 32
    fine_tune_layers: int = 3
    pooling: str = "flatten"  # cnn only: "flatten" or "gap"
    val_split: float = 0.2
    seed: int = 42
    crop: bool = False
    crop_margin: int = 0
    patience: int = 5
    learning_rate: float | None = None
    augment: bool = True
    near_threshold: int = DEFAULT_NEAR_THRESHOLD
    progress: bool = True

    def resolved_weights(self) -> str:
        if self.weights is not None:
            return self.weights
        return "imagenet" if self.arch == "vgg16" else "none"

    def resolved_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[self.arch]


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)


def set_seeds(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_for_config(config: TrainConfig, num_classes: int) -> tuple[Any, dict[str, Any]]:
    """The Keras model for ``config`` and a description of where its initial weights came from."""
    from training.models import build_cnn, build_vgg16

    weights = config.resolved_weights()
    source: dict[str, Any] = {"weights": weights}
    if config.arch == "vgg16":
        if weights == "imagenet":
            try:
                model = build_vgg16(
                    num_classes, config.img_size, weights="imagenet", fine_tune_layers=config.fine_tune_layers
                )
            except Exception as exc:  # Keras raises several kinds for a failed download
                raise RuntimeError(
                    "could not load ImageNet VGG16 weights (they are downloaded on first use; no internet?). "
                    "Use --weights none, or --weights FILE with a Keras weights file or a VGG16 ONNX model."
                ) from exc
            return model, source
        model = build_vgg16(num_classes, config.img_size, weights=None, fine_tune_layers=config.fine_tune_layers)
    elif config.arch == "cnn":
        if weights == "imagenet":
            raise ValueError("ImageNet weights exist only for --arch vgg16; use --weights none for cnn")
        model = build_cnn(num_classes, config.img_size, pooling=config.pooling)
    else:
        raise ValueError(f"unknown architecture {config.arch!r}: use vgg16 or cnn")
    if weights != "none":
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        if path.suffix.lower() == ".onnx":
            from training.onnx_weights import load_onnx_weights

            report = load_onnx_weights(model, path)
            source["onnx_import"] = {k: v for k, v in vars(report).items()}
        else:
            model.load_weights(path)
        source["file"] = str(path)
    return model, source


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, leave=False)


def load_data(config: TrainConfig, layout: Layout) -> dict[str, Samples]:
    """Loads and splits the data, unaudited: {"train", "validation"[, "test"]}."""

    def load(root: Path, desc: str) -> Samples:
        from training.data import list_files

        bar = _progress_bar(len(list_files(root, layout.class_names)), desc, config.progress)
        samples = load_samples(
            root, layout.class_names, config.img_size, crop=config.crop, crop_margin=config.crop_margin,
            relative_to=config.data_dir,
            progress=lambda done, total: bar.update(1),
        )
        bar.close()
        return samples

    pool = load(layout.train_root, "loading training scans")
    if len(pool) == 0:
        raise ValueError(f"no loadable scans under {layout.train_root}")
    train_idx, val_idx = stratified_split(pool.labels, config.val_split, config.seed)
    splits = {"train": pool.subset(train_idx), "validation": pool.subset(val_idx)}
    splits["train"].failures = pool.failures
    if layout.test_root is not None:
        splits["test"] = load(layout.test_root, "loading test scans")
    return splits


class EpochLog(keras.callbacks.Callback):
    """Keeps per-epoch logs even when fit is interrupted, and draws a tqdm bar per epoch."""

    def __init__(self, progress: bool = True):
        super().__init__()
        self.progress = progress
        self.history: dict[str, list[float]] = {}
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm

        desc = f"epoch {epoch + 1}/{self.params.get('epochs')}"
        self.bar = tqdm(total=self.params.get("steps"), desc=desc, unit="batch", disable=not self.progress)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(_shown(logs, ("loss", "accuracy")), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.bar is not None:
            self.bar.set_postfix(_shown(logs, ("loss", "accuracy", "val_loss", "val_accuracy")))
            self.bar.close()


def _shown(logs, keys) -> dict[str, str]:
    return {k: f"{float(v):.3f}" for k, v in (logs or {}).items() if k in keys}


def fit(model, splits: dict[str, Samples], config: TrainConfig, checkpoint: Path,
        callbacks: Sequence[Any] = ()) -> tuple[dict[str, list[float]], bool]:
    """Compiles and trains ``model``; returns (history, interrupted). The best epoch (lowest
    validation loss, or training loss without validation) is saved to ``checkpoint``."""
    from training.augment import AugmentConfig, build_augmenter, make_dataset

    train, val = splits["train"], splits["validation"]
    aug_config = AugmentConfig() if config.augment else AugmentConfig.none()
    augmenter = build_augmenter(aug_config, seed=config.seed)
    train_ds = make_dataset(train.images, train.labels, config.batch_size, training=True,
                            augmenter=augmenter, seed=config.seed)
    val_ds = make_dataset(val.images, val.labels, config.batch_size, training=False) if len(val) else None
    monitor = "val_loss" if val_ds is not None else "loss"
    model.compile(
        optimizer=keras.optimizers.Adam(config.resolved_learning_rate()),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    log = EpochLog(config.progress)
    all_callbacks = [
        keras.callbacks.ModelCheckpoint(checkpoint, monitor=monitor, save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True),
        log,
        *callbacks,
    ]
    interrupted = False
    try:
        model.fit(
            train_ds, validation_data=val_ds, epochs=config.epochs, verbose=0, callbacks=all_callbacks,
            shuffle=False,  # the tf.data pipeline shuffles (seeded)
            class_weight=class_weights(train.labels, model.output_shape[-1]),
        )
    except KeyboardInterrupt:
        interrupted = True
        if log.bar is not None:
            log.bar.close()
    return log.history, interrupted


def best_epoch(history: dict[str, list[float]]) -> int | None:
    key = "val_loss" if history.get("val_loss") else "loss"
    values = history.get(key)
    return int(np.argmin(values)) + 1 if values else None


def run_training(config: TrainConfig, callbacks: Sequence[Any] = ()) -> RunResult:
    """Runs one training and writes the run folder ``config.out``."""

    from training import evaluate

    set_seeds(config.seed)
    run_dir = Path(config.out)
    if (run_dir / "model.keras").exists():
        raise ValueError(f"{run_dir} already holds a training run; choose another --out")
    layout = find_layout(config.data_dir)
    # The model first: a bad --weights fails before minutes of loading.
    model, weights_source = build_for_config(config, len(layout.class_names))
    run_dir.mkdir(parents=True, exist_ok=True)
    raw_splits = load_data(config, layout)
    splits, leakage = audit(raw_splits, config.near_threshold)
    (run_dir / "leakage.json").write_text(json.dumps(leakage.to_dict(), indent=2))
    evaluate.save_fingerprints(run_dir / "fingerprints.npz", {k: splits[k] for k in ("train", "validation")})

    checkpoint = run_dir / "model.keras"
    history, interrupted = fit(model, splits, config, checkpoint, callbacks)
    if checkpoint.exists():
        model = keras.models.load_model(checkpoint)
    else:  # interrupted before the first epoch ended
        model.save(checkpoint)
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))

    description = {
        "data_dir": str(Path(config.data_dir).resolve()),
        "layout": layout.kind,
        "counts": {name: s.counts(layout.class_names) for name, s in splits.items()},
        "counts_before_leakage_removal": {name: s.counts(layout.class_names) for name, s in raw_splits.items()},
        "unreadable_files": [{"path": p, "reason": r} for s in raw_splits.values() for p, r in s.failures],
    }
    run_config = {
        "arch": config.arch,
        "img_size": config.img_size,
        "class_names": list(layout.class_names),
        "crop": config.crop,
        "crop_margin": config.crop_margin,
        "input": {"value_range": [0.0, 1.0], "color": "rgb", "resize": "bicubic",
                  "preprocessing": "app.core.model.preprocess.to_model_input"},
        "gradcam_layer": "block5_conv3" if config.arch == "vgg16" else "last_conv",
        "data": description,
        "training": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()
               if k not in ("data_dir", "out", "progress")},
            "weights": config.resolved_weights(),
            "learning_rate": config.resolved_learning_rate(),
            "weights_source": weights_source,
            "augment_settings": _augment_dict(config.augment),
            "class_weights": {layout.class_names[k]: v for k, v in
                              class_weights(splits["train"].labels, len(layout.class_names)).items()},
        },
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    (run_dir / "config.json").write_text(json.dumps(run_config, indent=2))

    metrics = evaluate.evaluate_training_run(model, splits, layout.class_names, run_dir, config.batch_size)
    metrics.update({
        "interrupted": interrupted,
        "epochs_run": len(history.get("loss", [])),
        "best_epoch": best_epoch(history),
        "leakage_removed": {k: len(v) for k, v in leakage.removed.items()},
    })
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    from training.plots import plot_history

    if history:
        plot_history(history, run_dir / "plots" / "history.png", best_epoch(history))
    return RunResult(run_dir, metrics, interrupted)


def _augment_dict(enabled: bool) -> dict[str, Any]:
    from training.augment import AugmentConfig

    return (AugmentConfig() if enabled else AugmentConfig.none()).to_dict()
