"""Draws the BrainLens application icon: PNGs (16..512 px), a Windows .ico, a macOS .icns and an SVG.

Run ``python resources/icons/make_icons.py`` (Pillow only). The picture is a brain seen from above
(two hemispheres with a few gyri), a warm Grad-CAM-like hot spot, and a magnifying lens over it, on a
rounded navy tile. One list of shapes drives both renderers, so the PNGs and the SVG stay the same
picture. Small sizes (<= 32 px) drop the gyri, which only blur into noise there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
CANVAS = 512  # design units; every coordinate below is in this space
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
SMALL = 32  # at or below this size the detail layer is left out

NAVY, NAVY_EDGE = "#14304d", "#0b1d30"
BRAIN, BRAIN_EDGE, GYRUS = "#f3c3cf", "#b76e85", "#c98499"
HOT_CORE, HOT_EDGE = (255, 214, 74), (240, 90, 40)
LENS_RING = HANDLE = "#e9f1f7"


@dataclass(frozen=True)
class Curve:
    """A smooth stroke through points (a cubic Bézier per segment of four points)."""

    points: tuple[tuple[float, float], ...]
    width: float
    colour: str
    detail: bool = False  # left out at small sizes


def _bezier(p0, p1, p2, p3, steps: int = 24) -> list[tuple[float, float]]:
    out = []
    for i in range(steps + 1):
        t = i / steps
        a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
        out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def _mirror(points):
    return tuple((2 * CX - x, y) for x, y in points)


CX, CY = 256, 250  # brain centre (the lens sits lower right of it)
HEMI_RX, HEMI_RY, GAP = 92, 156, 10  # each hemisphere is an ellipse
LENS_C, LENS_R, LENS_W = (318, 306), 88, 22
HANDLE_FROM, HANDLE_TO, HANDLE_W = (382, 370), (440, 428), 44
HOT_C, HOT_R = (318, 306), 74

_LEFT_GYRI = (  # short S-shaped folds, each inside the left hemisphere (mirrored for the right)
    ((122, 150), (140, 118), (175, 182), (198, 142)),
    ((96, 212), (124, 176), (160, 252), (214, 206)),
    ((88, 282), (122, 248), (168, 322), (222, 276)),
    ((108, 352), (134, 322), (168, 390), (206, 350)),
    ((150, 170), (125, 200), (175, 220), (150, 246)),
    ((160, 300), (136, 322), (182, 336), (162, 364)),
)
CURVES = tuple(
    Curve(points, 10, GYRUS, detail=True)
    for left in _LEFT_GYRI
    for points in (left, _mirror(left))
)


def _hemispheres() -> list[tuple[float, float, float, float]]:
    left = (CX - GAP / 2 - 2 * HEMI_RX, CY - HEMI_RY, CX - GAP / 2, CY + HEMI_RY)
    right = (CX + GAP / 2, CY - HEMI_RY, CX + GAP / 2 + 2 * HEMI_RX, CY + HEMI_RY)
    return [left, right]


def render_png(size: int) -> Image.Image:
    """Renders at 4x (at least 512 px) and downsamples, for clean anti-aliased edges."""
    scale_px = max(size * 4, CANVAS)
    k = scale_px / CANVAS
    img = Image.new("RGBA", (scale_px, scale_px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)

    def s(v: float) -> float:
        return v * k

    def box(b):
        return [s(v) for v in b]

    draw.rounded_rectangle(box((16, 16, 496, 496)), radius=s(96), fill=NAVY, outline=NAVY_EDGE, width=max(1, round(s(6))))
    brain_mask = Image.new("L", img.size, 0)
    mask_draw = ImageDraw.Draw(brain_mask)
    for hemi in _hemispheres():
        mask_draw.ellipse(box(hemi), fill=255)
    brain = Image.new("RGBA", img.size, BRAIN)
    brain_draw = ImageDraw.Draw(brain)
    for curve in CURVES:
        if size > SMALL or not curve.detail:
            pts = [(s(x), s(y)) for x, y in _bezier(*curve.points)]
            brain_draw.line(pts, fill=curve.colour, width=max(1, round(s(curve.width))), joint="curve")
    brain = Image.alpha_composite(brain, _hot_spot(scale_px, k))
    img.paste(brain, (0, 0), brain_mask)
    draw = ImageDraw.Draw(img)
    for hemi in _hemispheres():
        draw.ellipse(box(hemi), outline=BRAIN_EDGE, width=max(1, round(s(8))))
    lx, ly = LENS_C
    draw.ellipse(box((lx - LENS_R, ly - LENS_R, lx + LENS_R, ly + LENS_R)), outline=LENS_RING, width=round(s(LENS_W)))
    draw.line([(s(HANDLE_FROM[0]), s(HANDLE_FROM[1])), (s(HANDLE_TO[0]), s(HANDLE_TO[1]))], fill=HANDLE, width=round(s(HANDLE_W)))
    r = s(HANDLE_W) / 2
    hx, hy = s(HANDLE_TO[0]), s(HANDLE_TO[1])
    draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=HANDLE)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def _hot_spot(scale_px: int, k: float) -> Image.Image:
    """A soft radial blob from yellow (centre) to transparent orange, like a Grad-CAM peak."""
    layer = Image.new("RGBA", (scale_px, scale_px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = HOT_C[0] * k, HOT_C[1] * k
    steps = 24
    for i in range(steps, 0, -1):
        t = i / steps  # 1 at the rim, small at the centre
        colour = tuple(round(HOT_CORE[c] * (1 - t) + HOT_EDGE[c] * t) for c in range(3))
        alpha = round(235 * (1 - t) ** 0.6)
        r = HOT_R * k * t
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(*colour, alpha))
    return layer.filter(ImageFilter.GaussianBlur(radius=max(1.0, 6 * k)))


def _svg_ellipse(bounds: tuple[float, float, float, float], attributes: str) -> str:
    x0, y0, x1, y1 = bounds
    return (
        f'<ellipse cx="{(x0 + x1) / 2:g}" cy="{(y0 + y1) / 2:g}" rx="{(x1 - x0) / 2:g}" '
        f'ry="{(y1 - y0) / 2:g}" {attributes}/>'
    )


def render_svg() -> str:
    """The same picture as scalable vector graphics (used for the Linux desktop entry)."""
    lx, ly = LENS_C
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS}" height="{CANVAS}" viewBox="0 0 {CANVAS} {CANVAS}">',
        "<title>BrainLens</title>",
        "<defs><radialGradient id=\"hot\">"
        f'<stop offset="0" stop-color="rgb{HOT_CORE}" stop-opacity="0.92"/>'
        f'<stop offset="1" stop-color="rgb{HOT_EDGE}" stop-opacity="0"/>'
        "</radialGradient><clipPath id=\"brain\">"
        + "".join(_svg_ellipse(h, "") for h in _hemispheres())
        + "</clipPath></defs>",
        f'<rect x="16" y="16" width="480" height="480" rx="96" fill="{NAVY}" stroke="{NAVY_EDGE}" stroke-width="6"/>',
    ]
    parts += [_svg_ellipse(h, f'fill="{BRAIN}"') for h in _hemispheres()]
    parts.append('<g clip-path="url(#brain)">')
    for curve in CURVES:
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve.points
        parts.append(
            f'<path d="M{x0:g},{y0:g} C{x1:g},{y1:g} {x2:g},{y2:g} {x3:g},{y3:g}" fill="none" '
            f'stroke="{curve.colour}" stroke-width="{curve.width:g}" stroke-linecap="round"/>'
        )
    parts.append(f'<circle cx="{HOT_C[0]}" cy="{HOT_C[1]}" r="{HOT_R}" fill="url(#hot)"/></g>')
    parts += [_svg_ellipse(h, f'fill="none" stroke="{BRAIN_EDGE}" stroke-width="8"') for h in _hemispheres()]
    parts += [
        f'<circle cx="{lx}" cy="{ly}" r="{LENS_R - LENS_W / 2:g}" fill="none" stroke="{LENS_RING}" stroke-width="{LENS_W}"/>',
        f'<line x1="{HANDLE_FROM[0]}" y1="{HANDLE_FROM[1]}" x2="{HANDLE_TO[0]}" y2="{HANDLE_TO[1]}" '
        f'stroke="{HANDLE}" stroke-width="{HANDLE_W}" stroke-linecap="round"/>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def main(out: Path = HERE) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    images = {}
    for size in PNG_SIZES:
        images[size] = render_png(size)
        path = out / f"brainlens-{size}.png"
        images[size].save(path, optimize=True)
        written.append(path)
    ico = out / "brainlens.ico"
    images[256].save(ico, sizes=[(n, n) for n in ICO_SIZES], append_images=[images[n] for n in ICO_SIZES])
    icns = out / "brainlens.icns"
    images[512].save(icns, append_images=[images[n] for n in (16, 32, 64, 128, 256)])
    svg = out / "brainlens.svg"
    svg.write_text(render_svg(), encoding="utf-8")
    written += [ico, icns, svg]
    return written


if __name__ == "__main__":
    for path in main():
        print(path.relative_to(HERE.parent.parent), path.stat().st_size, "bytes")
