"""The classifier: a BrainLens ONNX model, its card, and one Prediction per image.

Everything the app needs to run a model comes from the model file: the card (JSON in the ONNX
metadata, see ``app.core.model.card``) says the input size, colour, value range, crop, class names,
temperature and thresholds. Work is split so the batch pipeline can overlap it:

    prepare(display)  -- CPU, any thread: crop, resize, scale, cheap image signals
    run(prepared)     -- one batched ``session.run``, then temperature, P(tumour), flags
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.model import modality, ood, verdict
from app.core.scans.crop import brain_bbox
from app.core.errors import ModelLoadError
from app.core.model.card import (
    CARD_METADATA_KEY,
    INPUT_NAME,
    OUTPUT_NAMES,
    ModelCard,
    ModelCardError,
)
from app.core.model.preprocess import to_model_input
from app.core.model.providers import CPU, cache_dir, choose_providers, device_words, physical_cores, with_options

DEFAULT_MODEL_NAME = "brainlens-vgg16.onnx"
LOW_CONFIDENCE = verdict.LOW_CONFIDENCE
OUT_OF_DISTRIBUTION = verdict.OUT_OF_DISTRIBUTION
NOT_ASSESSED = verdict.NOT_ASSESSED


def resources_dir() -> Path:
    """The resources/ folder: inside the PyInstaller bundle when frozen, else the repository's."""
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[3] / "resources"


def default_model_path() -> Path:
    """resources/models/brainlens-vgg16.onnx (see ``resources_dir``)."""
    return resources_dir() / "models" / DEFAULT_MODEL_NAME


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class PreparedInput:
    """One image ready for the model (made by ``Classifier.prepare``, safe on any thread)."""

    tensor: np.ndarray  # float32 H x W x C
    source_shape: tuple[int, int]  # (rows, columns) of the display image
    crop_box: tuple[int, int, int, int] | None  # (top, bottom, left, right) or None
    signals: ood.ImageSignals | None
    modality_reason: str | None = None  # the DICOM header says it is not an MRI (``modality``)


@dataclass(eq=False)
class Prediction:
    class_names: tuple[str, ...]
    probabilities: np.ndarray  # [C], softmax(logits / temperature)
    logits: np.ndarray  # [C]
    predicted_index: int
    predicted_class: str
    confidence: float  # probability of the predicted class
    p_tumour: float | None  # 1 - P(no tumour class); None when the card has no such class
    cams: np.ndarray = field(repr=False)  # [C, h, w] raw Grad-CAM of every class
    embedding: np.ndarray = field(repr=False)  # [K]
    flags: tuple[str, ...] = ()
    assessed: bool = True  # False when the input does not look like an axial brain MRI slice
    ood_reasons: tuple[str, ...] = ()
    ood_distance: float | None = None
    source_shape: tuple[int, int] | None = None
    crop_box: tuple[int, int, int, int] | None = None  # where the model's input came from

    @property
    def label(self) -> str:
        """The class name, or "not assessed" when the out-of-distribution guard fired."""
        return verdict.reported_label(self)

    def flags_at(self, threshold: float | None = None) -> tuple[str, ...]:
        """The flags under the user's low-confidence ``threshold`` (None: the card's); see ``verdict``."""
        return verdict.flags_at(self, threshold)

    def probability(self, class_name: str) -> float:
        return float(self.probabilities[self.class_names.index(class_name)])

    def heatmap(self, class_index: int | None = None) -> np.ndarray:
        """The [0, 1] Grad-CAM of ``class_index`` (default: the predicted class) at the scan's size."""
        from app.core.model.gradcam import class_heatmap

        index = self.predicted_index if class_index is None else class_index
        shape = self.source_shape or tuple(self.cams.shape[1:])
        return class_heatmap(self.cams, index, shape, self.crop_box)


class Classifier:
    """A loaded BrainLens model. ``device``: "auto" (GPU when usable), "cpu" or "gpu"."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "auto",
        *,
        threads: int | None = None,
    ) -> None:
        self.path = Path(model_path) if model_path is not None else default_model_path()
        data = _read_model_bytes(self.path)
        self.model_sha256 = hashlib.sha256(data).hexdigest()
        choice = choose_providers(device)
        self.requested_providers = choice.providers
        self.device_note: str | None = choice.note
        self._session = _create_session(data, choice.providers, threads or physical_cores(), self.path)
        self.card = _read_card(self._session, self.path)
        _check_io(self._session, self.card, self.path)
        self.providers: list[str] = list(self._session.get_providers())
        self.device = device_words(self.providers[0])
        if device != "cpu" and choice.providers[0] != CPU and self.providers[0] == CPU:
            self.device_note = "The GPU could not be used; running on the CPU."

    def __repr__(self) -> str:
        return f"Classifier({self.path.name!r}, device={self.device!r})"

    # -- preparation (CPU, thread-safe) -------------------------------------------------------
    def prepare(self, display: np.ndarray, *, crop: bool | None = None, plane: str | None = None,
                modality_code: str | None = None) -> PreparedInput:
        """Crop (when the card or ``crop`` says so), resize and scale one uint8 display image.
        ``plane`` is the scan's DICOM image plane (a coronal or sagittal one is not assessed),
        ``modality_code`` its DICOM Modality (a CT is not assessed, and says so)."""
        spec = self.card.input
        display = np.asarray(display)
        do_crop = self.card.crop if crop is None else crop
        head_box = brain_bbox(display)
        box = None
        image = display
        if do_crop and head_box is not None:
            box = _grow(head_box, self.card.crop_margin, display.shape[:2])
            top, bottom, left, right = box
            image = display[top:bottom, left:right]
        # Resized once as uint8 in its own colour mode (a grey scan is not made RGB first): 3x less
        # work, bit-identical to to_model_input's own resize (Pillow filters each channel alike).
        small = _resize_uint8(image, spec.height, spec.width)
        tensor = to_model_input(small, spec.height, spec.width, spec.value_range, spec.color)
        if spec.color == "grey" and spec.channels == 3:
            tensor = np.repeat(tensor, 3, axis=2)
        return PreparedInput(
            tensor=tensor,
            source_shape=(int(display.shape[0]), int(display.shape[1])),
            crop_box=box,
            # a plane the model was trained on is no reason for "not assessed"
            signals=ood.measure(display, head_box, plane=None if plane in self.card.training_planes else plane),
            modality_reason=modality.modality_reason(modality_code),
        )

    # -- inference ----------------------------------------------------------------------------
    def run(self, prepared: Sequence[PreparedInput]) -> list[Prediction]:
        """One batched model run over prepared inputs."""
        if not prepared:
            return []
        batch = np.stack([p.tensor for p in prepared]).astype(np.float32, copy=False)
        outputs = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        named = dict(zip(OUTPUT_NAMES, outputs))
        return [
            self._prediction(named["logits"][i], named["gradcam"][i], named["embedding"][i], p)
            for i, p in enumerate(prepared)
        ]

    def predict(
        self, images: Sequence[np.ndarray], *, crop: bool | None = None, batch_size: int = 8
    ) -> list[Prediction]:
        """Predictions for uint8 display images (grey HxW or RGB HxWx3)."""
        return self._in_batches(images, lambda image: self.prepare(image, crop=crop), batch_size)

    def classify(self, scans: Sequence, *, crop: bool | None = None, batch_size: int = 8) -> list[Prediction]:
        """Predictions for loaded ``app.core.scans.scan.Scan`` objects (display image, image plane, modality)."""
        return self._in_batches(scans, lambda s: self.prepare(s.display, crop=crop, plane=scan_plane(s),
                                                               modality_code=scan_modality(s)), batch_size)

    def _in_batches(self, inputs: Sequence, prepare, batch_size: int) -> list[Prediction]:
        size = max(1, batch_size)
        results: list[Prediction] = []
        for start in range(0, len(inputs), size):
            results.extend(self.run([prepare(x) for x in inputs[start : start + size]]))
        return results

    def _prediction(
        self, logits: np.ndarray, cams: np.ndarray, embedding: np.ndarray, prepared: PreparedInput
    ) -> Prediction:
        card = self.card
        probabilities = softmax(logits, card.temperature)
        index = int(np.argmax(probabilities))
        confidence = float(probabilities[index])
        p_tumour = None
        if card.no_tumour_class is not None:
            p_tumour = float(1.0 - probabilities[card.class_names.index(card.no_tumour_class)])
        reasons, distance = ood.assess(prepared.signals, embedding, card.ood_reference)
        if not np.all(np.isfinite(logits)) and ood.INVALID_OUTPUT not in reasons:  # damaged weights
            reasons = (*reasons, ood.INVALID_OUTPUT)
        reasons = modality.with_modality(reasons, prepared.modality_reason)
        flags = []
        if confidence < card.low_confidence_threshold:
            flags.append(LOW_CONFIDENCE)
        if reasons:
            flags.append(OUT_OF_DISTRIBUTION)
        return Prediction(
            class_names=card.class_names,
            probabilities=probabilities,
            logits=np.asarray(logits, dtype=np.float32).copy(),
            predicted_index=index,
            predicted_class=card.class_names[index],
            confidence=confidence,
            p_tumour=p_tumour,
            cams=np.asarray(cams, dtype=np.float32).copy(),
            embedding=np.asarray(embedding, dtype=np.float32).copy(),
            flags=tuple(flags),
            assessed=not reasons,
            ood_reasons=reasons,
            ood_distance=distance,
            source_shape=prepared.source_shape,
            crop_box=prepared.crop_box,
        )


def scan_plane(scan) -> str | None:
    """The image plane a scan's DICOM header gives (None for plain images)."""
    return getattr(getattr(scan, "metadata", None), "image_plane", None)


def scan_modality(scan) -> str | None:
    """The DICOM Modality of a scan ("MR", "CT"; None for plain images)."""
    return getattr(getattr(scan, "metadata", None), "modality", None)


def _resize_uint8(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 grey/RGB(A) → (height, width) with Pillow's bicubic filter, as to_model_input does."""
    from PIL import Image

    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(resized)


def _grow(box, margin: int, shape) -> tuple[int, int, int, int]:
    top, bottom, left, right = box
    m = max(0, int(margin))
    return max(0, top - m), min(int(shape[0]), bottom + m), max(0, left - m), min(int(shape[1]), right + m)


def _read_model_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ModelLoadError(
            f"The model file was not found: {path}. Build it with `make model` or choose another model."
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"The model file {path.name} could not be read: {exc.strerror}.") from exc
    if len(data) < 16:
        raise ModelLoadError(f"The model file {path.name} is empty or truncated.")
    return data


def _create_session(data: bytes, providers: list[str], threads: int, path: Path):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # warnings such as node placement are not for users
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(1, int(threads))
    options.log_severity_level = 3
    try:
        if "TensorrtExecutionProvider" in providers:
            (cache_dir() / "tensorrt").mkdir(parents=True, exist_ok=True)
        return ort.InferenceSession(data, options, providers=with_options(providers))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        if providers != [CPU]:
            try:  # a GPU that failed at session creation (e.g. out of memory): run on the CPU
                return ort.InferenceSession(data, options, providers=[CPU])
            except Exception:  # noqa: BLE001
                pass
        if "IR version" in str(exc):
            raise ModelLoadError(
                f"The model file {path.name} was made with a newer ONNX format than this BrainLens can run; "
                "update BrainLens or export the model for an older ONNX version."
            ) from exc
        raise ModelLoadError(
            f"The model file {path.name} is not a valid ONNX model (it may be corrupted or truncated)."
        ) from exc


def _read_card(session, path: Path) -> ModelCard:
    metadata = session.get_modelmeta().custom_metadata_map or {}
    text = metadata.get(CARD_METADATA_KEY)
    if text is None:
        raise ModelLoadError(
            f"{path.name} is an ONNX model but not a BrainLens model: it has no model card."
        )
    try:
        return ModelCard.from_json(text)
    except ModelCardError as exc:
        raise ModelLoadError(f"The model card of {path.name} cannot be used: {exc}.") from exc


def _check_io(session, card: ModelCard, path: Path) -> None:
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        names = [i.name for i in inputs]
        raise ModelLoadError(
            f"{path.name} does not take a single input named '{INPUT_NAME}' (it takes {names})."
        )
    if inputs[0].type != "tensor(float)":
        raise ModelLoadError(f"{path.name} expects {inputs[0].type} input; BrainLens needs float32.")
    shape = list(inputs[0].shape)
    expected = [card.input.height, card.input.width, card.input.channels]
    if len(shape) != 4 or any(isinstance(d, int) and d != e for d, e in zip(shape[1:], expected)):
        raise ModelLoadError(
            f"{path.name} has input shape {shape}, but its card promises [N, {expected[0]}, "
            f"{expected[1]}, {expected[2]}]."
        )
    outputs = {o.name for o in session.get_outputs()}
    missing = [name for name in OUTPUT_NAMES if name not in outputs]
    if missing:
        raise ModelLoadError(f"{path.name} lacks the output(s) BrainLens needs: {', '.join(missing)}.")
