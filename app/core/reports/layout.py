"""The look shared by every BrainLens PDF: fonts, styles, page frame, and the common blocks.

Pure reportlab (no Qt), so the CLI can write reports on a headless machine.
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Image, Paragraph, Table, TableStyle
from xml.sax.saxutils import escape

from app.core.model.identity import ModelInfo
from app.core.version import app_version

PAGE = A4
MARGIN = 16 * mm
CONTENT_WIDTH = PAGE[0] - 2 * MARGIN - 12  # the frame pads 6 pt on each side

INK = colors.HexColor("#1b2430")
MUTED = colors.HexColor("#5b6675")
RULE = colors.HexColor("#d5dae1")
PANEL = colors.HexColor("#f3f5f8")
ACCENT = colors.HexColor("#1f5f8b")
WARN = colors.HexColor("#a4262c")
WARN_BG = colors.HexColor("#fbeaea")
AMBER_BG = colors.HexColor("#fff4e0")

NOT_AVAILABLE = "not available"
REMOVED = "removed (anonymised)"

# -- fonts ---------------------------------------------------------------------------------
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/Library/Fonts"),
    Path("C:/Windows/Fonts"),
)


def _register(regular: Path, bold: Path, mono: Path | None) -> tuple[str, str, str]:
    pdfmetrics.registerFont(TTFont("BL-Sans", str(regular)))
    pdfmetrics.registerFont(TTFont("BL-Sans-Bold", str(bold)))
    pdfmetrics.registerFontFamily("BL-Sans", normal="BL-Sans", bold="BL-Sans-Bold",
                                  italic="BL-Sans", boldItalic="BL-Sans-Bold")
    if mono is None:
        return "BL-Sans", "BL-Sans-Bold", "Courier"
    pdfmetrics.registerFont(TTFont("BL-Mono", str(mono)))
    return "BL-Sans", "BL-Sans-Bold", "BL-Mono"


def _register_fonts() -> tuple[str, str, str]:
    """Embedded TrueType fonts, so names with accents (and the report's dashes) always render.

    DejaVu Sans (wide Unicode coverage) when the system has it, else Bitstream Vera, which ships
    inside reportlab (so also inside the bundled app), else the PDF core fonts.
    """
    for folder in _FONT_DIRS:
        files = [folder / n for n in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf")]
        if all(f.exists() for f in files):
            try:
                return _register(*files)
            except Exception:  # noqa: BLE001 - an unreadable font file: try the next choice
                break
    try:
        import reportlab

        fonts = Path(reportlab.__file__).parent / "fonts"
        return _register(fonts / "Vera.ttf", fonts / "VeraBd.ttf", None)
    except Exception:  # noqa: BLE001
        return "Helvetica", "Helvetica-Bold", "Courier"


FONT, FONT_BOLD, FONT_MONO = _register_fonts()


def _style(name: str, **kw: Any) -> ParagraphStyle:
    base = {"fontName": FONT, "fontSize": 9, "leading": 12, "textColor": INK, "alignment": TA_LEFT}
    base.update(kw)
    return ParagraphStyle(name, **base)


STYLES = {
    "title": _style("title", fontName=FONT_BOLD, fontSize=17, leading=21, spaceAfter=1 * mm),
    "subtitle": _style("subtitle", fontSize=10, leading=13, textColor=MUTED, spaceAfter=3 * mm),
    "h2": _style("h2", fontName=FONT_BOLD, fontSize=10.5, leading=13, textColor=ACCENT,
                 spaceBefore=3.5 * mm, spaceAfter=1.5 * mm),
    "body": _style("body"),
    "small": _style("small", fontSize=7.5, leading=9.5, textColor=MUTED),
    "label": _style("label", fontSize=7.5, leading=9.5, textColor=MUTED),
    "value": _style("value", fontSize=9, leading=11.5),
    "mono": _style("mono", fontName=FONT_MONO, fontSize=7, leading=9),
    "caption": _style("caption", fontSize=8, leading=10, textColor=MUTED),
    "caption_c": _style("caption_c", fontSize=8, leading=10, textColor=MUTED, alignment=1),
    "cell": _style("cell", fontSize=8, leading=10),
    "cell_bold": _style("cell_bold", fontName=FONT_BOLD, fontSize=8, leading=10),
    "big": _style("big", fontName=FONT_BOLD, fontSize=16, leading=19),
    "warn": _style("warn", fontSize=8.5, leading=11, textColor=WARN),
}


def para(text: str, style: str = "body") -> Paragraph:
    """A paragraph of plain text (escaped: names and file names are never read as markup)."""
    return Paragraph(escape(str(text)), STYLES[style])


def rich(markup: str, style: str = "body") -> Paragraph:
    """A paragraph of trusted markup written in this package (<b>, <font>)."""
    return Paragraph(markup, STYLES[style])


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


# -- page frame ------------------------------------------------------------------------------
def page_decorator(title: str, generated: _dt.datetime, model: ModelInfo):
    """Draws the header band and the footer line on every page."""
    stamp = generated.strftime("%Y-%m-%d %H:%M UTC")

    def draw(canvas: rl_canvas.Canvas, doc: Any) -> None:
        width, height = PAGE
        canvas.saveState()
        top = height - 11 * mm
        canvas.setFillColor(ACCENT)
        canvas.setFont(FONT_BOLD, 12)
        canvas.drawString(MARGIN, top, "BrainLens")
        offset = pdfmetrics.stringWidth("BrainLens", FONT_BOLD, 12) + 3 * mm
        canvas.setFillColor(MUTED)
        canvas.setFont(FONT, 8.5)
        canvas.drawString(MARGIN + offset, top, title)
        canvas.setFillColor(WARN)
        canvas.setFont(FONT_BOLD, 8)
        canvas.drawRightString(width - MARGIN, top, "RESEARCH USE ONLY — NOT FOR DIAGNOSTIC USE")
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.6)
        canvas.line(MARGIN, top - 2.5 * mm, width - MARGIN, top - 2.5 * mm)
        canvas.line(MARGIN, 12 * mm, width - MARGIN, 12 * mm)
        canvas.setFillColor(MUTED)
        canvas.setFont(FONT, 7)
        name = model.name if len(model.name) <= 40 else model.name[:39] + "…"
        canvas.drawString(MARGIN, 8.5 * mm, f"Generated {stamp} · BrainLens {app_version()} · "
                                            f"model {name} {model.version}")
        canvas.restoreState()

    return draw


class NumberedCanvas(rl_canvas.Canvas):
    """Adds "Page n of N" once the page count is known."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self.setFont(FONT, 7)
            self.setFillColor(MUTED)
            self.drawRightString(PAGE[0] - MARGIN, 8.5 * mm, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


# -- images -----------------------------------------------------------------------------------
def image_flowable(array: np.ndarray, width: float, *, max_height: float | None = None,
                   jpeg: bool = False, max_pixels: int | None = None) -> Image:
    """A numpy uint8 image (grey or RGB) as a flowable ``width`` wide, aspect kept.

    PNG (lossless) by default so the scan in the report is the scan that was classified;
    ``jpeg`` and ``max_pixels`` for thumbnails.
    """
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    img = PILImage.fromarray(arr if arr.ndim == 2 else arr[:, :, :3])
    if max_pixels and max(img.size) > max_pixels:
        img.thumbnail((max_pixels, max_pixels), PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    if jpeg:
        img.convert("RGB" if img.mode != "L" else "L").save(buf, format="JPEG", quality=85)
    else:
        img.save(buf, format="PNG", optimize=True)
    buf.seek(0)
    h, w = arr.shape[:2]
    draw_w, draw_h = width, width * h / w
    if max_height is not None and draw_h > max_height:
        draw_w, draw_h = max_height * w / h, max_height
    return Image(buf, width=draw_w, height=draw_h)


# -- common blocks ------------------------------------------------------------------------------
def _date(value: str | None) -> str | None:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def source_name(scan: Any, anonymise: bool) -> str:
    """The file name, or the image hash when anonymised (file names often carry patient names)."""
    if anonymise:
        sha = getattr(scan, "file_sha256", "") or ""
        return f"image {sha[:12]}" if sha else "image"
    return getattr(scan, "label", None) or Path(getattr(scan, "source", "")).name


def patient_block(scan: Any, *, anonymise: bool) -> Table:
    """Patient and study facts in two label/value columns."""
    meta = getattr(scan, "metadata", None)
    is_dicom = meta is not None and (meta.modality is not None or meta.study_instance_uid is not None)
    shown = meta.anonymised() if (meta is not None and anonymise) else meta

    def value(attr: str, transform=lambda v: v) -> str:
        if anonymise and attr in ("patient_name", "patient_id", "patient_birth_date", "study_date",
                                  "institution"):
            return REMOVED
        if shown is None or not is_dicom:
            return NOT_AVAILABLE
        raw = getattr(shown, attr, None)
        return str(transform(raw)) if raw not in (None, "") else NOT_AVAILABLE

    name = value("patient_name", lambda v: str(v).replace("^", ", ").strip(", "))
    left = [("Patient", name), ("Patient ID", value("patient_id")),
            ("Birth date", value("patient_birth_date", _date)), ("Sex", value("patient_sex"))]
    right = [("Study date", value("study_date", _date)), ("Study", value("study_description")),
             ("Series", value("series_description")), ("Modality", value("modality"))]
    half = CONTENT_WIDTH / 2
    if not is_dicom:
        kind = Path(getattr(scan, "source", "")).suffix.lstrip(".").upper() or "plain"
        rows = [[para("Patient", "label"),
                 para(f"{NOT_AVAILABLE}: a {kind} image file carries no patient or study "
                      "information (only DICOM files do)", "value")]]
        table = Table(rows, colWidths=[22 * mm, CONTENT_WIDTH - 22 * mm])
    else:
        rows = [[para(lk, "label"), para(lv, "value"), para(rk, "label"), para(rv, "value")]
                for (lk, lv), (rk, rv) in zip(left, right)]
        table = Table(rows, colWidths=[22 * mm, half - 22 * mm, 22 * mm, half - 22 * mm])
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), PANEL),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.6),
        ("LEFTPADDING", (0, 0), (-1, -1), 5),
    ]))
    return table


def model_block(model: ModelInfo, generated: _dt.datetime, extra: Sequence[tuple[str, str]] = ()) -> Table:
    rows = [
        ("Model", f"{model.name}, version {model.version} · run on {model.device} · "
                  f"BrainLens {app_version()} · report generated "
                  f"{generated.strftime('%Y-%m-%d %H:%M:%S UTC')}"),
        ("Model SHA-256", model.sha256),
        *extra,
    ]
    cells = [[para(k, "label"), para(v, "mono" if "SHA-256" in k else "value")] for k, v in rows]
    table = Table(cells, colWidths=[32 * mm, CONTENT_WIDTH - 32 * mm])
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 0.8),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0.8),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ]))
    return table


def disclaimer_block(model: ModelInfo) -> Table:
    text = f"<b>{escape(model.disclaimer)}</b>"
    if model.intended_use:
        text += f"<br/>Intended use: {escape(model.intended_use)}"
    table = Table([[rich(text, "warn")]], colWidths=[CONTENT_WIDTH])
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), WARN_BG),
        ("BOX", (0, 0), (-1, -1), 0.6, WARN),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    return table


GRADCAM_EXPLANATION = (
    "<b>How to read the heatmap.</b> Grad-CAM (Selvaraju et al., 2017) shows which regions of the "
    "image most increased the model's score for the class named above it: brighter means a larger "
    "contribution. It is computed on a coarse {grid} grid of the network's last convolutional layer "
    "and smoothed up to the image size, so its edges are approximate. It shows where the model "
    "looked, not what is there: it is <b>not</b> a tumour outline, does not segment or measure a "
    "lesion, and can light up image borders, the skull or artefacts. A confident prediction whose "
    "heatmap lies outside the brain is a reason for doubt, not reassurance."
)


def gradcam_explanation(model: ModelInfo) -> Paragraph:
    grid = "×".join(str(v) for v in model.gradcam_shape) if model.gradcam_shape else "low-resolution"
    return rich(GRADCAM_EXPLANATION.format(grid=grid), "small")
