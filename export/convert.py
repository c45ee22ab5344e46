"""Keras model -> ONNX graph with the BrainLens contract (input ``image``; outputs probabilities,
logits, gradcam, embedding) and the model card in ``metadata_props``."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from app.core.model.card import CARD_METADATA_KEY, INPUT_NAME, OUTPUT_NAMES, ModelCard

OPSET = 17


def to_onnx(model, gradcam_layer: str) -> onnx.ModelProto:
    """Converts ``model`` with the hand-written Grad-CAM head (see gradcam_graph.py)."""
    import tensorflow as tf
    import tf2onnx

    from export.gradcam_graph import serving_function

    serve = serving_function(model, gradcam_layer)
    spec = serve.get_concrete_function().inputs[0].shape
    proto, _ = tf2onnx.convert.from_function(
        serve, input_signature=[tf.TensorSpec(spec, tf.float32, INPUT_NAME)], opset=OPSET
    )
    _check_names(proto)
    return proto


def _check_names(proto: onnx.ModelProto) -> None:
    """tf2onnx names a dict-returning function's outputs by key; put them in contract order."""
    graph = proto.graph
    found = sorted(out.name for out in graph.output)
    if found != sorted(OUTPUT_NAMES):
        raise RuntimeError(f"the exported outputs are {found}, expected {list(OUTPUT_NAMES)}")
    order = {name: i for i, name in enumerate(OUTPUT_NAMES)}
    outputs = sorted(graph.output, key=lambda o: order[o.name])
    del graph.output[:]
    graph.output.extend(outputs)
    if [i.name for i in graph.input] != [INPUT_NAME]:
        raise RuntimeError(f"the exported inputs are {[i.name for i in graph.input]}, not [{INPUT_NAME!r}]")


def set_card(proto: onnx.ModelProto, card: ModelCard) -> None:
    for prop in list(proto.metadata_props):
        if prop.key == CARD_METADATA_KEY:
            proto.metadata_props.remove(prop)
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.to_json()
    proto.producer_name = "brainlens-export"


def read_card(path: str | Path) -> ModelCard:
    proto = onnx.load(str(path), load_external_data=False)
    for prop in proto.metadata_props:
        if prop.key == CARD_METADATA_KEY:
            return ModelCard.from_json(prop.value)
    raise ValueError(f"{path} has no {CARD_METADATA_KEY!r} metadata")


def save(proto: onnx.ModelProto, card: ModelCard, out: str | Path) -> Path:
    """Writes the ONNX file (card embedded) and the sidecar ``<out-stem>.card.json``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    set_card(proto, card)
    # Write-then-rename, so an app reading the model never sees half a file.
    partial = out.with_name(out.name + ".partial")
    onnx.save(proto, str(partial))
    os.replace(partial, out)
    side = sidecar_path(out)
    partial_side = side.with_name(side.name + ".partial")
    partial_side.write_text(card.to_json() + "\n", encoding="utf-8")
    os.replace(partial_side, side)
    return out


def sidecar_path(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".card.json")
