"""What a prediction tells its reader, decided once for the GUI, the CLI, CSV/JSON, the PDFs and the audit log.

- ``flags_at(prediction, threshold)``: the flags under the user's low-confidence threshold (None: the
  model card's, which ``Classifier`` already applied). A scan that is not assessed has no confidence to
  be low, so it never carries "low_confidence".
- ``reported_class`` / ``reported_confidence`` / ``reported_p_tumour`` / ``reported_probabilities``:
  the figures a reader may see; all None for a scan that is not assessed (a cat photo must not show
  "P(tumour) 99.99 %"). The model's raw output stays on the ``Prediction`` for who asks by name.
- ``top_slice(predictions)``: the slice with the highest P(tumour) among *assessed* slices (ties: the
  first), the one rule behind the viewer's "Jump to slice", the batch's series summary and the series PDF.
- ``is_calibrated(card)``: whether the card says its probabilities were calibrated (a fitted temperature).
- ``class_display_names(card)``: words for every class, so human output never shows a raw "notumor".

Duck-typed on ``Prediction`` (``app.core.model.inference``) so reports and tests may pass look-alikes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LOW_CONFIDENCE = "low_confidence"
OUT_OF_DISTRIBUTION = "out_of_distribution"
NOT_ASSESSED = "not assessed"
NOT_ASSESSED_TITLE = "Not assessed"  # the same words at the start of a line or a table cell


def is_assessed(prediction: Any) -> bool:
    return bool(getattr(prediction, "assessed", True))


def flags_at(prediction: Any, threshold: float | None = None) -> tuple[str, ...]:
    """The prediction's flags with "low_confidence" decided by ``threshold`` (None: the card's)."""
    flags = tuple(getattr(prediction, "flags", ()) or ())
    others = tuple(f for f in flags if f != LOW_CONFIDENCE)
    if not is_assessed(prediction):
        return others
    if threshold is None:
        return flags
    low = float(prediction.confidence) < float(threshold)
    return ((LOW_CONFIDENCE,) if low else ()) + others


def reported_class(prediction: Any) -> str | None:
    """The class a reader may see, None when the scan is not assessed."""
    return prediction.predicted_class if is_assessed(prediction) else None


def reported_label(prediction: Any) -> str:
    """The class name, or "not assessed"."""
    return prediction.predicted_class if is_assessed(prediction) else NOT_ASSESSED


def reported_confidence(prediction: Any) -> float | None:
    return float(prediction.confidence) if is_assessed(prediction) else None


def reported_p_tumour(prediction: Any) -> float | None:
    value = getattr(prediction, "p_tumour", None)
    return None if value is None or not is_assessed(prediction) else float(value)


def reported_probabilities(prediction: Any) -> dict[str, float] | None:
    if not is_assessed(prediction):
        return None
    return {name: float(p) for name, p in zip(prediction.class_names, prediction.probabilities)}


def tumour_score(prediction: Any) -> float:
    """P(tumour), or the confidence when the model has no "no tumour" class."""
    value = getattr(prediction, "p_tumour", None)
    return float(value if value is not None else prediction.confidence)


def top_slice(predictions: Mapping[int, Any] | Sequence[Any | None]) -> tuple[int, float] | None:
    """(index, score) of the assessed slice with the highest P(tumour) (ties: the lowest index);
    None when no slice is assessed. ``predictions``: {index: Prediction} or a list (None = no result)."""
    pairs = predictions.items() if isinstance(predictions, Mapping) else enumerate(predictions)
    scored = [(int(i), tumour_score(p)) for i, p in pairs if p is not None and is_assessed(p)]
    if not scored:
        return None
    return max(scored, key=lambda pair: (pair[1], -pair[0]))


def class_display_names(card: Any) -> dict[str, str]:
    """Words for every class of a card, for people: the card's display names, else "No tumour" for its
    no-tumour class and "Glioma"-style capitals for the rest (a raw "notumor" never reaches a reader)."""
    given = dict(getattr(card, "display_names", None) or {})
    no_tumour = getattr(card, "no_tumour_class", None)
    names = {}
    for name in card.class_names:
        fallback = "No tumour" if name == no_tumour else name.replace("_", " ").capitalize()
        names[name] = given.get(name) or fallback
    return names


def is_calibrated(card: Any) -> bool:
    """True when the card records a temperature fitted on held-out data (``temperature_fitted_on``, as
    training/evaluate.py writes it), so that "90 %" is meant to be right about 90 % of the time."""
    metrics = getattr(card, "metrics", None) or {}
    return bool(metrics.get("temperature_fitted_on"))
