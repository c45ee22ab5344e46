"""``python -m training``: train, evaluate, finetune-default, phantoms (see training/README.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="BrainLens model training.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a folder of labelled scans")
    t.add_argument("data_dir", type=Path, help="one sub-folder per class, or Training/ + Testing/ (Kaggle)")
    t.add_argument("--out", type=Path, required=True, help="run folder to write (e.g. runs/NAME)")
    t.add_argument("--arch", choices=("vgg16", "cnn"), default="vgg16")
    t.add_argument("--weights", default=None,
                   help="imagenet | none | FILE (.weights.h5/.keras, or a tf2onnx VGG16 .onnx); "
                        "default: imagenet for vgg16, none for cnn")
    t.add_argument("--img-size", type=int, default=224)
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--fine-tune-layers", type=int, default=3, help="vgg16: last N conv layers trained")
    t.add_argument("--pooling", choices=("flatten", "gap"), default="flatten",
                   help="cnn: flatten (keeps position, default) or global average pooling")
    t.add_argument("--val-split", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--crop", action="store_true", help="crop each scan to the brain before resizing")
    t.add_argument("--crop-margin", type=int, default=0, help="pixels kept around the brain with --crop")
    t.add_argument("--patience", type=int, default=5, help="early-stopping patience (epochs)")
    t.add_argument("--learning-rate", type=float, default=None, help="Adam; default 1e-4 vgg16, 1e-3 cnn")
    t.add_argument("--no-augment", action="store_true", help="train without random augmentation")
    t.add_argument("--near-threshold", type=int, default=None,
                   help="perceptual-hash bits (of 256) under which two images count as near-duplicates")
    t.add_argument("--quiet", action="store_true", help="no progress bars")

    e = sub.add_parser("evaluate", help="evaluate a run's model on a test folder")
    e.add_argument("run_dir", type=Path)
    e.add_argument("test_dir", type=Path)
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--quiet", action="store_true")

    f = sub.add_parser("finetune-default", help="fine-tune the default model on ../shared/data/kaggle")
    f.add_argument("data_dir", type=Path, nargs="?", default=None, help="holds train/ and calibration/")
    f.add_argument("--out", type=Path, default=None, help="default: resources/finetune/brainlens-finetune.npz")
    f.add_argument("--copies", type=int, default=None, help="augmented copies of each training image")
    f.add_argument("--epochs", type=int, default=12)
    f.add_argument("--head-only", action="store_true", help="train the dense head only (block5_conv3 frozen)")

    p = sub.add_parser("phantoms", help="write a synthetic labelled phantom data set")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=0, help="> 0: Kaggle layout Training/ + Testing/")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--format", choices=("png", "jpg", "dcm"), default="png")
    p.add_argument("--seed", type=int, default=0)
    return parser


def _summary(m: dict) -> str:
    if not m.get("n"):
        return "no images to evaluate (no validation or test split)"
    lines = [f"evaluated on {m.get('evaluated_on', 'test')} (n={m['n']}): accuracy {m['accuracy']:.4f}, "
             f"macro AUC {m['macro_auc'] if m['macro_auc'] is None else round(m['macro_auc'], 4)}, "
             f"ECE {m['ece']:.4f} -> {m['ece_after_temperature']:.4f} at T={m['temperature']:.3f}"]
    for name, s in m["per_class"].items():
        lines.append(f"  {name:<12} precision {s['precision']:.3f} recall {s['recall']:.3f} "
                     f"f1 {s['f1']:.3f} (n={s['support']})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "phantoms":
        from training.phantoms import write_phantoms

        counts = write_phantoms(args.out_dir, args.per_class, size=args.size, seed=args.seed,
                                fmt=args.format, test_per_class=args.test_per_class)
        print(f"wrote {json.dumps(counts)} phantom images to {args.out_dir}")
        return 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.command == "finetune-default":
        from training import finetune, finetune_run

        copies = finetune.AUGMENTED_COPIES if args.copies is None else args.copies
        path = finetune_run.finetune_default(args.data_dir, args.out or finetune_run.DEFAULT_OUT, copies=copies,
                                             epochs=args.epochs, train_conv=not args.head_only)
        print(f"wrote {path}")
        return 0
    if args.command == "train":
        from training.leakage import DEFAULT_NEAR_THRESHOLD
        from training.train import TrainConfig, run_training

        config = TrainConfig(
            data_dir=args.data_dir, out=args.out, arch=args.arch, weights=args.weights, img_size=args.img_size,
            epochs=args.epochs, batch_size=args.batch_size, fine_tune_layers=args.fine_tune_layers,
            pooling=args.pooling, val_split=args.val_split, seed=args.seed, crop=args.crop,
            crop_margin=args.crop_margin, patience=args.patience, learning_rate=args.learning_rate,
            augment=not args.no_augment,
            near_threshold=DEFAULT_NEAR_THRESHOLD if args.near_threshold is None else args.near_threshold,
            progress=not args.quiet,
        )
        try:
            result = run_training(config)
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(_summary(result.metrics))
        print(f"run folder: {result.run_dir}")
        if result.interrupted:
            print("training was interrupted (Ctrl-C): the best checkpoint so far was kept", file=sys.stderr)
            return 130
        return 0

    from training.evaluate import evaluate_run

    try:
        report = evaluate_run(args.run_dir, args.test_dir, batch_size=args.batch_size, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_summary(report))
    print(f"written to {args.run_dir / 'evaluations' / args.test_dir.name}")
    return 0
