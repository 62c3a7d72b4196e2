"""import el_zoo selects Keras 2 before TensorFlow loads, or fails clearly."""

import os
import subprocess
import sys


def run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_import_el_zoo_first_gives_keras_2():
    result = run_python(
        "import el_zoo, os, tensorflow as tf;"
        "print(os.environ['TF_USE_LEGACY_KERAS'], tf.keras.layers.Layer.__module__)"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "tf_keras.src.engine.base_layer"]


def test_keras_3_is_a_clear_import_error():
    result = run_python("import el_zoo", TF_USE_LEGACY_KERAS="0")
    assert result.returncode != 0
    assert "needs Keras 2" in result.stderr and "TF_USE_LEGACY_KERAS=1" in result.stderr
