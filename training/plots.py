"""Evaluation and training-history figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training import metrics

DPI = 110


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_history(history: dict[str, list[float]], path: Path, best_epoch: int | None = None) -> Path:
    """Loss and accuracy per epoch, training vs validation; the kept (best) epoch marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + key)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept (epoch {best_epoch})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        if key == "accuracy":
            ax.set_ylim(0, 1.02)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> Path:
    """Counts and row-normalised rates (recall on the diagonal)."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.3 * n + 2.5, 1.1 * n + 2))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            colour = "white" if rates[i, j] > 0.6 else "black"
            ax.text(j, i, f"{matrix[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(n), class_names, rotation=30, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    return _save(fig, path)


def plot_roc(y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> Path:
    curves = metrics.one_vs_rest_roc(y_true, probabilities, class_names)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, curve in curves.items():
        auc = "n/a" if np.isnan(curve["auc"]) else f"{curve['auc']:.3f}"
        ax.plot(curve["fpr"], curve["tpr"], drawstyle="default", label=f"{name} (AUC {auc})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_reliability(
    y_true: np.ndarray, logits: np.ndarray, temperature: float, path: Path, title: str, n_bins: int = 15
) -> Path:
    """Reliability diagram (accuracy per confidence bin as bars, Guo et al. 2017) before and after
    temperature scaling, with the number of images per bin underneath: a bar of one or two
    images says little, the histogram shows which bars carry weight."""
    fig, axes = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    width = 1.0 / n_bins
    runs = ((1.0, "tab:blue", "T = 1"), (temperature, "tab:orange", f"T = {temperature:.2f}"))
    for k, (t, colour, label) in enumerate(runs):
        bins = metrics.reliability_bins(y_true, metrics.softmax(logits, t), n_bins)
        left = bins["edges"][:-1] + k * width / 2
        used = bins["counts"] > 0
        axes[0].bar(left[used], bins["accuracy"][used], width=width / 2, align="edge", color=colour, alpha=0.8,
                    edgecolor="black", linewidth=0.4, label=f"{label}: ECE {bins['ece']:.3f}")
        axes[1].bar(left, bins["counts"], width=width / 2, align="edge", color=colour, alpha=0.8)
    axes[0].plot([0, 1], [0, 1], color="black", linestyle=":", zorder=3, label="perfect calibration")
    axes[0].set_ylabel("accuracy in bin")
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title(title)
    axes[0].grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    axes[1].set_xlim(0, 1)
    axes[1].set_xlabel("confidence (max probability)")
    axes[1].set_ylabel("images")
    return _save(fig, path)


def plot_confidence(y_true: np.ndarray, probabilities: np.ndarray, path: Path, title: str) -> Path:
    """The seeds' confidence analysis: histograms of confidence for right and wrong answers."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true, int)
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 21)
    ax.hist(confidence[correct], bins=bins, alpha=0.7, label=f"right ({int(correct.sum())})", color="tab:green")
    ax.hist(confidence[~correct], bins=bins, alpha=0.7, label=f"wrong ({int((~correct).sum())})", color="tab:red")
    ax.axvline(0.9, color="grey", linestyle="--", linewidth=1, label="90%")
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def plot_evaluation(
    y_true: np.ndarray, logits: np.ndarray, class_names: Sequence[str], temperature: float, folder: Path, split: str
) -> list[Path]:
    """All per-split figures into ``folder`` (names prefixed with the split)."""
    probs = metrics.softmax(logits)
    matrix = metrics.confusion_matrix(y_true, probs.argmax(axis=1), len(class_names))
    n = len(y_true)
    return [
        plot_confusion(matrix, class_names, folder / f"{split}_confusion.png", f"Confusion matrix — {split} (n={n})"),
        plot_roc(y_true, probs, class_names, folder / f"{split}_roc.png", f"One-vs-rest ROC — {split}"),
        plot_reliability(y_true, logits, temperature, folder / f"{split}_reliability.png", f"Reliability — {split}"),
        plot_confidence(y_true, probs, folder / f"{split}_confidence.png", f"Confidence — {split}"),
    ]
