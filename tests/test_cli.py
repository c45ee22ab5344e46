"""`brainlens` / `brainlens classify`: exit codes, table, CSV/JSON/heatmaps, GPU fallback message."""

from __future__ import annotations

import csv
import re
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

import app.__main__ as entry
from app import cli
from app.core.model import providers
from app.core.reports.results_io import CsvResultWriter
from tests import mri_data
from tests.model_fixtures import tiny_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("good")
    for z in (60, 80, 100):
        Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(root / f"ax{z}.png")
    mri_data.write_dicom_series(root / "series", range(60, 100, 10))
    return root


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, good_folder) -> Path:
    root = tmp_path_factory.mktemp("bad")
    Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(90))).convert("RGB").save(root / "ok.jpg")
    (root / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG cut short
    (root / "report.dcm").write_text("not dicom at all")
    return root


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = entry.main(["classify", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_good_folder_exit_0_with_table_csv_json_heatmaps(capsys, tiny_model, good_folder, tmp_path):
    code, out, err = run_cli(
        capsys, good_folder, "--model", tiny_model, "--csv", tmp_path / "r.csv",
        "--json", tmp_path / "r.json", "--heatmaps", tmp_path / "heat", "--device", "cpu",
    )
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["scan", "class"]
    assert sum("ax" in line and ".png" in line for line in lines) == 3
    assert sum("— slice" in line and "/4 " in line for line in lines) == 4
    series = next(line for line in lines if line.startswith("series "))
    counts = [int(n) for n in re.findall(r"(\d+) (?:classified|not assessed|failed)", series)]
    assert "4 slices: " in series and sum(counts) == 4  # the counts add up to the slices
    assert "None" not in series and "notumor" not in out.split("\n\n")[-1]
    assert re.search(r"7 scans: \d classified, \d not assessed, 0 failed", out) and "not for diagnosis" in out
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7 and {r["status"] for r in rows} == {"ok"}
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(doc["results"]) == 7 and doc["summary"]["ok"] == 7 and len(doc["series"]) == 1
    pngs = sorted((tmp_path / "heat").glob("*.png"))
    assert len(pngs) == 7
    with Image.open(pngs[0]) as first:
        assert first.mode == "RGB"


def test_bad_files_are_listed_and_exit_1(capsys, tiny_model, bad_folder, tmp_path):
    code, out, _ = run_cli(capsys, bad_folder, "--model", tiny_model, "--csv", tmp_path / "r.csv")
    assert code == 1
    assert "3 scans: " in out and ", 2 failed" in out
    listed = out.split("Could not classify:")[1]
    assert "scan.png" in listed and "report.dcm" in listed
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert rows["ok.jpg"]["status"] == "ok"
    assert rows["scan.png"]["status"] == rows["report.dcm"]["status"] == "error"
    assert rows["scan.png"]["error"] and rows["report.dcm"]["error"]


@pytest.mark.parametrize(
    "argv",
    [[], ["--device", "tpu", "x"], ["--batch-size", "0", "x"], ["--opacity", "2", "x"], ["--bogus", "x"]],
)
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        entry.main(["classify", *argv])
    assert exc.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_unloadable_model_exits_2_with_one_message(capsys, good_folder, tmp_path):
    code, out, err = run_cli(capsys, good_folder, "--model", tmp_path / "nothing.onnx")
    assert code == 2 and "not found" in err and "Traceback" not in err + out


def test_gpu_requested_without_gpu_says_so_once_and_runs_on_cpu(capsys, tiny_model, good_folder, monkeypatch):
    monkeypatch.setattr(providers, "nvidia_provider_loadable", lambda name: False)
    code, out, err = run_cli(capsys, good_folder / "ax60.png", "--model", tiny_model, "--device", "gpu")
    assert code == 0
    assert err.count("No usable GPU was found") == 1 and "[E:onnxruntime" not in err
    assert "on CPU" in out


def test_quiet_prints_summary_only(capsys, tiny_model, good_folder):
    code, out, _ = run_cli(capsys, good_folder, "--model", tiny_model, "--quiet")
    assert code == 0 and "ax60.png" not in out and "7 scans: " in out and ", 0 failed" in out


def test_interrupt_leaves_a_valid_partial_csv_and_exit_130(capsys, tiny_model, good_folder, tmp_path, monkeypatch):
    real = CsvResultWriter.write
    calls = {"n": 0}

    def write_then_interrupt(self, item):
        real(self, item)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(CsvResultWriter, "write", write_then_interrupt)
    code, out, _ = run_cli(capsys, good_folder, "--model", tiny_model, "--csv", tmp_path / "p.csv")
    assert code == 130 and "Interrupted" in out
    with open(tmp_path / "p.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2


def test_crop_option_reaches_the_classifier(capsys, tiny_model, good_folder, tmp_path):
    run_cli(capsys, good_folder / "ax80.png", "--model", tiny_model, "--crop", "--json", tmp_path / "c.json")
    run_cli(capsys, good_folder / "ax80.png", "--model", tiny_model, "--no-crop", "--json", tmp_path / "n.json")
    cropped = json.loads((tmp_path / "c.json").read_text())["results"][0]["probabilities"]
    plain = json.loads((tmp_path / "n.json").read_text())["results"][0]["probabilities"]
    assert cropped != plain


# -- the `brainlens` entry point ---------------------------------------------------------------
def test_version_and_help(capsys):
    assert entry.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("BrainLens ")
    assert entry.main(["--help"]) == 0 and "classify" in capsys.readouterr().out
    assert entry.main(["--nonsense"]) == 2


def test_no_arguments_or_a_path_open_the_gui(monkeypatch, tmp_path):
    seen = []
    fake = types.ModuleType("app.ui.main")
    fake.main = lambda argv=None: seen.append(list(argv)) or 0
    monkeypatch.setitem(sys.modules, "app.ui.main", fake)
    monkeypatch.setenv("BRAINLENS_LOG_DIR", str(tmp_path))
    assert entry.main([]) == 0
    assert entry.main([str(tmp_path / "scan.dcm")]) == 0
    assert seen == [[], [str(tmp_path / "scan.dcm")]]


def test_self_test_with_the_tiny_model(capsys, tiny_model):
    assert entry.main(["--self-test", "--model", str(tiny_model)]) == 0
    assert "self-test passed" in capsys.readouterr().out


def test_self_test_fails_cleanly_without_a_model(capsys, tmp_path):
    assert entry.main(["--self-test", "--model", str(tmp_path / "none.onnx")]) == 1
    assert "self-test FAILED" in capsys.readouterr().out


def test_python_dash_m_app_classify_in_a_subprocess(tiny_model, bad_folder, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "app", "classify", str(bad_folder), "--model", str(tiny_model),
         "--csv", str(tmp_path / "s.csv")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "[E:onnxruntime" not in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "s.csv").read_text().count("\n") == 4


def test_self_test_with_the_default_model(default_model_path, capsys):
    assert entry.main(["--self-test"]) == 0
    assert "self-test passed" in capsys.readouterr().out


def test_table_uses_the_cards_display_names(capsys, tmp_path, good_folder):
    from tests.model_fixtures import build_tiny_model, tiny_card

    names = {"glioma": "Glioma", "meningioma": "Meningioma", "notumor": "No tumour", "pituitary": "Pituitary tumour"}
    model = build_tiny_model(tmp_path / "named.onnx", card=tiny_card(display_names=names))
    code, out, _ = run_cli(capsys, good_folder / "ax80.png", "--model", model, "--csv", tmp_path / "n.csv")
    line = next(line for line in out.splitlines() if line.startswith("ax80.png"))
    assert any(name in line for name in names.values())
    with open(tmp_path / "n.csv", newline="") as fh:
        assert next(csv.DictReader(fh))["predicted_class"] in names  # the CSV keeps the model's class names


def test_gpu_request_on_this_machine_in_a_subprocess_shows_no_runtime_error(tiny_model, good_folder):
    """No monkeypatching: the real detection decides (on a machine without CUDA, one clear line)."""
    from app.core.model.providers import cuda_device_count

    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "app", "classify", str(good_folder / "ax60.png"), "--model", str(tiny_model),
         "--device", "gpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "[E:onnxruntime" not in done.stderr and "\x1b[" not in done.stderr
    if cuda_device_count() == 0:
        assert done.stderr.count("No usable GPU was found") == 1 and "on CPU" in done.stdout


def test_first_ctrl_c_stops_the_run_after_the_batch_in_hand_a_second_at_once():
    import signal

    from app.core.runs.progress import CancelToken

    before = signal.getsignal(signal.SIGINT)
    stop = CancelToken()
    with pytest.raises(KeyboardInterrupt), cli.ctrl_c_stops(stop):
        signal.raise_signal(signal.SIGINT)
        assert stop.cancelled  # a flag the run checks between batches, not an exception
        signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_help_states_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 every file classified; 1 some files could not be read" in text and "130 interrupted" in text
