"""Shared fixtures: the data folder, real images, small model configurations."""

import os
from pathlib import Path

import pytest

import el_zoo  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

REPO = Path(__file__).resolve().parent.parent
# A small configuration every family accepts: 32x32 images, cifar stem, quarter width.
SMALL = {"input_shape": (32, 32, 3), "stem": "cifar", "classes": 10, "width_multiplier": 0.25}


def pytest_xdist_auto_num_workers(config):
    """How many processes `-n auto` (pyproject's addopts) starts: one per core, at most four.

    Each worker imports TensorFlow and builds its own models (about a gigabyte each), and
    the minute-long tests (training, conversion) keep a core busy, so more workers than
    cores only add memory. PYTEST_XDIST_AUTO_NUM_WORKERS overrides the count: returning
    None hands the call on to pytest-xdist's own hook, which reads it."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return max(1, min(os.cpu_count() or 1, 4))


@pytest.fixture(scope="session")
def data_dir():
    """$EL_ZOO_DATA, else ../shared/data beside the repo; in CI a missing folder fails."""
    candidate = Path(os.environ.get("EL_ZOO_DATA") or REPO.parent / "shared" / "data")
    if not candidate.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the data folder {candidate} (set EL_ZOO_DATA).")
        pytest.skip(f"no data folder at {candidate}; set EL_ZOO_DATA to run this test")
    return candidate


@pytest.fixture(scope="session", autouse=True)
def data_env():
    """Points EL_ZOO_DATA at the data folder for code that reads it (e.g. convert's check)."""
    candidate = os.environ.get("EL_ZOO_DATA") or str(REPO.parent / "shared" / "data")
    if Path(candidate).is_dir():
        os.environ["EL_ZOO_DATA"] = candidate


@pytest.fixture(scope="session")
def cifar_images(data_dir):
    """Ten real CIFAR-10 test images (one per class) as float32 in [0, 255], and labels."""
    from el_zoo import data

    images, labels, _ = data.load_split("cifar10", "test", data_dir=data_dir, limit=10)
    return images.astype("float32"), labels


@pytest.fixture(scope="session")
def calibrate_batch_norm(data_dir):
    """Sets a model's BN moving statistics from real CIFAR-10 train images, in place.

    A randomly initialised net with BN's default statistics (mean 0, variance 1) drives
    activations far from unit scale, so many pre-activations sit within float rounding
    of a sign flip; calibrated statistics make the net behave like a trained one.
    """
    from el_zoo import data

    images, _, _ = data.load_split("cifar10", "train", data_dir=data_dir, limit=64)
    images = images.astype("float32")

    def calibrate(model, steps=30):
        for _ in range(steps):
            model(images, training=True)
        return model

    return calibrate


def tiny_binary_model(softmax=True):
    """A four-layer binarized net (float stem, one binary 1x1 conv, head) for tests of
    conversion mechanics: it converts in ~3 s where a quarter-width zoo model takes ~15 s.
    Per-family conversion is tested on the real models (test_family_converts...)."""
    import larq as lq
    import tensorflow as tf

    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Rescaling(1 / 255)(inputs)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(16, 1, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10, activation="softmax" if softmax else None)(x)
    return tf.keras.Model(inputs, outputs, name="tiny_binary")


def _unwritable_folder(tmp_path):
    """A folder that takes no new files: a read-only one, or for root (whom permissions do
    not stop) /sys, where Linux creates no files for anyone."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        return folder
    if not Path("/sys").is_dir():
        pytest.skip("running as root without /sys: no folder here refuses new files")
    return Path("/sys")


@pytest.fixture(params=["existing folder", "parent is a file", "unwritable folder"])
def unwritable_path(request, tmp_path):
    """(an output path el_zoo cannot write a file at, what its error message says)."""
    if request.param == "existing folder":
        return tmp_path, f"{tmp_path} is a folder; give the path of a file to write in it."
    if request.param == "parent is a file":
        (tmp_path / "notes.txt").write_text("a file")
        return (tmp_path / "notes.txt" / "m.tflite",
                f"{tmp_path / 'notes.txt'} is a file, not a folder; choose another path.")
    folder = _unwritable_folder(tmp_path)
    output = folder / "sub" / "m.tflite"
    return output, f"cannot write {output}: {folder} takes no new files"
