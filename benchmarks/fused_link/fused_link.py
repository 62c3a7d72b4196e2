"""The fused Elastic-Link training sum (``elastic_link_op.cc``) as a drop-in for
``el_zoo.layers.linked_sum_for_training``: a feasibility measurement, not a feature.

Build the op first: ``sh benchmarks/fused_link/build.sh``. Then

    from fused_link import fused_linked_sum_for_training, patched

``patched()`` swaps it into ``el_zoo.layers`` (where ``ElasticLink.call`` looks it up) for
models built and traced inside the ``with``.
"""

import contextlib
from pathlib import Path

import el_zoo  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import tensorflow as tf
from el_zoo import layers
from el_zoo.layers import squeeze_spatial

LIBRARY = Path(__file__).with_name("elastic_link_op.so")


def _load():
    if not LIBRARY.is_file():
        raise SystemExit(f"{LIBRARY} is missing: run sh benchmarks/fused_link/build.sh first")
    return tf.load_op_library(str(LIBRARY))


ops = _load()


@tf.RegisterGradient("ElasticLinkSum")
def _elastic_link_sum_grad(op, dy):
    """conv_out's gradient is dy itself; x's and gamma's come from one fused pass."""
    grad_x, grad_gamma = ops.elastic_link_sum_grad(dy, op.inputs[1], op.inputs[2])
    return dy, grad_x, grad_gamma


def fused_linked_sum_for_training(conv_out, x_real, gamma, stride, channels_out):
    """``linked_sum_for_training`` with the channel match, gamma and add in one fused op
    (and its gradient in one more); the stride-2 spatial Squeeze stays a TF avg pool.

    Arguments: those of ``el_zoo.layers.linked_sum_for_training``.

    Example:
        ```python
        y = fused_linked_sum_for_training(conv_out, x, link.gamma, 1, 64)
        ```
    """
    x = squeeze_spatial(x_real, stride)
    gamma = tf.broadcast_to(tf.convert_to_tensor(gamma, conv_out.dtype), [channels_out])
    return ops.elastic_link_sum(conv_out, x, gamma)


@contextlib.contextmanager
def patched():
    """Within the ``with``, ``ElasticLink`` trains through the fused op."""
    original = layers.linked_sum_for_training
    layers.linked_sum_for_training = fused_linked_sum_for_training
    try:
        yield
    finally:
        layers.linked_sum_for_training = original
