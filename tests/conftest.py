"""Shared fixtures: the data folder, real images, small model configurations, random-
weight models whose parity with their conversion does not depend on the machine, and facts
(of builds, of published models) computed once per test run."""

import contextlib
import functools
import hashlib
import importlib.util
import os
import pickle
import re
import tempfile
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import el_zoo  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from el_zoo._keras import keras
from el_zoo.convert import OUTPUT_TOLERANCE
from el_zoo.data import DATA_ENV
from el_zoo.provenance import REPOSITORY

REPO = REPOSITORY  # the repository's root: the tests run its tools and read its files
# A small configuration every family accepts: 32x32 images, cifar stem, quarter width.
SMALL = {"input_shape": (32, 32, 3), "stem": "cifar", "classes": 10, "width_multiplier": 0.25}


class BuildFacts(NamedTuple):
    """What tests read off a built model, without the model: its ``el_zoo.profile`` (read
    only), input and output shapes, and how many Elastic-Links it has."""
    profile: types.MappingProxyType
    input_shape: tuple
    output_shape: tuple
    links: int


@functools.lru_cache(maxsize=None)
def build_facts(name, **config):
    """``BuildFacts`` of ``el_zoo.load(name, **config)`` (``config``'s values hashable: an
    ``input_shape`` is a tuple), built once per test run (``shared_fact``).

    Why: the default (224x224) builds of every family take seconds each, and the EL cost
    table, the default-build test and the cost tests read the same facts off them, on
    either worker of a parallel run. Only these facts are shared, never a Keras model: they
    are functions of the architecture alone, so no test can change what another one reads.

    Example:
        ```python
        assert build_facts("resnet18").output_shape == (None, 1000)
        ```
    """
    def build():
        from el_zoo import ElasticLink

        model = el_zoo.load(name, **config)
        return {"profile": el_zoo.profile(model), "input_shape": tuple(model.input_shape),
                "output_shape": tuple(model.output_shape),
                "links": sum(isinstance(layer, ElasticLink) for layer in model.layers)}

    facts = shared_fact(("build_facts", name, sorted(config.items())), build)
    return BuildFacts(**{**facts, "profile": types.MappingProxyType(facts["profile"])})


def benchmark_script(name):
    """The script ``benchmarks/<name>.py`` as a module, loaded by path (benchmarks/ holds
    scripts, not a package); a new module each call, so its module-level lists (the families
    it measures) are read from the registry as it is then."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What ``git_commit`` gives in ``dirty_work_tree``: a commit with uncommitted changes.
DIRTY_COMMIT = "709eda8+dirty"


@pytest.fixture
def dirty_work_tree(monkeypatch):
    """The repository as a work tree with uncommitted changes (``git_commit`` gives
    ``DIRTY_COMMIT``), entered at its root as its tools are run: a tool's default report,
    in reports/, is then refused (``el_zoo.provenance.report_commit``)."""
    from el_zoo import provenance

    monkeypatch.setattr(provenance, "git_commit", lambda *args, **kwargs: DIRTY_COMMIT)
    monkeypatch.chdir(REPO)


def assert_refused_as_dirty(run, capsys, out, option="--out"):
    """``run()``, a tool's main in ``dirty_work_tree``, exits with one line (exit 2, as the
    repo's tools refuse: ``<prog>: error: ...``, no usage) naming ``out``, the report it
    would write into reports/, and the fix (``option`` elsewhere). The test patches the
    tool's measuring to fail: it stops before it."""
    with pytest.raises(SystemExit) as exited:
        run()
    error = capsys.readouterr().err
    assert exited.value.code == 2, error
    assert error.count("\n") == 1 and ": error: " in error and "usage:" not in error, error
    assert f"error: {out} would record commit {DIRTY_COMMIT} (uncommitted changes" in error
    assert f"commit your changes first, or write elsewhere with {option} /tmp/" in error


def pytest_xdist_auto_num_workers(config):
    """How many processes `-n auto` (pyproject's addopts) starts: one per core, at most four.

    Each worker imports TensorFlow and builds its own models (about a gigabyte each), and
    the minute-long tests (training, conversion) keep a core busy, so more workers than
    cores only add memory. PYTEST_XDIST_AUTO_NUM_WORKERS overrides the count: returning
    None hands the call on to pytest-xdist's own hook, which reads it."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return max(1, min(os.cpu_count() or 1, 4))


def pytest_configure(config):
    """In each worker of a parallel run (pytest-xdist, more than one worker): TensorFlow runs
    each op on one thread, in the worker and in the processes its tests start (they inherit
    TF_NUM_INTRAOP_THREADS).

    Why: by default every process sizes its op thread pool to all cores, so two workers on
    two cores ran four busy threads, which spin and take cores from each other; the workers
    already keep every core busy. The pool that runs ops concurrently (inter-op) keeps its
    default: collective ops of multi-worker training wait on each other in it. A serial run
    (`-n 0`) keeps TensorFlow's defaults."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) < 2:
        return
    import tensorflow as tf

    os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
    tf.config.threading.set_intra_op_parallelism_threads(1)


def data_folder():
    """Where the tests' data are: $EL_ZOO_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir():
    """The data folder (``data_folder``); in CI a missing folder fails."""
    candidate = data_folder()
    if not candidate.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the data folder {candidate} (set {DATA_ENV}).")
        pytest.skip(f"no data folder at {candidate}; set {DATA_ENV} to run this test")
    return candidate


@pytest.fixture(scope="session", autouse=True)
def data_env():
    """Points $EL_ZOO_DATA at the data folder for code that reads it (e.g. convert's check)."""
    if data_folder().is_dir():
        os.environ[DATA_ENV] = str(data_folder())


@pytest.fixture(autouse=True)
def seeded(request):
    """Seeds Python's, NumPy's and TensorFlow's random generators before each test
    (``keras.utils.set_random_seed(0)``), and makes a test module's own generator ``RNG``
    (a ``np.random.default_rng(0)``) anew.

    Why: without it a test that builds random weights or draws random data got the
    generators in whatever state the tests before it on its worker left them (worksteal
    changes that order from run to run, and in-process trainings seed them): its verdict
    could depend on what ran before (test_layers' training-form test once failed so on one
    CPU). A test that seeds itself is unchanged."""
    keras.utils.set_random_seed(0)
    if isinstance(getattr(request.module, "RNG", None), np.random.Generator):
        request.module.RNG = np.random.default_rng(0)


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
    activations far from unit scale; calibrated statistics make it behave like a trained
    one. Some binarized values still sit within float rounding of zero: a parity test
    also calls ``clear_binarizations_of_zero``.
    """
    import tensorflow as tf

    from el_zoo import data

    images, _, _ = data.load_split("cifar10", "train", data_dir=data_dir, limit=64)
    images = tf.constant(images.astype("float32"))

    def calibrate(model, steps=30):
        # one traced function for the steps: 30 eager passes paid Python's per-layer cost
        # 30 times (a model of 150-300 layers), one trace pays it once. Each call still
        # moves the statistics by BN's momentum (0.9): 30 steps take them 96 % of the way
        # (10 steps: 65 %).
        forward = tf.function(lambda x: model(x, training=True))
        for _ in range(steps):
            forward(images)
        return model

    return calibrate


def tiny_binary_model(softmax=True, activation=None):
    """A four-layer binarized net (float stem, one binary 1x1 conv, head) for tests of
    conversion mechanics: it converts in ~3 s where a quarter-width zoo model takes ~15 s.
    Per-family conversion is tested on the real models (test_family_converts...). Its
    initial weights are seeded, so every call builds the same model. Its head's activation
    is "softmax", None without ``softmax``, or ``activation`` when given."""
    import larq as lq
    import tensorflow as tf

    seeded = tf.keras.initializers.GlorotUniform
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Rescaling(1 / 255)(inputs)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, use_bias=False,
                               kernel_initializer=seeded(seed=0))(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(16, 1, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", use_bias=False,
                              kernel_initializer=seeded(seed=1))(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    if activation is None:
        activation = "softmax" if softmax else None
    outputs = tf.keras.layers.Dense(10, activation=activation,
                                    kernel_initializer=seeded(seed=2))(x)
    return tf.keras.Model(inputs, outputs, name="tiny_binary")


def small_backbone():
    """A seeded quarter-width resnet18_el backbone (``SMALL``, include_top=False,
    pooling="avg"): an el_zoo model to put a new head on, built in a second or two."""
    keras.utils.set_random_seed(0)
    return el_zoo.load("resnet18_el", **{**SMALL, "classes": None}, include_top=False,
                       pooling="avg")


class SubclassedHead(keras.Model):
    """A subclassed model, as one writes a fine-tuned classifier outside Keras' functional
    API: a two-class softmax head on ``backbone`` (an el_zoo model without its top), which
    its ``call()`` calls on the images after ``preprocess`` (a function, ``x / 255``, or a
    layer kept as an attribute, ``Rescaling(1 / 255)``; None: the images as they are).
    No graph records what its ``call()`` does."""

    def __init__(self, backbone, preprocess=None, **kwargs):
        super().__init__(**kwargs)
        self.preprocess = preprocess
        self.backbone = backbone
        self.head = keras.layers.Dense(2, activation="softmax")

    def call(self, images, training=None):
        x = images if self.preprocess is None else self.preprocess(images)
        return self.head(self.backbone(x, training=False))


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


# How far from zero every value a random-weight test model binarizes must lie on its test
# images, as a fraction of the RMS of its tensor (see clear_binarizations_of_zero). The
# binarized tensors of one model differ between TF's oneDNN and Eigen kernels by at most
# 1.4e-6 of that RMS, and its logits between Keras and the LCE interpreter by 2e-6 of
# their scale (measured on resnet18, resnet26, reactnet_a, mobilenet_v1_el), so 1e-4
# leaves a factor of 70.
BINARIZATION_MARGIN = 1e-4


class Binarized:
    """A real-valued tensor that a model binarizes (``alpha``: RSign's, which it subtracts
    first: sign(x - alpha)), and the per-channel variable that moves it: the alpha, else
    the beta of a BN that adds to it (directly, or through an ``Add``, a pooling or an
    Elastic-Link)."""

    def __init__(self, tensor, layer, alpha=None):
        self.tensor, self.layer, self.alpha = tensor, layer, alpha

    @property
    def sign(self):
        """The name of ``layer``'s attribute that takes the sign of the values (Larq's
        ``input_quantizer``, RSign's ``_sign``, which gets ``x - alpha``)."""
        return "input_quantizer" if self.alpha is None else "_sign"

    def values(self, tensor_values):
        """The values whose sign the model takes, from the tensor's values."""
        return tensor_values - self.alpha.numpy() if self.alpha is not None else tensor_values

    def shift(self, amounts):
        """Adds ``amounts`` (one per channel) to the values whose sign the model takes."""
        if self.alpha is not None:
            self.alpha.assign_add(-amounts)
        else:
            _added_offset(self.tensor).assign_add(amounts)


def _added_offset(tensor):
    """The beta of the batch norm whose output is ``tensor`` or its first summand (an
    ``Add``'s first input, an Elastic-Link's ``conv_out`` when it is added unscaled)."""
    from el_zoo.layers import ElasticLink

    layer = tensor._keras_history.layer
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.beta
    if isinstance(layer, keras.layers.Add):
        return _added_offset(layer.input[0])
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        return _added_offset(layer.input)  # pooling commutes with a per-channel shift
    if isinstance(layer, ElasticLink) and layer.conv is None and not layer.activation_scaling:
        return _added_offset(layer.input[1])
    raise ValueError(f"no per-channel offset adds to the output of {layer.name!r}")


def binarized_tensors(model):
    """Every real-valued tensor ``model`` binarizes (input quantizers and RSign), in
    topological order."""
    from el_zoo.layers import RSign

    found = []
    for layer in model.layers:
        if isinstance(layer, RSign):
            found.append(Binarized(layer.input, layer, layer.alpha))
        elif getattr(layer, "input_quantizer", None) is not None:
            found.append(Binarized(layer.input, layer))
    hidden = [layer.name for layer in model.submodules
              if getattr(layer, "input_quantizer", None) is not None
              and not any(layer is top for top in model.layers)]
    if hidden:
        raise ValueError(f"binarizations inside other layers are not reachable: {hidden}")
    return found


def _clearing_shift(values, margin):
    """The shift of least size after which no value lies within ``margin`` of zero: zero
    must land in a gap between sorted values that is at least 2 * margin wide."""
    ordered = np.sort(values.astype(np.float64))
    low = np.concatenate([[-np.inf], ordered]) + margin
    high = np.concatenate([ordered, [np.inf]]) - margin
    fits = low <= high
    points = np.clip(0.0, low[fits], high[fits])
    return -points[np.argmin(np.abs(points))]


def _rms(values):
    return float(np.sqrt(np.mean(np.square(values, dtype=np.float64))))


def binarized_values(model, sites, traced=True):
    """A function of images: the values at each of ``sites`` (``binarized_tensors(model)``)
    whose signs ``model`` takes, in inference mode. ``traced``: computed by a traced
    function, which pays Python's per-layer cost once for all calls (a trace costs about
    as much as two eager calls); False: by eager calls, for a single call."""
    import tensorflow as tf

    probe = keras.Model(model.inputs, [site.tensor for site in sites])
    forward = tf.function(lambda x: probe(x, training=False)) if traced else (
        lambda x: probe(x, training=False))

    def values(images):
        outputs = forward(tf.constant(np.asarray(images, np.float32)))
        return [site.values(output.numpy()) for site, output in zip(sites, outputs)]

    return values


def clear_binarizations_of_zero(model, images, margin=BINARIZATION_MARGIN):
    """Shifts BN betas (RSign alphas) per channel so that, on ``images``, no value the
    model binarizes lies within ``margin`` times its tensor's RMS of zero; in place.

    Why: Keras and the LCE interpreter compute the real-valued ops (stem, BN, shortcuts)
    with different kernels, and TF's own kernels depend on the CPU (oneDNN where it has
    AVX512_VNNI/BF16 or AMX, else Eigen). A value within float rounding of zero can then
    binarize differently on another machine and, in a random-weight net, move the
    logits by O(1). After clearing, both engines take the same signs on every machine
    and a parity check on these images fails only for a real conversion error. The
    shifts are tiny (a few ``margin`` times the RMS), so the model stays what it was.
    """
    sites = binarized_tensors(model)
    forward = binarized_values(model, sites)
    for index, site in enumerate(sites):  # in order: a shift changes every later tensor
        values = forward(images)[index]
        channels = values.reshape(-1, values.shape[-1]).T
        wide = 2 * margin * _rms(values)  # twice the margin: beta rounds to float32
        shifts = [_clearing_shift(channel, wide) for channel in channels]
        site.shift(np.asarray(shifts, np.float32))
    for site, values in zip(sites, forward(images)):
        closest = np.abs(values).min() / _rms(values)
        assert closest >= margin, f"{site.tensor.name}: {closest:.2e} of its RMS from zero"
    return model


@pytest.fixture
def cleared_loads(monkeypatch):
    """``el_zoo.load`` (as ``convert`` and the CLI call it) clears every model it builds
    on ``convert``'s verification images, so a random-weight model converted by name
    passes or fails its parity check alike on every machine."""
    import importlib

    from el_zoo import builder
    from el_zoo.convert import verification_images

    load = builder.load

    def load_cleared(*args, **kwargs):
        model = load(*args, **kwargs)
        return clear_binarizations_of_zero(model, verification_images(model))

    # where it is looked up: the module (the CLI imports it when a command runs), convert's
    # own name (the package exports the function convert under the module's name), el_zoo
    monkeypatch.setattr(builder, "load", load_cleared)
    monkeypatch.setattr(importlib.import_module("el_zoo.convert"), "load", load_cleared)
    monkeypatch.setattr(el_zoo, "load", load_cleared)


@contextlib.contextmanager
def near_zero_signs_flipped(sites, thresholds):
    """Inside this block, each of ``sites`` takes the other sign of its values that lie
    within its ``thresholds`` entry of zero (eager calls of the model only: a function
    Keras traced before keeps the signs it traced)."""
    import tensorflow as tf

    originals = [getattr(site.layer, site.sign) for site in sites]

    def flipping(sign, threshold):
        def flipped(values):
            other_side = tf.where(values >= 0, -threshold, threshold)  # sign(0) is +1
            return sign(tf.where(tf.abs(values) < threshold, other_side, values))
        return flipped

    try:
        for site, sign, threshold in zip(sites, originals, thresholds):
            setattr(site.layer, site.sign, flipping(sign, float(threshold)))
        yield
    finally:
        for site, sign in zip(sites, originals):
            setattr(site.layer, site.sign, sign)


def assert_same_logits(expected, actual, tolerance=OUTPUT_TOLERANCE):
    """Two forms of one model agree on ``expected``'s images: the same top-1 on every image,
    and every output within ``tolerance`` of the largest output."""
    difference, scale = np.abs(actual - expected).max(), np.abs(expected).max()
    assert np.array_equal(actual.argmax(-1), expected.argmax(-1)), (difference, scale)
    assert difference <= tolerance * scale, (difference, scale)


def assert_interpreter_takes_models_top1(flatbuffer, model, images, name):
    """The converted file takes the Keras model's top-1 on every image. Checked by eager
    calls, not by convert's check: its ``model.predict`` first traces the model, at more
    CPU cost than computing a few dozen images."""
    from el_zoo.convert import interpreter_outputs

    expected = model(images, training=False).numpy().argmax(-1)
    agreement = np.mean(interpreter_outputs(flatbuffer, images).argmax(-1) == expected)
    assert agreement == 1.0, (f"{name}'s .tflite disagrees with Keras: top-1 agreement "
                              f"{agreement:.1%} of {len(images)} images")


def images_with_machine_independent_top1(model, images, margin=BINARIZATION_MARGIN,
                                         at_least=2 / 3):
    """Those of ``images`` on which ``model``'s top-1 does not depend on the signs of the
    values it binarizes within ``margin`` times their tensor's RMS of zero: the top-1 is
    the same when every such value takes the other sign. At least ``at_least`` of them
    must remain (asserted), so the choice cannot empty a test: of 40 CIFAR-10 or
    Imagenette test images, 75 % to 95 % remain for the published models.

    Why: the signs of those values are what Keras on another CPU (oneDNN or Eigen
    kernels) and the LCE interpreter may round otherwise. For random-weight models
    ``clear_binarizations_of_zero`` moves them away from zero; a trained model's weights
    must stay as published, and on every image some of its binarized values lie that close
    to zero (measured on 40 test images of each published model: a median of 10 to 570
    values per image within 1e-4 of the RMS, none of the images without one), so the
    images are chosen instead: deterministically, from the model's own outputs. On them
    Keras and the interpreter must agree exactly, on every machine. The choice is a fact of
    the model (its architecture and weights) and the images, made once per test run
    (``shared_fact``): tests/test_fold.py and tests/test_published.py make it for the same
    published models and images.
    """
    images = np.asarray(images, np.float32)
    # what the choice is a function of: the model's configuration (without the numbers
    # Keras and Larq add to names in each process: a quantizer's "ste_sign_53"), weights
    # and the images
    configuration = re.sub(r'("name": "[^"]*?)_\d+"', r'\1"', model.to_json())
    digest = hashlib.sha256(f"{configuration} {images.shape}".encode())
    for array in (*model.get_weights(), images):
        digest.update(np.ascontiguousarray(array).tobytes())
    kept = shared_fact(("machine_independent_top1", model.name, digest.hexdigest(), margin),
                       lambda: _machine_independent_top1(model, images, margin))
    assert len(kept) >= at_least * len(images), (
        f"{model.name}: only {len(kept)} of {len(images)} images keep their top-1 when the "
        f"values binarized within {margin} of their RMS of zero take the other sign")
    return images[kept]


def _machine_independent_top1(model, images, margin):
    """The indices of ``images_with_machine_independent_top1``'s images."""
    sites = binarized_tensors(model)
    values = binarized_values(model, sites, traced=False)(images)  # one call: eager
    thresholds = [margin * _rms(site_values) for site_values in values]
    top1 = model(images, training=False).numpy().argmax(-1)
    with near_zero_signs_flipped(sites, thresholds):
        flipped_top1 = model(images, training=False).numpy().argmax(-1)
    return np.flatnonzero(top1 == flipped_top1)


def link_positions(model):
    """{"after_bn"} or {"before_bn"}: what each ElasticLink is added to, read from the graph."""
    from el_zoo.layers import ElasticLink

    positions = set()
    for layer in model.layers:
        if isinstance(layer, ElasticLink):
            partner = layer.inbound_nodes[0].inbound_layers[1]
            positions.add("after_bn" if "BatchNormalization" in type(partner).__name__
                          else "before_bn")
    return positions


# ------------------------------------------------------------ random-weight family models
def randomize_links(model, seed=0):
    """Gammas of both signs on every Elastic-Link of ``model`` (in place), so that folding
    must flip weights and keep some multiplies; a model without links is unchanged."""
    from el_zoo.layers import ElasticLink

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, ElasticLink):
            layer.gamma.assign(rng.normal(0.0, 0.5, layer.gamma.shape).astype("float32"))
    return model


class FamilyFacts(NamedTuple):
    """What ``random_weight_family`` computed of a random-weight model: its weights (as
    ``get_weights`` gives them), its conversion with links as trained (flatbuffer bytes), how
    many binary convs it has (Larq layers with a kernel quantizer), its logits on the images
    (Keras, inference mode), and of a model with links its folded form's
    (``el_zoo.fold.fold_elastic_links``) logits and how many links that form has left (None
    for a model without links)."""
    weights: list
    flatbuffer: bytes
    binary_convs: int
    logits: np.ndarray
    folded_logits: np.ndarray
    links_left_by_folding: int


def random_weight_family(name, images, calibrate):
    """``FamilyFacts`` of registered model ``name`` at ``SMALL`` (logits: no classifier
    activation), seeded, its links' gammas randomized (``randomize_links``), its BN
    statistics calibrated (``calibrate``: the ``calibrate_batch_norm`` fixture, 10 steps) and
    its binarizations cleared of zero on ``images`` (``clear_binarizations_of_zero``), made
    once per test run (``shared_fact``).

    Why: each of these models takes half a minute to build, calibrate and convert, and three
    tests read the same model: tests/test_convert.py its conversion's parity, tests/
    test_fold.py its folded form's, tests/test_deploy.py its conversion's ops (against the
    floor built from its weights). Only facts are shared, never a Keras model.

    The conversion keeps the links as trained: the same float ops in both engines. Folded
    links reassociate sums, so on random weights a pre-activation within rounding of zero
    can binarize either way; tests/test_fold.py checks folding through LCE on the published
    (trained) models.
    """
    images = np.asarray(images, np.float32)

    def compute():
        import tensorflow as tf

        from el_zoo.convert import convert
        from el_zoo.fold import fold_elastic_links
        from el_zoo.layers import ElasticLink

        keras.utils.set_random_seed(0)
        model = el_zoo.load(name, **SMALL, classifier_activation=None)  # compare logits
        # 10 steps move BN's statistics 65 % of the way (30: 96 %), enough: measured on
        # every model test_convert converts, the conversion's logits differ from Keras' by
        # at most 2.1e-6 of their largest (1/48 of OUTPUT_TOLERANCE), the folded form's by
        # 3.5e-7, and every top-1 leads the second by 1700 times the difference or more
        calibrate(randomize_links(model), steps=10)
        clear_binarizations_of_zero(model, images)  # the same signs in Keras and LCE on any CPU
        facts = {"weights": model.get_weights(),
                 "flatbuffer": convert(model, verify_images=0, fold=False),
                 "binary_convs": sum(bool(getattr(layer, "kernel_quantizer", None))
                                     for layer in model.layers),
                 # eager calls: model.predict would first trace the model, at more CPU cost
                 # than computing these images
                 "logits": model(tf.constant(images), training=False).numpy(),
                 "folded_logits": None, "links_left_by_folding": None}
        if any(isinstance(layer, ElasticLink) for layer in model.layers):
            folded = fold_elastic_links(model)
            facts["folded_logits"] = folded(tf.constant(images), training=False).numpy()
            facts["links_left_by_folding"] = sum(isinstance(layer, ElasticLink)
                                                 for layer in folded.layers)
        return facts

    key = ("random_weight_family", name, hashlib.sha256(images.tobytes()).hexdigest())
    return FamilyFacts(**shared_fact(key, compute))


# ----------------------------------------------------------------------------- toy family
@pytest.fixture
def toy_family():
    """The toy family (``tests/toy.py``) registered for one test; the registry forgets it
    afterwards, so no other test sees it. A process the test starts sees it through
    ``python -m tests.toy_cli``."""
    from tests.toy import registered

    with registered() as family:
        yield family


# ---------------------------------------------------------------------------- shared facts
# The folder in which the processes of this test run share facts (set by the session
# fixture shared_facts_folder); None outside a test session.
SHARED_FACTS = None


def shared_fact(key, compute):
    """``compute()``, a picklable value that depends only on ``key`` (a repr-able tuple),
    computed once per test run: the first process to need it leaves it in a file of
    ``SHARED_FACTS``, which the others (the workers of a parallel run) read instead.

    Example:
        ```python
        squares = shared_fact(("squares", 4), lambda: [i * i for i in range(4)])
        ```
    """
    if SHARED_FACTS is None:
        return compute()
    stored = SHARED_FACTS / f"{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}.pickle"
    if stored.exists():
        return pickle.loads(stored.read_bytes())
    value = compute()
    # written whole, then renamed: a reader never sees part of a file
    with tempfile.NamedTemporaryFile(dir=SHARED_FACTS, delete=False) as temporary:
        pickle.dump(value, temporary)
    os.replace(temporary.name, stored)
    return value


@pytest.fixture(scope="session", autouse=True)
def shared_facts_folder(tmp_path_factory):
    """Sets ``SHARED_FACTS`` (``shared_fact``): a folder in this run's temporary folder,
    which every worker of a parallel run shares (pytest-xdist makes each worker's own
    folder inside it) and no other run sees (pytest makes a new one per run)."""
    global SHARED_FACTS
    base = tmp_path_factory.getbasetemp()
    run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    SHARED_FACTS = run / "shared_facts"
    SHARED_FACTS.mkdir(exist_ok=True)
    yield SHARED_FACTS
    SHARED_FACTS = None
