"""Grad-CAM post-processing: normalise, upsample (with crop box), colour maps, overlay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.core.model import gradcam


def test_normalise_is_relu_then_min_max():
    cam = np.array([[-1.0, 0.0], [1.0, 3.0]], np.float32)
    np.testing.assert_allclose(gradcam.normalise_cam(cam), [[0, 0], [1 / 3, 1]], atol=1e-6)


@pytest.mark.parametrize("cam", [np.zeros((7, 7)), -np.ones((7, 7)), np.full((7, 7), 2.0)])
def test_flat_or_negative_maps_stay_zero_without_nan(cam):
    out = gradcam.normalise_cam(cam)
    assert out.dtype == np.float32 and not np.isnan(out).any() and out.max() == 0


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, (3, 5, 6), elements=st.floats(-1e6, 1e6, width=32)))
def test_normalised_stack_is_in_unit_range(cams):
    out = gradcam.normalise_cam(cams)
    assert out.shape == cams.shape and np.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    for m in out:
        assert m.max() in (0.0, 1.0) or np.isclose(m.max(), 1.0)


def test_nan_in_raw_map_does_not_propagate():
    cam = np.array([[np.nan, 1.0], [0.5, 0.0]], np.float32)
    assert np.isfinite(gradcam.normalise_cam(cam)).all()


def test_upsample_keeps_range_and_location():
    cam = np.zeros((8, 8), np.float32)
    cam[0, 7] = 1.0  # top-right hot spot
    up = gradcam.upsample_cam(cam, (240, 320))
    assert up.shape == (240, 320) and up.min() >= 0 and up.max() <= 1
    y, x = np.unravel_index(np.argmax(up), up.shape)
    assert y < 30 and x > 290


def test_upsample_into_crop_box_is_zero_outside():
    up = gradcam.upsample_cam(np.ones((4, 4), np.float32), (100, 200), box=(10, 60, 20, 120))
    assert up.shape == (100, 200)
    assert up[10:60, 20:120].min() == pytest.approx(1.0) and up.sum() == pytest.approx(50 * 100)
    with pytest.raises(ValueError):
        gradcam.upsample_cam(np.ones((4, 4)), (100, 200), box=(0, 150, 0, 10))


@pytest.mark.parametrize("name", sorted(gradcam.COLORMAPS))
def test_colorize_gives_rgb_and_perceptual_default_is_dark_to_bright(name):
    ramp = np.linspace(0, 1, 256, dtype=np.float32)[None, :].repeat(4, 0)
    rgb = gradcam.colorize(ramp, name)
    assert rgb.shape == (4, 256, 3) and rgb.dtype == np.uint8
    if name == gradcam.DEFAULT_COLORMAP:
        lightness = rgb[0].astype(float) @ [0.299, 0.587, 0.114]
        assert np.all(np.diff(lightness) >= -1.0)  # monotonic: low = dark, high = bright
        assert rgb[0, -1].tolist()[0] > rgb[0, -1].tolist()[2]  # inferno ends yellow, not blue


def test_jet_high_is_red_and_unknown_colormap_refused():
    assert gradcam.colorize(np.ones((1, 1)), "jet")[0, 0, 0] > 100
    with pytest.raises(ValueError, match="colour map"):
        gradcam.colorize(np.ones((2, 2)), "rainbow-of-doom")


def test_overlay_opacity_extremes_and_shapes():
    grey = np.full((60, 80), 100, np.uint8)
    cam = np.zeros((8, 8), np.float32)
    cam[4, 4] = 1.0
    assert np.array_equal(gradcam.overlay(grey, cam, opacity=0.0), np.dstack([grey] * 3))
    heat_only = gradcam.overlay(grey, cam, opacity=1.0, colormap="viridis")
    assert np.array_equal(heat_only, gradcam.colorize(gradcam.upsample_cam(cam, (60, 80)), "viridis"))
    half = gradcam.overlay(np.dstack([grey] * 3), cam, opacity=0.5)
    assert half.shape == (60, 80, 3) and half.dtype == np.uint8
    with pytest.raises(ValueError):
        gradcam.overlay(grey, cam, opacity=1.5)


def test_any_class_heatmap():
    cams = np.zeros((4, 8, 8), np.float32)
    cams[2, 0, 0] = 5.0
    cams[3, 7, 7] = 1.0
    h2, h3 = gradcam.class_heatmap(cams, 2, (64, 64)), gradcam.class_heatmap(cams, 3, (64, 64))
    assert np.unravel_index(np.argmax(h2), h2.shape)[0] < 8
    assert np.unravel_index(np.argmax(h3), h3.shape)[0] > 56
    assert gradcam.class_heatmap(cams, 0, (64, 64)).max() == 0
