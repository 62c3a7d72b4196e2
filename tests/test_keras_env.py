"""import el_zoo selects Keras 2 before TensorFlow loads, or fails clearly."""

import os
import subprocess
import sys

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
