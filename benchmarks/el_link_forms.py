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
"""

import argparse
import statistics
import time

import el_zoo  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import numpy as np
import tensorflow as tf
from el_zoo.layers import ElasticLink

FORMS = {"inference form": False, "training form": True}
BATCH = 128


def model_links(name):
    model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    return [layer for layer in model.layers if isinstance(layer, ElasticLink)]


def link_step(link, training):
    """One forward and backward pass of ``link`` in the form ``training`` selects."""

    @tf.function
    def step(x_real, conv_out, upstream):
        with tf.GradientTape() as tape:
            tape.watch([x_real, conv_out])
            out = link([x_real, conv_out], training=training)
        return tape.gradient(out, [x_real, conv_out, link.gamma], output_gradients=upstream)

    return step


def time_link(link, windows, steps, rng):
    x_shape, out_shape = ((BATCH, *shape[1:]) for shape in link.input_shape)
    tensors = [tf.constant(rng.standard_normal(shape, np.float32))
               for shape in (x_shape, out_shape, out_shape)]
    calls = {label: link_step(link, training) for label, training in FORMS.items()}
    for call in calls.values():
        call(*tensors)  # trace
    times = {label: [] for label in FORMS}
    for window in range(windows):
        for label in (list(FORMS) if window % 2 == 0 else list(FORMS)[::-1]):
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
    args = parser.parse_args(argv)
    for set_threads in (tf.config.threading.set_intra_op_parallelism_threads,
                        tf.config.threading.set_inter_op_parallelism_threads):
        set_threads(args.threads)
    rng = np.random.default_rng(0)
    for name in args.models:
        print(f"| {name} link | x_real -> conv_out | "
              + " | ".join(f"{label} (ms)" for label in FORMS) + " |")
        print("|---|---|" + "---|" * len(FORMS))
        totals = dict.fromkeys(FORMS, 0.0)
        for link in model_links(name):
            medians = time_link(link, args.windows, args.steps, rng)
            shapes = " -> ".join("x".join(map(str, shape[1:])) for shape in link.input_shape)
            print(f"| {link.name} | {shapes} | "
                  + " | ".join(f"{medians[label]:.1f}" for label in FORMS) + " |", flush=True)
            for label in FORMS:
                totals[label] += medians[label]
        print(f"| total | | " + " | ".join(f"{totals[label]:.0f}" for label in FORMS) + " |\n")


if __name__ == "__main__":
    main()
