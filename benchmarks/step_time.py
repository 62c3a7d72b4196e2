"""Per-step training time of a zoo model on CIFAR-10 (32x32, cifar stem, width 0.25, batch
128, 2 threads by default), timed inside ``fit`` by a callback.

    python benchmarks/step_time.py resnet26 resnet26_el resnet26_el:after_bn --data-dir ../shared/data

Why it exists: on this 2-core machine each short ``model.fit`` call took a whole multiple of
about 5.12 s (windows of exactly 499, 250, 125, 62.5 img/s for very different models and
batch sizes), although its steps added up to less. The cause was tf.data's autotuner:
deleting an autotuned iterator waits for the autotuner's next wake-up, 10 ms x (2^k - 1)
after the iterator was made (see ``el_zoo.data.pipeline_options``, which now turns it off,
and ``benchmarks/data_autotune.py``). The median step time printed here never included
that wait. ``NAME:after_bn`` adds the Elastic-Link after the BN.
"""

import argparse
import statistics
import time

from el_zoo import data  # first: it sets TF_USE_LEGACY_KERAS before TensorFlow loads

import el_zoo
import tensorflow as tf
from el_zoo.benchmark import set_threads


class StepTimer(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.started)


def build(spec):
    name, _, position = spec.partition(":")
    extra = {"elastic_link": {"position": position}} if position else {}
    model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25, **extra)
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="zoo names, NAME:after_bn for that EL option")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    images, labels, _ = data.load_split("cifar10", "train", data_dir=args.data_dir,
                                        limit=128 * args.steps)
    dataset = data.array_dataset(images, labels, batch_size=128, training=True,
                                 augment="cifar").repeat()
    for spec in args.models:
        model = build(spec)
        model.fit(dataset, epochs=1, steps_per_epoch=5, verbose=0)  # tracing
        timer, walls = StepTimer(), []
        for _ in range(args.windows):
            started = time.perf_counter()
            model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0,
                      callbacks=[timer])
            walls.append(time.perf_counter() - started)
        step = statistics.median(timer.times)
        print(f"{spec}: median step {1000 * step:.0f} ms = {128 / step:.0f} img/s; whole fit "
              f"calls: {', '.join(f'{args.steps * 128 / w:.0f}' for w in walls)} img/s",
              flush=True)


if __name__ == "__main__":
    main()
