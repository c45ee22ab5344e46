"""PDF reports a clinician can attach to a case: one scan, one series, or a batch.

    write_scan_report(path, scan, prediction, model_info=..., overlay_rgb=...)
    write_series_report(path, scans, predictions, model_info=...)
    (batch reports: app.core.reports.batch_pdf.write_batch_report)

Every number goes through ``app.core.reports.numbers`` so it matches the CSV digit for digit.
``anonymise=True`` removes patient identifiers (``ScanMetadata.anonymised()``) and replaces
file names by image hashes, since file names often carry patient names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, KeepTogether, SimpleDocTemplate, Spacer, Table, TableStyle

from app.core.model import gradcam
from app.core.reports.charts import colour_bar, probability_chart, slice_profile
from app.core.reports.layout import (
    AMBER_BG,
    CONTENT_WIDTH,
    MARGIN,
    PAGE,
    PANEL,
    RULE,
    WARN,
    WARN_BG,
    ModelInfo,
    NumberedCanvas,
    disclaimer_block,
    gradcam_explanation,
    image_flowable,
    model_block,
    page_decorator,
    para,
    patient_block,
    rich,
    source_name,
    utc_now,
)
from app.core.model import verdict
from app.core.model.modality import describe_reason
from app.core.reports.numbers import format_percent

__all__ = ["ModelInfo", "write_scan_report", "write_series_report", "flag_text", "ood_reason_text", "overlay_for",
           "key_slice_indices"]

FLAG_TEXT = {
    "low_confidence": "Low confidence: the top probability is below the model's threshold of {thr}. "
                      "Treat the result as uncertain.",
    "out_of_distribution": "Out of distribution: the image does not look like the axial brain MRI "
                           "slices the model was trained on, so no class is reported.",
}


def ood_reason_text(reason: str) -> str:
    return describe_reason(reason)


def flag_text(flag: str, model: ModelInfo) -> str:
    template = FLAG_TEXT.get(flag, flag.replace("_", " ").capitalize() + ".")
    return template.format(thr=f"{model.low_confidence_threshold * 100:g} %")


def _doc(path: Path, title: str, model: ModelInfo, generated) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        str(path), pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=20 * mm,
        bottomMargin=17 * mm, title=f"BrainLens — {title}", author="BrainLens",
        subject="Research use only — not for diagnostic use", creator=f"BrainLens ({model.name})",
    )


def _build(path: str | Path, title: str, story: list, model: ModelInfo, generated) -> Path:
    path = Path(path)
    decorate = page_decorator(title, generated, model)
    _doc(path, title, model, generated).build(story, onFirstPage=decorate, onLaterPages=decorate,
                                              canvasmaker=NumberedCanvas)
    return path


def _heatmap(prediction: Any, index: int, shape: tuple[int, int]) -> np.ndarray:
    if hasattr(prediction, "heatmap"):
        cam = prediction.heatmap(index)
        return cam if cam.shape == shape else gradcam.upsample_cam(cam, shape)
    return gradcam.class_heatmap(prediction.cams, index, shape)


def overlay_for(scan: Any, prediction: Any, *, class_index: int | None = None,
                opacity: float = 0.4, colormap: str = gradcam.DEFAULT_COLORMAP) -> np.ndarray:
    """The Grad-CAM overlay of ``class_index`` (default: predicted) on the scan's display image."""
    index = prediction.predicted_index if class_index is None else class_index
    cam = _heatmap(prediction, index, tuple(scan.display.shape[:2]))
    return gradcam.overlay(scan.display, cam, opacity=opacity, colormap=colormap)


def _result_panel(prediction: Any, model: ModelInfo, width: float) -> Table:
    assessed = bool(getattr(prediction, "assessed", True))
    if assessed:
        rows = [[para("Predicted class", "label")],
                [para(model.display_name(prediction.predicted_class), "big")],
                [rich(f"Confidence <b>{format_percent(prediction.confidence)}</b>", "value")]]
    else:
        rows = [[para("Result", "label")], [para(verdict.NOT_ASSESSED_TITLE, "big")],
                [para("No class, confidence or probability is reported for this image.", "small")]]
    p_tumour = getattr(prediction, "p_tumour", None)
    p_text = format_percent(p_tumour, "not applicable") if assessed else "not reported"
    rows.append([rich(f"P(tumour) <b>{p_text}</b>", "value")])
    flags = verdict.flags_at(prediction, model.user_threshold)
    for flag in flags:
        rows.append([para(flag_text(flag, model), "warn")])
    for reason in getattr(prediction, "ood_reasons", ()) or ():
        rows.append([para(f"· {ood_reason_text(reason)}", "small")])
    if not flags:
        rows.append([para("No flags raised.", "small")])
    table = Table(rows, colWidths=[width])
    background = WARN_BG if not assessed else (AMBER_BG if flags else PANEL)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), background),
        ("LINEBEFORE", (0, 0), (0, -1), 2.5, WARN if (flags or not assessed) else RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 7),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("TOPPADDING", (0, 0), (-1, 0), 5),
        ("BOTTOMPADDING", (0, -1), (-1, -1), 6),
    ]))
    return table


def _result_row(prediction: Any, model: ModelInfo) -> Table:
    left_w = 68 * mm
    right_w = CONTENT_WIDTH - left_w - 6 * mm
    labels = [model.display_name(c) for c in prediction.class_names]
    if verdict.is_assessed(prediction):
        chart = probability_chart(labels, list(prediction.probabilities), highlight=prediction.predicted_index,
                                  width=right_w)
        right = [para("Probability of each class", "label"), Spacer(1, 1.5 * mm), chart]
    else:  # the model's scores of an image it was not made for are not a result
        right = [para("Probability of each class", "label"), Spacer(1, 1.5 * mm),
                 para("Not reported: the image does not look like an axial brain MRI slice.", "small")]
    table = Table([[_result_panel(prediction, model, left_w), right]],
                  colWidths=[left_w + 6 * mm, right_w])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (0, 0), 6 * mm)]))
    return table


def _image_pair(scan: Any, overlay_rgb: np.ndarray, caption_right: str, *, colormap: str,
                width: float = CONTENT_WIDTH, max_height: float = 70 * mm) -> Table:
    half = (width - 6 * mm) / 2
    window = getattr(scan, "window", None)
    left_caption = "Scan as classified" + (
        f" (window centre {window[0]:g}, width {window[1]:g})" if window else "")
    ramp = gradcam.colorize(np.linspace(0, 1, 64, dtype=np.float32)[None, :], colormap)[0]
    legend = colour_bar(ramp, width=half * 0.8, caption_low="lower contribution",
                        caption_high="higher contribution")
    rows = [
        [image_flowable(scan.display, half, max_height=max_height),
         image_flowable(overlay_rgb, half, max_height=max_height)],
        [para(left_caption, "caption_c"), para(caption_right, "caption_c")],
        ["", legend],
    ]
    table = Table(rows, colWidths=[half + 6 * mm, half])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (0, -1), 6 * mm),
                               ("TOPPADDING", (0, 1), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _heading(text: str) -> Any:
    return para(text, "h2")


def write_scan_report(path: str | Path, scan: Any, prediction: Any, *, model_info: ModelInfo,
                      overlay_rgb: np.ndarray | None = None, anonymise: bool = False,
                      colormap: str = gradcam.DEFAULT_COLORMAP) -> Path:
    """The one-scan report. ``overlay_rgb`` is the overlay the user saw (computed when None)."""
    generated = utc_now()
    if overlay_rgb is None:
        overlay_rgb = overlay_for(scan, prediction, colormap=colormap)
    cam_class = model_info.display_name(prediction.predicted_class)
    caption = f"Grad-CAM for “{cam_class}”: regions that raised this class's score"
    if not getattr(prediction, "assessed", True):
        caption = "Grad-CAM of the model's highest score, shown for review only (not a result)"
    story: list = [
        para("Single-scan classification report", "title"),
        para(source_name(scan, anonymise) + (" · anonymised: patient identifiers removed" if anonymise else ""),
             "subtitle"),
        _heading("Patient and study"), patient_block(scan, anonymise=anonymise),
        _heading("Result"), _result_row(prediction, model_info),
        _heading("Scan and Grad-CAM heatmap"),
        _image_pair(scan, overlay_rgb, caption, colormap=colormap),
        Spacer(1, 2 * mm), gradcam_explanation(model_info),
        KeepTogether([
            _heading("Model and run"),
            model_block(model_info, generated, [("Image SHA-256", getattr(scan, "file_sha256", "") or "—")]),
            Spacer(1, 3 * mm), disclaimer_block(model_info)]),
    ]
    return _build(path, "Single-scan report", story, model_info, generated)


def _file_name(scan: Any, anonymise: bool) -> str:
    if anonymise:
        return source_name(scan, anonymise)
    return Path(getattr(scan, "source", "")).name


def key_slice_indices(predictions: Sequence[Any], k: int = 3) -> list[int]:
    """The ``k`` slices with the highest P(tumour) (or confidence when the model has none), in order."""
    def score(i: int) -> float:
        return verdict.tumour_score(predictions[i])

    assessed = [i for i, p in enumerate(predictions) if getattr(p, "assessed", True)]
    pool = assessed or list(range(len(predictions)))
    return sorted(sorted(pool, key=score, reverse=True)[:k])


def _series_summary(scans: Sequence[Any], predictions: Sequence[Any], model: ModelInfo,
                    keys: list[int]) -> list:
    assessed = [p for p in predictions if getattr(p, "assessed", True)]
    counts = Counter(p.predicted_class for p in assessed)
    majority = counts.most_common(1)[0][0] if counts else None
    p_values = [getattr(p, "p_tumour", None) for p in predictions]
    known = [(v, i) for i, v in enumerate(p_values) if v is not None]
    top = verdict.top_slice(predictions)
    rows = [("Slices classified", str(len(predictions))),
            ("Majority class", f"{model.display_name(majority)} ({counts[majority]} of {len(assessed)} "
                               "assessed slices)" if majority else "none (no slice assessed)"),
            (verdict.NOT_ASSESSED_TITLE, str(len(predictions) - len(assessed))),
            ("Flagged (any flag)", str(sum(1 for p in predictions if getattr(p, "flags", ())))),]
    if known and top is not None:
        rows.append(("Highest P(tumour)", f"{format_percent(top[1])} at slice {top[0] + 1}"))
    per_class = ", ".join(f"{model.display_name(c)} {counts.get(c, 0)}" for c in model.class_names)
    rows.append(("Slices per class", per_class))
    table = Table([[para(k, "label"), para(v, "value")] for k, v in rows],
                  colWidths=[34 * mm, CONTENT_WIDTH / 2 - 34 * mm])
    table.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 1),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    chart = slice_profile([v for v in p_values] if known else [p.confidence for p in predictions],
                          width=CONTENT_WIDTH / 2, marks=keys,
                          title="P(tumour) by slice" if known else "Confidence by slice")
    outer = Table([[table, chart]], colWidths=[CONTENT_WIDTH / 2, CONTENT_WIDTH / 2])
    outer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [outer]


def _key_slice(scan: Any, prediction: Any, overlay_rgb: np.ndarray, model: ModelInfo,
               ramp: np.ndarray) -> Table:
    """Scan | overlay | result and probabilities, in one row (three key slices fit on ~1.5 pages)."""
    image_w, gap = 54 * mm, 3 * mm
    info_w = CONTENT_WIDTH - 2 * (image_w + gap)
    labels = [model.display_name(c) for c in prediction.class_names]
    highlight = prediction.predicted_index if getattr(prediction, "assessed", True) else None
    info = [_result_panel(prediction, model, info_w)]
    if highlight is not None:  # no class scores for a slice that is not assessed
        info += [Spacer(1, 2 * mm), probability_chart(labels, list(prediction.probabilities), highlight=highlight,
                                                      width=info_w, bar_height=3.4 * mm)]
    cam_class = model.display_name(prediction.predicted_class)
    row = [[image_flowable(scan.display, image_w, max_height=image_w),
            image_flowable(overlay_rgb, image_w, max_height=image_w), info],
           [para("Scan", "caption_c"),
            [para(f"Grad-CAM for “{cam_class}”" if highlight is not None else "Grad-CAM (slice not assessed)",
                  "caption_c"),
             colour_bar(ramp, width=image_w * 0.9, caption_low="lower", caption_high="higher")], ""]]
    table = Table(row, colWidths=[image_w + gap, image_w + gap, info_w])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (1, -1), "CENTER"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (1, -1), gap),
                               ("RIGHTPADDING", (2, 0), (2, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("SPAN", (2, 0), (2, 1))]))
    return table


def write_series_report(path: str | Path, scans: Sequence[Any], predictions: Sequence[Any], *,
                        model_info: ModelInfo, anonymise: bool = False, key_slices: int = 3,
                        colormap: str = gradcam.DEFAULT_COLORMAP, opacity: float = 0.4) -> Path:
    """A series: its summary, a P(tumour) profile, then the key slices with their heatmaps."""
    if not scans or len(scans) != len(predictions):
        raise ValueError("a series report needs one prediction per scan, and at least one scan")
    generated = utc_now()
    keys = key_slice_indices(predictions, key_slices)
    first = scans[0]
    series = getattr(first.metadata, "series_description", None) if first.metadata else None
    story: list = [
        para("Series classification report", "title"),
        para(f"{series or 'Series'} · {len(scans)} slices"
             + (" · anonymised: patient identifiers removed" if anonymise else ""), "subtitle"),
        _heading("Patient and study"), patient_block(first, anonymise=anonymise),
        _heading("Series summary"), *_series_summary(scans, predictions, model_info, keys),
    ]
    ramp = gradcam.colorize(np.linspace(0, 1, 64, dtype=np.float32)[None, :], colormap)[0]
    for rank, i in enumerate(keys, start=1):
        scan, prediction = scans[i], predictions[i]
        overlay_rgb = overlay_for(scan, prediction, colormap=colormap, opacity=opacity)
        heading = _heading(f"Key slice {rank}: slice {i + 1} of {len(scans)} "
                           f"({_file_name(scan, anonymise)})")
        story += [CondPageBreak(75 * mm), KeepTogether([heading, _key_slice(scan, prediction, overlay_rgb,
                                                                         model_info, ramp)])]
    story += [Spacer(1, 2 * mm), KeepTogether([
        gradcam_explanation(model_info), _heading("Model and run"), model_block(model_info, generated),
        Spacer(1, 3 * mm), disclaimer_block(model_info)])]
    return _build(path, "Series report", story, model_info, generated)
