"""import el_zoo selects Keras 2 before TensorFlow loads, or fails clearly."""

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest


def run_python(code, **env):
    """Python CODE in a fresh process (this checkout's el_zoo), TF_USE_LEGACY_KERAS unset."""
    from tests.conftest import REPO

    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, cwd=REPO, timeout=300)


# What the process of ``el_zoo_then_tensorflow`` writes to stderr once TensorFlow is imported.
IMPORTED = "-- tensorflow imported --"


@pytest.fixture(scope="module")
def el_zoo_then_tensorflow():
    """One fresh process for three claims below (each fresh process pays a TensorFlow
    start-up of about 5 s): it imports el_zoo, then TensorFlow with TensorFlow's C++ log
    lines on (TF_CPP_MIN_LOG_LEVEL=0), writes ``IMPORTED`` to stderr, then lists the models
    and imports the modules named like functions of the API. Returns the finished process;
    it must succeed."""
    result = run_python(
        "import el_zoo, os, sys, tensorflow as tf\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'], tf.keras.layers.Layer.__module__)\n"
        f"print({IMPORTED!r}, file=sys.stderr, flush=True)\n"
        "el_zoo.list_models()\n"
        "import el_zoo.convert, el_zoo.evaluate, el_zoo.profile\n"
        "print(callable(el_zoo.convert), callable(el_zoo.evaluate), callable(el_zoo.profile))",
        TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_import_el_zoo_first_gives_keras_2(el_zoo_then_tensorflow):
    first_line = el_zoo_then_tensorflow.stdout.splitlines()[0]
    assert first_line.split() == ["1", "tf_keras.src.engine.base_layer"]


def test_keras_3_is_a_clear_import_error():
    result = run_python("import el_zoo", TF_USE_LEGACY_KERAS="0")
    assert result.returncode != 0
    assert "needs Keras 2" in result.stderr and "TF_USE_LEGACY_KERAS=1" in result.stderr


def test_tensorflow_imported_first_is_one_clear_import_error():
    result = run_python("import tensorflow\nimport el_zoo")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: el_zoo needs Keras 2 (the tf-keras package), but "
                           "TensorFlow was imported before el_zoo without TF_USE_LEGACY_KERAS=1")
    assert "Fix: import el_zoo before tensorflow, or set the environment variable " \
           "TF_USE_LEGACY_KERAS=1 before TensorFlow is imported" in last
    assert "LegacyOptimizerWarning" not in result.stderr


def test_tensorflow_imported_first_with_legacy_keras_works():
    result = run_python("import tensorflow\nimport el_zoo\nprint(el_zoo.keras.__name__)",
                        TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["tf_keras.api._v2.keras"]


def printed(code):
    """The lines ``code`` prints in a fresh process; it must succeed."""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()


def test_import_el_zoo_loads_tensorflow_only_when_used():
    # listing models needs no TensorFlow (behaviour change: it loaded it before); the layers do
    assert printed(
        "import sys, el_zoo\n"
        "print('tensorflow' in sys.modules)\n"
        "print(el_zoo.list_models('resnet18'), 'tensorflow' in sys.modules)\n"
        "print(el_zoo.ElasticLink.__name__, 'tensorflow' in sys.modules)"
    ) == ["False", "['resnet18'] False", "ElasticLink True"]


def test_tensorflow_loads_without_its_registration_noise(el_zoo_then_tensorflow):
    # TF_CPP_MIN_LOG_LEVEL=0: TensorFlow's own C++ log lines pass; only the three
    # "Unable to register cuFFT/cuDNN/cuBLAS factory" errors are dropped.
    import_lines, imported, _ = el_zoo_then_tensorflow.stderr.partition(IMPORTED)
    assert imported and "Unable to register" not in import_lines


NOISE = (b"2026-01-01 00:00:00.000000: E external/local_xla/xla/stream_executor/cuda/"
         b"cuda_fft.cc:479] Unable to register cuFFT factory: Attempting to register factory "
         b"for plugin cuFFT when one has already been registered\n")


def test_the_stderr_filter_drops_only_the_registration_lines():
    result = run_python(
        "import os, sys\n"
        "from el_zoo._tensorflow import REGISTRATION_NOISE, stderr_without\n"
        "with stderr_without(REGISTRATION_NOISE):\n"
        f"    os.write(2, {NOISE!r})\n"
        "    os.write(2, b'E a real error from C++\\n')\n"
        "    print('a Python warning', file=sys.stderr)\n"
        f"    os.write(2, {NOISE.replace(b'cuFFT', b'cuDNN')!r})\n"
        "    os.write(2, b'no newline at the end')\n"
        "print('after', file=sys.stderr)\n"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ("E a real error from C++\na Python warning\n"
                             "no newline at the endafter\n")


def test_api_functions_stay_functions_when_their_module_is_imported_first(
        el_zoo_then_tensorflow):
    # el_zoo.evaluate is a function of the API and the name of its module: importing the
    # module (as training.publish does) after listing models, before anything used the API,
    # must not replace the function
    assert el_zoo_then_tensorflow.stdout.splitlines()[1:] == ["True True True"]


def test_autograph_leaves_keras_2_as_written_and_converts_the_zoos_layers():
    # TensorFlow 2.16 exempts `keras`, not `tf_keras`, from AutoGraph: every trace of a
    # train step rewrote Keras' own training loop (el_zoo/_keras.py exempts it too)
    from tensorflow.python.autograph.impl import conversion

    from el_zoo._keras import keras
    from el_zoo.layers import ElasticLink

    assert conversion.is_allowlisted(keras.Model.train_step)
    assert conversion.is_allowlisted(keras.optimizers.Adam.apply_gradients)
    assert not conversion.is_allowlisted(ElasticLink.call)


# ------------------------------------------- Keras' own load_model after `import el_zoo`
# A fresh process loads these, as a user's later program does (np.save'd: its input, and the
# outputs of the model that was saved).
SAVED_FORMS = ("model.keras", "model.h5", "savedmodel")
LOADS = (
    "import numpy as np\n"
    "import el_zoo\n"
    "import tensorflow as tf\n"
    "x = np.load({folder!r} + '/x.npy')\n"
    "expected = np.load({folder!r} + '/outputs.npy')\n"
    "for form in {forms!r}:\n"
    "    model = tf.keras.models.load_model({folder!r} + '/' + form)\n"
    "    print(form, np.array_equal(model(x, training=False).numpy(), expected))\n"
)


@pytest.fixture(scope="module")
def saved_toy_model():
    """A toy model (tests/toy.py: Standardize, Larq's binary convs, two ElasticLinks) saved
    whole in each of SAVED_FORMS, with an input and its outputs; returns the folder.

    Saved once per test run, in the folder where its processes share facts
    (``tests.conftest.SHARED_FACTS``): the workers of a parallel run both ran this module's
    tests and each saved its own (about 5 s, most of it the SavedModel); the processes the
    tests start only read the files."""
    import numpy as np

    import el_zoo
    from tests import conftest
    from tests.toy import registered

    folder = conftest.SHARED_FACTS / "saved_toy_model"
    if folder.is_dir():
        return str(folder)
    staging = Path(tempfile.mkdtemp(dir=conftest.SHARED_FACTS))
    with registered():
        model = el_zoo.load("toy_net_el", input_shape=(8, 8, 3), stem="cifar", classes=3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.save(staging / "x.npy", x)
    np.save(staging / "outputs.npy", model(x, training=False).numpy())
    with warnings.catch_warnings():  # Keras calls .h5 legacy; users save it all the same
        warnings.filterwarnings("ignore", "You are saving your model as an HDF5 file")
        for form in SAVED_FORMS:
            model.save(staging / form)
    try:  # whole, or not at all: the other worker's folder if it renamed its own first
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging)
    return str(folder)


def test_keras_own_load_model_reads_an_el_zoo_model_saved_whole(saved_toy_model):
    # was `TypeError: 'str' object is not callable` (.keras), `Unknown layer: 'Standardize'`
    # (.h5), and a SavedModel revived without el_zoo's layers, whose outputs differed:
    # `import el_zoo` imports no TensorFlow, so its layers were not registered yet
    result = run_python(LOADS.format(folder=saved_toy_model, forms=SAVED_FORMS))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f"{form} True" for form in SAVED_FORMS]
    assert "could not register" not in result.stderr


@pytest.mark.parametrize("first", [
    "import tf_keras",  # Keras 2 by its own name
    "import larq",  # imports tf.keras inside its own import
    "import el_zoo.fold",  # imports el_zoo.layers, then larq, inside its own import
    "el_zoo.keras",  # el_zoo's API: el_zoo._keras, then the layers
    "import importlib.util\nimportlib.util.find_spec('tensorflow')",  # asks, imports nothing
    "import os\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\nimport tensorflow\nimport el_zoo",
])
def test_keras_own_load_model_works_whatever_loads_tensorflow_first(first, saved_toy_model):
    # registering waits for the first import of TensorFlow, Keras, Larq or el_zoo's layers
    # to finish, so none of them is imported again from inside itself or found half imported
    code = f"import el_zoo\n{first}\n" + LOADS.format(folder=saved_toy_model,
                                                      forms=SAVED_FORMS[:1])
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["model.keras True"]
    assert "could not register" not in result.stderr


def test_a_failure_to_register_the_layers_leaves_the_import_of_tensorflow_standing():
    result = run_python(
        "import sys, el_zoo\n"
        "sys.modules['larq'] = None  # Larq cannot be imported\n"
        "import tensorflow as tf\n"
        "print(int(tf.constant(2) * 3))\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["6"]
    warned = [line for line in result.stderr.splitlines() if "could not register" in line]
    assert len(warned) == 1 and warned[0].startswith("<string>:3: RuntimeWarning: el_zoo ")
    assert "import of larq halted" in warned[0]
    assert warned[0].endswith("load a saved el_zoo model with el_zoo.keras.models.load_model")


def test_every_el_zoo_module_that_registers_a_keras_object_is_registered_on_import():
    # a module registering a new layer must be imported by the hook, or
    # tf.keras.models.load_model would not know that layer after `import el_zoo`
    from el_zoo._tensorflow import CUSTOM_OBJECT_MODULES, KERAS_ENTRIES
    from tests.conftest import REPO

    registering = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "el_zoo").rglob("*.py")
        if "register_keras_custom_object" in path.read_text()
        or "register_keras_serializable" in path.read_text())
    assert sorted(CUSTOM_OBJECT_MODULES) == registering
    assert set(CUSTOM_OBJECT_MODULES) <= set(KERAS_ENTRIES)


def test_a_found_keras_module_keeps_its_loaders_interface_before_it_is_imported():
    # importlib.util.find_spec("tensorflow") after `import el_zoo` (a library checking what
    # is installed, runpy, pkgutil) gets el_zoo's wrapping loader: it must still answer as the
    # real one (get_filename, is_package), without importing anything
    result = run_python(
        "import sys, importlib.util, el_zoo\n"
        "for name in ('tensorflow', 'tf_keras', 'larq'):\n"
        "    loader = importlib.util.find_spec(name).loader\n"
        "    print(name, loader.is_package(name), loader.get_filename(name).endswith('.py'))\n"
        "print('tensorflow' in sys.modules)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["tensorflow", "True", "True", "tf_keras", "True", "True",
                                     "larq", "True", "True", "False"]
