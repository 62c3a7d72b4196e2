"""Checks the fused op against ``el_zoo.layers.linked_sum_for_training`` on every link shape
of the given models (batch 8, 32x32, cifar stem, width 0.25): the sum and the gradients of
conv_out, x_real and gamma (tf.GradientTape, random upstream gradient, random gamma).

    python benchmarks/fused_link/check.py resnet26s_el resnet26_el
"""

import argparse
import sys

import el_zoo  # noqa: F401

import numpy as np
import tensorflow as tf
from el_zoo.layers import ElasticLink, linked_sum_for_training

from fused_link import fused_linked_sum_for_training


def link_specs(name):
    model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    return [(link.name, tuple(link.input_shape[0][1:]), tuple(link.input_shape[1][1:]),
             link.pool_stride) for link in model.layers if isinstance(link, ElasticLink)]


# shapes no zoo model has: the general channel match (lcm of C_in, C_out above both) and a
# scalar gamma (ElasticLinkOptions gamma="scalar")
OTHER_SPECS = [("general 6->4", (8, 8, 6), (8, 8, 4), 1),
               ("general 4->6", (8, 8, 4), (8, 8, 6), 1),
               ("general 6->4 stride 2", (9, 9, 6), (5, 5, 4), 2)]


# the largest worst_error accepted: float32 reductions in another order differ by about 1e-6
TOLERANCE = 1e-5


def sum_and_gradients(form, conv_out, x_real, gamma, stride, upstream):
    with tf.GradientTape() as tape:
        tape.watch([conv_out, x_real, gamma])
        out = form(conv_out, x_real, gamma, stride, int(conv_out.shape[-1]))
    return [out, *tape.gradient(out, [conv_out, x_real, gamma], output_gradients=upstream)]


def worst_error(reference, fused):
    """max |fused - reference| / (max |reference| + 1e-12): scaled to the tensor's size."""
    reference, fused = reference.numpy(), fused.numpy()
    return float(np.max(np.abs(fused - reference)) / (np.max(np.abs(reference)) + 1e-12))


def spec_errors(spec, batch, scalar_gamma, rng):
    """``worst_error`` of the sum and of the gradients of conv_out, x_real and gamma (in that
    order), fused op against ``linked_sum_for_training``, on random tensors of ``spec``
    ((x_real shape, conv_out shape, stride), without the batch) at ``batch``.

    Example:
        ```python
        spec_errors(((8, 8, 4), (8, 8, 8), 1), 2, False, np.random.default_rng(0))
        ```
    """
    x_shape, out_shape, stride = spec
    x_real, conv_out, upstream = (
        tf.constant(rng.standard_normal((batch, *shape), np.float32))
        for shape in (x_shape, out_shape, out_shape))
    gamma = tf.constant(rng.standard_normal(() if scalar_gamma else out_shape[-1:],
                                            np.float32))
    return [worst_error(r, f) for r, f in zip(
        sum_and_gradients(linked_sum_for_training, conv_out, x_real, gamma, stride, upstream),
        sum_and_gradients(fused_linked_sum_for_training, conv_out, x_real, gamma, stride,
                          upstream))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    failures = 0
    specs = [(name, spec) for name in args.models for spec in link_specs(name)]
    specs += [("other", spec) for spec in OTHER_SPECS]
    for scalar_gamma in (False, True):
        for name, (link, x_shape, out_shape, stride) in specs:
            if scalar_gamma and name != "other":
                continue
            errors = spec_errors((x_shape, out_shape, stride), args.batch, scalar_gamma, rng)
            ok = max(errors) <= args.tolerance
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} {link} {x_shape}"
                  f"{' scalar gamma' if scalar_gamma else ''} -> {out_shape} "
                  f"stride {stride}: max rel. error out {errors[0]:.1e}, d conv_out "
                  f"{errors[1]:.1e}, d x {errors[2]:.1e}, d gamma {errors[3]:.1e}")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
