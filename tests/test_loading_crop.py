"""The seeds' brain crop and the windowing functions, on real MNI slices and edge cases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.core.model import ood
from app.core.scans.crop import brain_bbox, crop_to_brain, head_outline
from app.core.scans.windowing import (
    CT_PRESETS,
    MR_PRESETS,
    apply_modality_lut,
    apply_window,
    full_range_window,
    invert,
    percentile_window,
)
from tests import mri_data

SAMPLE_SLICE = Path(__file__).resolve().parent.parent / "resources" / "samples" / "mni_axial_z90.png"

@pytest.fixture(scope="module")
def brain() -> np.ndarray:
    return mri_data.to_uint8(mri_data.axial_slice(90))


def test_crop_keeps_the_head_and_drops_the_background(brain):
    top, bottom, left, right = brain_bbox(brain)
    cropped = crop_to_brain(brain)
    assert cropped.shape == (bottom - top, right - left)
    assert cropped.shape[0] < brain.shape[0] and cropped.shape[1] < brain.shape[1]
    # Everything bright enough to be head lies inside the box.
    rows, cols = np.nonzero(brain > 80)
    assert rows.min() >= top and rows.max() < bottom and cols.min() >= left and cols.max() < right


def test_margin_grows_the_box_and_is_clipped(brain):
    top, bottom, left, right = brain_bbox(brain)
    assert brain_bbox(brain, margin=5) == (top - 5, bottom + 5, left - 5, right + 5)
    assert brain_bbox(brain, margin=10_000) == (0, brain.shape[0], 0, brain.shape[1])


@pytest.mark.parametrize("blank", [np.zeros((64, 64), np.uint8), np.full((64, 64), 200, np.uint16), np.zeros((0, 0), np.uint8)])
def test_blank_or_flat_images_are_returned_unchanged(blank):
    assert brain_bbox(blank) is None
    assert crop_to_brain(blank) is blank


def test_16bit_and_float_input_crop_like_8bit(brain):
    sixteen = np.round(mri_data.axial_slice(90) * 250).astype(np.uint16)
    assert brain_bbox(sixteen) == brain_bbox(brain)
    assert crop_to_brain(sixteen).dtype == np.uint16
    assert brain_bbox(mri_data.axial_slice(90)) == brain_bbox(brain)


def test_colour_input(brain):
    rgb = np.repeat(brain[:, :, None], 3, axis=2)
    assert brain_bbox(rgb) == brain_bbox(brain)
    assert crop_to_brain(rgb).shape[2] == 3


def test_contour_touching_the_border(brain):
    top, bottom, left, right = brain_bbox(brain)
    touching = np.ascontiguousarray(brain[top + 20 : bottom, left + 15 : right])  # head cut at top and left
    box = brain_bbox(touching)
    assert box is not None and box[0] == 0 and box[2] == 0
    assert box[1] == touching.shape[0] and box[3] == touching.shape[1]


def test_speck_is_not_a_brain():
    image = np.zeros((100, 100), np.uint8)
    image[50:53, 50:53] = 255
    assert brain_bbox(image) is None


def test_the_crop_and_the_ood_guard_find_the_same_head_on_the_sample_slice():
    """One head outline serves both: the OOD guard's filled head mask is that outline filled, and
    the crop box is exactly the mask's extent."""
    sample = np.asarray(Image.open(SAMPLE_SLICE))
    mask = ood.head_mask(sample.astype(np.float32))
    assert mask is not None and mask.shape == sample.shape and mask.dtype == np.uint8
    outline = head_outline(sample)
    assert outline is not None
    filled = cv2.drawContours(np.zeros_like(sample), [outline], -1, 255, thickness=-1)
    np.testing.assert_array_equal(mask, filled)
    rows, cols = np.nonzero(mask)
    assert brain_bbox(sample) == (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
    assert 0.2 < np.count_nonzero(mask) / mask.size < 0.9  # a head, not a speck or the whole frame


def test_apply_window_follows_the_dicom_linear_function():
    values = np.array([-1000.0, 39.5, 40.0, 79.5, 80.0, 1000.0])
    out = apply_window(values, 40.0, 80.0)
    assert out.dtype == np.uint8 and out[0] == 0 and out[-1] == 255 and out[-2] == 255
    assert abs(int(out[2]) - 128) <= 1
    assert list(apply_window(np.array([0.0, 1.0]), 0.5, 1.0)) == [0, 255]  # width 1: a threshold
    sigmoid = apply_window(np.array([-1e6, 40.0, 1e6]), 40.0, 80.0, function="SIGMOID")
    assert list(sigmoid) == [0, 128, 255]


def test_modality_lut_and_windows():
    raw = np.array([[0, 100], [200, 4095]], dtype=np.uint16)
    np.testing.assert_array_equal(apply_modality_lut(raw, slope=2.0, intercept=-1024.0), raw * 2.0 - 1024.0)
    assert apply_modality_lut(raw).dtype == np.float32
    centre, width = full_range_window(raw)
    assert (centre - width / 2, centre + width / 2) == (0.0, 4095.0)
    noisy = np.zeros(10_000, np.float32)
    noisy[:5000] = np.linspace(0, 100, 5000)
    noisy[0] = 1e6
    centre, width = percentile_window(noisy)
    assert centre + width / 2 < 200
    assert percentile_window(np.full(10, 7.0)) == (7.0, 1.0)


def test_invert_and_presets(brain):
    np.testing.assert_array_equal(invert(invert(brain)), brain)
    for preset in MR_PRESETS:
        centre, width = preset.window_for(brain)
        assert width > 0
    assert CT_PRESETS[0].window_for(brain) == (40.0, 80.0)
