"""Grad-CAM example sheets: ``python -m export.examples MODEL.onnx OUT_DIR [z ...]``.

One PNG per MNI axial slice: the slice, then the overlay of every class's map (drawn with the
app's own app.core.model.gradcam steps), each titled with the class and its probability. Used to look
at the exported maps by eye (docs/gradcam_examples/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from app.core.model import gradcam
from export import convert, parity, reference_images

DEFAULT_SLICES = (60, 80, 95, 110)
TILE = 240
TITLE = 18


def example_sheets(model: Path, out_dir: Path, z_indices=DEFAULT_SLICES) -> list[Path]:
    card = convert.read_card(model)
    displays = [reference_images.axial_display(z) for z in z_indices]
    x = reference_images.model_inputs(displays, card.input.height, card.input.width,
                                      card.input.value_range)
    out = parity.run_onnx(str(model), x)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for z, display, probs, cams in zip(z_indices, displays, out["probabilities"], out["gradcam"]):
        tiles = [("MNI axial z=%d" % z, np.repeat(display[:, :, None], 3, axis=2))]
        for c, name in enumerate(card.class_names):
            heat = gradcam.class_heatmap(cams, c, display.shape[:2])
            tiles.append((f"{card.display_name(name)} {probs[c]:.2f}",
                          gradcam.overlay(display, heat, opacity=0.45)))
        sheet = Image.new("RGB", (TILE * len(tiles), TILE + TITLE), "white")
        draw = ImageDraw.Draw(sheet)
        for i, (title, image) in enumerate(tiles):
            tile = Image.fromarray(image).resize((TILE, TILE), Image.Resampling.BICUBIC)
            sheet.paste(tile, (i * TILE, TITLE))
            draw.text((i * TILE + 4, 3), title, fill="black")
        path = out_dir / f"mni_axial_z{z:03d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    z = tuple(int(v) for v in argv[2:]) or DEFAULT_SLICES
    for path in example_sheets(Path(argv[0]), Path(argv[1]), z):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
