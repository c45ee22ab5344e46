"""What a classified volume leaves in the reports: its JSON fields and its PDF section.

The PDF section draws one P(tumour)-by-slice curve per plane (``charts.slice_profile``), the
slice with the highest P(tumour) marked, with the slices per class and the skipped (empty) ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from app.core.reports.charts import slice_profile
from app.core.reports.layout import CONTENT_WIDTH, para, rich
from app.core.reports.numbers import format_percent, round_probability


def volume_fields(summary: Any) -> dict[str, Any]:
    """The JSON fields a ``VolumeSummary`` adds to its series entry (slices 1-based)."""
    return {
        "kind": "volume",
        "planes": list(summary.planes),
        "top_plane": summary.top_plane,
        "skipped_empty_slices": summary.skipped,
        "voxel_size_mm": list(summary.voxel_size) if summary.voxel_size else None,
        "notes": list(summary.notes),
        "p_tumour_by_slice": {plane: [round_probability(v) for v in values]
                              for plane, values in summary.profiles.items()},
    }


@dataclass
class VolumeRow:
    """A volume's summary as the batch PDF keeps it (no voxels)."""

    name: str
    profiles: dict[str, list[float | None]]
    top_plane: str | None
    top_index: int | None
    top_p_tumour: float | None
    class_counts: dict[str, int]
    skipped: int
    voxel_size: tuple[float, float, float] | None
    notes: tuple[str, ...]

    @classmethod
    def from_summary(cls, summary: Any, name: str) -> VolumeRow:
        return cls(name, dict(summary.profiles), summary.top_plane, summary.top_slice_index,
                   summary.top_p_tumour, dict(summary.class_counts), summary.skipped,
                   summary.voxel_size, tuple(summary.notes))


def volume_story(rows: list[VolumeRow], display_name=lambda name: name) -> list:
    """The "Volumes" section of a batch PDF: per volume a line of facts and a curve per plane."""
    if not rows:
        return []
    story: list = [para(f"Volumes ({len(rows)})", "h2")]
    for row in rows:
        counts = ", ".join(f"{display_name(c)} {n}" for c, n in sorted(row.class_counts.items(), key=lambda kv: -kv[1]))
        facts = [f"<b>{escape(row.name)}</b>"]  # the name is escaped: file names are never markup
        if row.voxel_size:
            facts.append("voxels " + " × ".join(f"{v:.2g}" for v in row.voxel_size) + " mm")
        facts.append(f"slices per class: {counts or 'none'}; {row.skipped} empty slice(s) skipped")
        if row.top_index is not None:
            facts.append(f"highest P(tumour) {format_percent(row.top_p_tumour)} at {row.top_plane} slice "
                         f"{row.top_index + 1}")
        story.append(rich(" · ".join(facts[:1] + [escape(f) for f in facts[1:]]), "cell"))
        for note in row.notes:
            story.append(para(note, "cell"))
        for plane, values in row.profiles.items():
            marks = [row.top_index] if plane == row.top_plane and row.top_index is not None else []
            story.append(slice_profile(values, width=CONTENT_WIDTH, marks=marks,
                                       title=f"P(tumour) by {plane} slice"))
        story.append(para("", "cell"))
    return story


def volume_line(summary: Any, counts: str) -> str:
    """The CLI's line for a volume (``counts``: the series line's counts, verdict and top slice, worded)."""
    planes = "+".join(summary.planes) or "no"
    notes = "".join(f"\n  note: {n}" for n in summary.notes)
    return (f"volume {summary.label} ({planes} slices, {summary.skipped} empty skipped): {counts}{notes}")
