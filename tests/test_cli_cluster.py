"""The Ray engine's parts that need no cluster: usage, the missing extra, the output file and resume keys."""

from __future__ import annotations

import sys

import pytest

from app import cli
from app.core.reports import results_table
from app.core.runs.ray_engine import INSTALL_HINT, contains_key, sha256_keys


def test_engine_ray_without_ray_says_how_to_install(monkeypatch, tmp_path, mni_png, capsys):
    for name in ("ray", "ray.data"):
        monkeypatch.setitem(sys.modules, name, None)  # `import ray` now fails as if it were not installed
    code = cli.main([str(mni_png), "--engine", "ray", "--out", str(tmp_path / "r.csv"), "--no-audit"])
    assert code == cli.EXIT_USAGE
    assert INSTALL_HINT in capsys.readouterr().err
    assert "brainlens[cluster]" in INSTALL_HINT
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("argv, words", [
    (["--out", "r.csv"], "only work with --engine ray"),
    (["--engine", "ray"], "--out FILE.csv or FILE.parquet"),
    (["--engine", "ray", "--out", "r.json"], "must end in .csv or .parquet"),
    (["--engine", "ray", "--out", "r.csv", "--json", "r.json"], "--json are not available with --engine ray"),
])
def test_cluster_usage_errors_are_specific(argv, words, mni_png, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(mni_png), *argv]) == cli.EXIT_USAGE
    assert words in capsys.readouterr().err


def test_digest_keys_find_exactly_the_digests_given():
    digests = [f"{i:064x}" for i in (0, 5, 2**200, 7)] + ["00" * 31 + "10"]
    keys = sha256_keys(digests + digests[:2])  # duplicates collapse
    assert len(keys) == 5
    for digest in digests:
        assert contains_key(keys, bytes.fromhex(digest))
    for other in (1, 6, 2**200 + 1):
        assert not contains_key(keys, bytes.fromhex(f"{other:064x}"))
    assert not contains_key(sha256_keys([]), bytes(32))


def test_a_torn_last_csv_row_is_cut_before_appending(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"path,status\r\na.jpg,ok\r\nb.jpg,o")
    results_table.drop_partial_last_line(path)
    assert path.read_bytes() == b"path,status\r\na.jpg,ok\r\n"
    results_table.drop_partial_last_line(path)  # a whole file stays as it is
    assert path.read_bytes() == b"path,status\r\na.jpg,ok\r\n"


def test_parquet_holds_the_csv_values_typed_and_reads_back_as_the_csv_text(tmp_path):
    pa = pytest.importorskip("pyarrow")
    classes = ("glioma", "notumor")
    columns = results_table.csv_columns(classes)
    ok = dict.fromkeys(columns, "") | {"path": "a.jpg", "status": "ok", "predicted_class": "glioma",
                                         "confidence": "0.8734", "prob_glioma": "0.8734", "prob_notumor": "0.1266",
                                         "p_tumour": "0.8734", "image_sha256": "ab" * 32, "model_sha256": "m"}
    error = dict.fromkeys(columns, "") | {"path": "b.dcm", "slice": "3", "status": "error", "error": "cut short",
                                            "model_sha256": "m"}
    writer = results_table.open_table_writer(tmp_path / "r.parquet", classes, "m", resume=False)
    writer.write(pa.Table.from_pylist([ok, error], schema=pa.schema([(c, pa.string()) for c in columns])))
    writer.close()
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "r.parquet")
    assert table.schema.field("confidence").type == pa.float64()
    assert table.schema.field("slice").type == pa.int32()
    assert table.column("confidence").to_pylist() == [0.8734, None]
    assert list(results_table.read_rows(tmp_path / "r.parquet")) == [ok, error]
    done = results_table.done_scans(tmp_path / "r.parquet", "m")
    assert done.rows == 2 and done.unreadable == frozenset({"b.dcm"})
    assert contains_key(done.sha256, bytes.fromhex("ab" * 32))
    assert results_table.done_scans(tmp_path / "r.parquet", "another model").rows == 0


def test_resuming_into_a_file_of_other_columns_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("path,status\na.jpg,ok\n")
    with pytest.raises(results_table.ResultsFileError, match="other columns"):
        results_table.open_table_writer(path, ("glioma",), "m", resume=True)
    assert path.read_text() == "path,status\na.jpg,ok\n"
