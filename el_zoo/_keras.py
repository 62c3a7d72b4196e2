"""The one place that imports TensorFlow's Keras, and checks that it is Keras 2.

``el_zoo/__init__.py`` has selected Keras 2 (TF_USE_LEGACY_KERAS=1) before this runs.
"""

import tensorflow as tf
from tensorflow.python.autograph.core import config as autograph_config

from el_zoo._tensorflow import SET_LEGACY_KERAS, keras_2_error

keras = tf.keras

if not keras.layers.Layer.__module__.startswith("tf_keras"):
    raise keras_2_error(
        "tf.keras resolved to Keras 3",
        f"install it (`pip install 'tf-keras==2.16.*'`) and {SET_LEGACY_KERAS}",
    )


def _keras_2_runs_as_written_in_tf_functions():
    """Tells AutoGraph not to convert Keras 2's own code (``tf_keras``), as TensorFlow 2.16
    already does for ``keras`` and later TensorFlow releases do for ``tf_keras`` too.

    Why: AutoGraph rewrites every Python function a ``tf.function`` calls unless a rule
    exempts its module. TensorFlow 2.16 exempts ``keras`` but not ``tf_keras``, so every
    trace of a train, test or predict step re-parsed and rewrote Keras' training loop,
    optimizer, functional model and layer ``__call__``s: most of the start-up of a short
    training run. Keras 2 is written to run unconverted (it did as ``keras``); el_zoo's and
    Larq's layers are still converted (Keras converts their ``call``), so trained weights
    are the same either way.
    """
    rule = autograph_config.DoNotConvert("tf_keras")
    if not any(str(existing) == str(rule) for existing in autograph_config.CONVERSION_RULES):
        autograph_config.CONVERSION_RULES = (rule, *autograph_config.CONVERSION_RULES)


_keras_2_runs_as_written_in_tf_functions()


def weight_name(weight):
    """A layer weight's own name, without its layer's scope and the tensor index:
    ``"stage1_block1_bn/moving_variance:0"`` -> ``"moving_variance"`` (the key Keras 2 gives
    it in a layer's ``weights``, whatever scope the layer was built in)."""
    return weight.name.split("/")[-1].split(":")[0]
