"""The one place that imports TensorFlow's Keras, and checks that it is Keras 2.

``el_zoo/__init__.py`` has selected Keras 2 (TF_USE_LEGACY_KERAS=1) before this runs.
"""

import tensorflow as tf

from el_zoo._tensorflow import SET_LEGACY_KERAS, keras_2_error

keras = tf.keras

if not keras.layers.Layer.__module__.startswith("tf_keras"):
    raise keras_2_error(
        "tf.keras resolved to Keras 3",
        f"install it (`pip install 'tf-keras==2.16.*'`) and {SET_LEGACY_KERAS}",
    )
