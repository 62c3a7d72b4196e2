"""What each Elastic-Link of a model costs a training step, in the form inference computes
(tile, group mean, multiply by gamma, add) and in the form training computes
(``el_zoo.layers.linked_sum_for_training``).

    python benchmarks/el_link_forms.py resnet26_el mobilenet_v1_el --threads 1

Every ``ElasticLink`` of the model (32x32 inputs, cifar stem, width 0.25) runs alone on
random tensors of its shapes at batch 128: forward, then the gradients of its inputs and
its gamma. The two forms alternate in timed windows of ``--steps`` calls, in one process,
so that drifting machine load hits both alike; the table gives each link's median ms and
the totals. Printed, not written to a report: it compares the two forms, and the training
speed they give is ``benchmarks/train_throughput.py``'s to report.

``--also`` adds forms that were tried for the training form and rejected, timed in the same
windows: ``matrix`` (every link as one matmul with its channel matrix times gamma, which the
training form does only up to ``MATMUL_MAX_CHANNELS`` input channels) and ``xla`` (the
training form compiled with XLA, ``jit_compile=True``).

    python benchmarks/el_link_forms.py resnet26_el --threads 1 --also matrix xla
"""

import argparse
import statistics
import time

import el_zoo  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import numpy as np
import tensorflow as tf
from el_zoo.benchmark import set_threads
from el_zoo.layers import (
    ElasticLink,
    channel_matrix,
    linked_sum_for_training,
    per_position_matmul,
    squeeze_spatial,
)

BATCH = 128


def inference_form(link, x_real, conv_out):
    return link([x_real, conv_out], training=False)


def training_form(link, x_real, conv_out):
    return link([x_real, conv_out], training=True)


def matrix_form(link, x_real, conv_out):
    x = squeeze_spatial(x_real, link.pool_stride)
    matrix = tf.constant(channel_matrix(int(x.shape[-1]), link.channels_out)) * link.gamma
    return conv_out + per_position_matmul(x, matrix)


@tf.function(jit_compile=True)
def _compiled_training_sum(conv_out, x_real, gamma, stride, channels_out):
    return linked_sum_for_training(conv_out, x_real, gamma, stride, channels_out)


def xla_form(link, x_real, conv_out):
    return _compiled_training_sum(conv_out, x_real, link.gamma, link.pool_stride,
                                  link.channels_out)


FORMS = {"inference form": inference_form, "training form": training_form}
REJECTED_FORMS = {"matrix": matrix_form, "xla": xla_form}


def model_links(name):
    model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    return [layer for layer in model.layers if isinstance(layer, ElasticLink)]


def link_step(link, form):
    """One forward and backward pass of ``link`` computed by ``form``."""

    @tf.function
    def step(x_real, conv_out, upstream):
        with tf.GradientTape() as tape:
            tape.watch([x_real, conv_out])
            out = form(link, x_real, conv_out)
        return tape.gradient(out, [x_real, conv_out, link.gamma], output_gradients=upstream)

    return step


def time_link(link, forms, windows, steps, rng):
    x_shape, out_shape = ((BATCH, *shape[1:]) for shape in link.input_shape)
    tensors = [tf.constant(rng.standard_normal(shape, np.float32))
               for shape in (x_shape, out_shape, out_shape)]
    calls = {label: link_step(link, form) for label, form in forms.items()}
    for call in calls.values():
        call(*tensors)  # trace
    times = {label: [] for label in forms}
    for window in range(windows):
        for label in (list(forms) if window % 2 == 0 else list(forms)[::-1]):
            started = time.perf_counter()
            for _ in range(steps):
                gradients = calls[label](*tensors)
            gradients[0].numpy()
            times[label].append(1000 * (time.perf_counter() - started) / steps)
    return {label: statistics.median(values) for label, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="zoo names of models with Elastic-Link")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--also", nargs="*", default=[], choices=sorted(REJECTED_FORMS),
                        help="also time these rejected training forms")
    args = parser.parse_args(argv)
    forms = {**FORMS, **{label: REJECTED_FORMS[label] for label in args.also}}
    set_threads(args.threads)
    rng = np.random.default_rng(0)
    for name in args.models:
        print(f"| {name} link | x_real -> conv_out | "
              + " | ".join(f"{label} (ms)" for label in forms) + " |")
        print("|---|---|" + "---|" * len(forms))
        totals = dict.fromkeys(forms, 0.0)
        for link in model_links(name):
            medians = time_link(link, forms, args.windows, args.steps, rng)
            shapes = " -> ".join("x".join(map(str, shape[1:])) for shape in link.input_shape)
            print(f"| {link.name} | {shapes} | "
                  + " | ".join(f"{medians[label]:.1f}" for label in forms) + " |", flush=True)
            for label in forms:
                totals[label] += medians[label]
        print(f"| total | | " + " | ".join(f"{totals[label]:.0f}" for label in forms) + " |\n")


if __name__ == "__main__":
    main()
