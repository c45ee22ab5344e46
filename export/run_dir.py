"""Export a training run folder (or a bare .keras file) with a card filled from the run's records.

A run folder (training/train.py) holds ``model.keras``, ``config.json`` (arch, img_size,
class_names, crop, input, gradcam_layer, data description, training settings) and
``metrics.json`` (headline metrics of the test or validation split, fitted temperature).
A bare ``.keras`` file uses a ``config.json``/``metrics.json`` beside it when there is one.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.core.model.card import InputSpec, ModelCard
from export import card as card_info
from export import pipeline

CARD_METRIC_KEYS = ("evaluated_on", "n", "accuracy", "macro_f1", "macro_auc", "auc", "per_class",
                    "confusion_matrix", "confidence", "ece", "ece_after_temperature",
                    "temperature", "temperature_fitted_on", "leakage_removed", "interrupted",
                    "epochs_run", "best_epoch")


class RunFolderError(ValueError):
    """The path is neither a training run folder nor a .keras model."""


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def locate(source: Path) -> tuple[Path, dict, dict]:
    """(model file, config.json contents, metrics.json contents) for a run folder or model file."""
    source = Path(source)
    if source.is_dir():
        model_path = source / "model.keras"
        if not model_path.exists():
            candidates = sorted(source.glob("*.keras"))
            if len(candidates) != 1:
                raise RunFolderError(f"{source} has no model.keras (found {[p.name for p in candidates]})")
            model_path = candidates[0]
        folder = source
    elif source.suffix == ".keras" and source.exists():
        model_path, folder = source, source.parent
    else:
        raise RunFolderError(f"{source} is not a training run folder or a .keras model file")
    return model_path, _read_json(folder / "config.json"), _read_json(folder / "metrics.json")


def run_card(model, model_path: Path, config: dict, metrics: dict) -> ModelCard:
    height, width = pipeline.input_size(model)
    num_classes = int(model.outputs[0].shape[-1])
    names = tuple(config.get("class_names") or (f"class_{i}" for i in range(num_classes)))
    if len(names) != num_classes:
        raise RunFolderError(f"config.json names {len(names)} classes, the model outputs {num_classes}")
    spec = config.get("input", {})
    training = config.get("training", {})
    data = config.get("data", {})
    temperature = float(metrics.get("temperature") or 1.0)
    described = {k: data[k] for k in ("layout", "counts", "counts_before_leakage_removal") if k in data}
    return ModelCard(
        name=f"BrainLens {config.get('arch', model.name)} ({model_path.parent.name})",
        version=str(config.get("created", card_info.utc_now())),
        class_names=names,
        input=InputSpec(
            height=height, width=width, channels=3, color=spec.get("color", "rgb"),
            value_range=tuple(spec.get("value_range", (0.0, 1.0))), resize=spec.get("resize", "bicubic"),
        ),
        gradcam_layer="",
        gradcam_shape=(0, 0),
        display_names=card_info.display_names(names),
        no_tumour_class=card_info.no_tumour_class(names),
        crop=bool(config.get("crop", False)),
        temperature=temperature if temperature > 0 else 1.0,
        architecture=str(config.get("arch", model.name)),
        metrics={k: metrics[k] for k in CARD_METRIC_KEYS if k in metrics},
        training_data=(
            f"Trained on {data.get('data_dir', 'a local folder')} ({data.get('layout', 'class folders')}); "
            f"{json.dumps(described)}" if data else "unknown (no config.json beside the model)"
        ),
        source_weights={
            "name": model_path.name,
            "sha256": card_info.sha256_file(model_path),
            "initial_weights": training.get("weights"),
            "weights_source": training.get("weights_source"),
            "licence": "as the training data and initial weights allow",
        },
    )


def export_run(source: Path, out: Path, *, gradcam_layer: str | None = None, log=print):
    import keras

    import training.models  # noqa: F401 - registers BrainLens' custom layers for load_model

    model_path, config, metrics = locate(source)
    model = keras.models.load_model(model_path, compile=False)
    card = run_card(model, model_path, config, metrics)
    layer = gradcam_layer or config.get("gradcam_layer")
    return pipeline.export_keras(model, out, card, gradcam_layer=layer, log=log)
