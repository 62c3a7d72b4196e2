"""The one place that imports TensorFlow's Keras, and checks that it is Keras 2."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

keras = tf.keras

if not keras.layers.Layer.__module__.startswith("tf_keras"):
    raise ImportError(
        "el_zoo needs Keras 2 (the tf-keras package), but tf.keras resolved to Keras 3. "
        "Larq and Larq Compute Engine only work with Keras 2. Fix: set the environment "
        "variable TF_USE_LEGACY_KERAS=1 before TensorFlow is imported (for example "
        "`export TF_USE_LEGACY_KERAS=1`, or import el_zoo before tensorflow) and make sure "
        "`pip install 'tf-keras==2.16.*'` is installed."
    )
