"""benchmarks/el_link_forms.py: every form it times computes the link's sum and gradients."""

import numpy as np
import pytest
import tensorflow as tf

from el_zoo.layers import ElasticLink
from tests.conftest import benchmark_script

RNG = np.random.default_rng(0)


def link_forms():
    return benchmark_script("el_link_forms")


def random(*shape):
    return RNG.standard_normal(shape).astype("float32")


# identity, Expand, Squeeze by 2 with a stride, a ratio that is not an integer
@pytest.mark.parametrize("x_shape, y_shape", [
    ((2, 6, 6, 8), (2, 6, 6, 8)), ((2, 6, 6, 32), (2, 6, 6, 128)),
    ((2, 7, 7, 64), (2, 4, 4, 32)), ((2, 5, 5, 48), (2, 5, 5, 32)),
])
def test_every_timed_form_gives_the_inference_forms_values_and_gradients(x_shape, y_shape):
    forms = link_forms()
    x, y = tf.constant(random(*x_shape)), tf.constant(random(*y_shape))
    link = ElasticLink()
    link([x, y])
    link.gamma.assign(random(*link.gamma.shape))
    upstream = tf.constant(random(*y_shape))
    results = {}
    for label, form in {**forms.FORMS, **forms.REJECTED_FORMS}.items():
        gradients = forms.link_step(link, form)(x, y, upstream)  # of x, conv_out, gamma
        results[label] = [form(link, x, y), *gradients]
    expected = results.pop("inference form")
    for label, values in results.items():
        for value, reference in zip(values, expected):
            np.testing.assert_allclose(value.numpy(), reference.numpy(), rtol=1e-4, atol=1e-4,
                                       err_msg=label)
