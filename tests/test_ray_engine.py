"""The Ray engine on a local Ray (2 CPUs, no dashboard, loopback only) gives the local engine's rows.

One Ray instance serves the module (it takes seconds to start). The folder is mixed: real
labelled MRI JPEGs (the shared Kaggle set, or MNI slices without it), a DICOM series, a bundled
DICOM file and two broken files.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests import mri_data

ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install -e '.[cluster]'")
pytest.importorskip("pyarrow")

from app import cli  # noqa: E402 - after the skip, so a missing extra skips instead of failing
from app.core.reports.results_table import read_rows  # noqa: E402

pytestmark = pytest.mark.timeout(300)
KAGGLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kaggle" / "test-dev"
FLOAT_PREFIXES = ("prob_", "raw_prob_", "confidence", "p_tumour")
ACTOR_TITLE = b"ScanClassifierActor"


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             _node_ip_address="127.0.0.1")  # loopback only
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("mixed")
    jpgs = sorted(KAGGLE.glob("*/*.jpg"))[::130][:5] if KAGGLE.is_dir() else []
    for path in jpgs:
        shutil.copy(path, folder / path.name)
    if not jpgs:  # no shared data beside the clone: real template slices instead
        for z in (70, 85, 100):
            Image.fromarray(mri_data.to_uint8(mri_data.axial_slice(z))).save(folder / f"mni_{z}.jpg")
    mri_data.write_dicom_series(folder / "series", range(60, 120, 20))
    shutil.copy(mri_data.pydicom_file("MR_small.dcm"), folder / "MR_small.dcm")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (folder / "empty.dcm").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def local_rows(mixed_folder, default_model_path, tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("local") / "local.csv"
    assert cli.main([str(mixed_folder), "--csv", str(out), "--no-audit", "--quiet", "--device", "cpu"]) == 1
    return _sorted(read_rows(out))


def _sorted(rows) -> list[dict[str, str]]:
    return sorted(rows, key=lambda r: (r["path"], r["slice"], r["frame"]))


def assert_same_rows(got: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    assert [(r["path"], r["slice"], r["frame"]) for r in got] == [(r["path"], r["slice"], r["frame"]) for r in expected]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        for name in b:
            if name.startswith(FLOAT_PREFIXES) and b[name]:
                assert abs(float(a[name]) - float(b[name])) <= 1e-6, (b["path"], name)
            else:
                assert a[name] == b[name], (b["path"], name)


def test_ray_csv_equals_the_local_engine_row_for_row(local_ray, mixed_folder, local_rows, tmp_path, capsys):
    out = tmp_path / "ray.csv"
    code = cli.main([str(mixed_folder), "--engine", "ray", "--workers", "2", "--batch-size", "2",
                     "--out", str(out), "--no-audit", "--device", "cpu"])
    assert code == 1  # two broken files, as locally
    assert_same_rows(_sorted(read_rows(out)), local_rows)
    errors = [r for r in local_rows if r["status"] == "error"]
    assert {Path(r["path"]).name for r in errors} == {"broken.jpg", "empty.dcm"}
    printed = capsys.readouterr().out
    assert f"{len(local_rows)} scans: " in printed and ", 2 failed" in printed
    assert "2 Ray worker(s)" in printed


def test_interrupted_parquet_is_valid_and_resume_completes_it(local_ray, mixed_folder, local_rows, tmp_path,
                                                               monkeypatch, capsys):
    from app import cli_ray

    out = tmp_path / "ray.parquet"
    real = cli_ray.classify_on_ray

    def interrupted_after_first_batch(*args, **kwargs):  # Ctrl+C while the run goes on
        for table in real(*args, **kwargs):
            yield table
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_ray, "classify_on_ray", interrupted_after_first_batch)
    args = [str(mixed_folder), "--engine", "ray", "--workers", "2", "--batch-size", "2", "--out", str(out),
            "--no-audit", "--device", "cpu"]
    assert cli.main(args) == cli.EXIT_INTERRUPTED
    partial = list(read_rows(out))  # a whole Parquet file, not a torn one
    assert 0 < len(partial) < len(local_rows)
    assert not out.with_name(out.name + ".partial").exists()

    monkeypatch.setattr(cli_ray, "classify_on_ray", real)
    capsys.readouterr()
    assert cli.main(args + ["--resume"]) in (0, 1)  # 1 when a broken file was among the rest
    assert f"resumed: {len(partial)} rows already in ray.parquet" in capsys.readouterr().out
    assert_same_rows(_sorted(read_rows(out)), local_rows)  # nothing lost, nothing twice

    assert cli.main(args + ["--resume"]) == 0  # everything is done: nothing new, nothing twice
    assert "0 scans: 0 classified, 0 not assessed, 0 failed" in capsys.readouterr().out
    assert_same_rows(_sorted(read_rows(out)), local_rows)


def test_a_killed_worker_loses_and_duplicates_nothing(local_ray, mixed_folder, local_rows, default_model_path):
    from app.cli_ray import listed_files, writer_columns
    from app.core.model.inference import Classifier
    from app.core.reports.results_table import row_builder
    from app.core.runs.ray_engine import RayPlan, classify_on_ray

    classifier = Classifier(default_model_path, device="cpu", threads=1)
    plan = RayPlan(classifier.path, classifier.model_sha256, tuple(writer_columns(classifier)),
                   workers=2, batch_size=1, device="cpu")
    rows, killed = [], None
    stream = classify_on_ray(listed_files([mixed_folder], True, frozenset()), plan,
                             row_builder(classifier.card.class_names, classifier.model_sha256))
    for table in stream:
        rows.extend(table.to_pylist())
        if killed is None:
            actors = _our_actor_pids()
            assert actors, "no classifier actor process found"
            killed = actors[0]
            os.kill(killed, signal.SIGKILL)
    assert killed is not None
    _wait_gone(killed)
    assert_same_rows(_sorted(rows), local_rows)


def _our_actor_pids() -> list[int]:
    """Classifier actors of this test's Ray (descendants of this process; never another engineer's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ACTOR_TITLE in title and _descends_from(int(entry.name), os.getpid()):
            found.append(int(entry.name))
    return sorted(found)


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
    return False


def _wait_gone(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
