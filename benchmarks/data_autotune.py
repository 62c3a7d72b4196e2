"""What tf.data's autotuner costs a multi-epoch ``fit`` on this machine: the same short
training (CIFAR-10, cifar stem, width 0.25, batch 128, validation every epoch) with the
autotuner on and off, each in a fresh process.

    python benchmarks/data_autotune.py --data-dir ../shared/data --out reports/data_autotune.md

el_zoo's pipelines run with the autotuner off (``el_zoo.data.pipeline_options``): in TF 2.16,
deleting an autotuned iterator waits for the autotuner's next wake-up (10 ms x (2^k - 1)
after the iterator was made, then every 60 s), and Keras deletes one at the end of every
epoch, validation pass and ``fit`` call. Per epoch this records the time inside training
steps, the validation pass, and the idle gap before the next epoch begins.
"""

import argparse
import json
import time

from el_zoo import data  # first: it sets TF_USE_LEGACY_KERAS before TensorFlow loads

import el_zoo
import tensorflow as tf
from el_zoo.benchmark import add_one_option, answer_one, run_in_fresh_process, set_threads
from el_zoo.provenance import (markdown_footer, report_commit_or_exit, report_path, run_info,
                               write_report)

MODES = ("autotune on", "autotune off (el_zoo default)")


class EpochTimer(tf.keras.callbacks.Callback):
    """Wall-clock marks of every epoch: steps (sum of batch times), validation, and the gap
    between one epoch's end and the next one's beginning (after the last: until now)."""

    def __init__(self):
        super().__init__()
        self.epochs, self.marks = [], {}

    def on_epoch_begin(self, epoch, logs=None):
        now = time.perf_counter()
        if self.epochs:
            self.epochs[-1]["gap_after_s"] = now - self.marks["epoch_end"]
        self.marks = {"epoch_begin": now, "steps": 0.0}

    def on_train_batch_begin(self, batch, logs=None):
        self.marks["batch_begin"] = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.marks["steps"] += time.perf_counter() - self.marks["batch_begin"]

    def on_test_begin(self, logs=None):
        self.marks["test_begin"] = time.perf_counter()

    def on_test_end(self, logs=None):
        self.marks["test_end"] = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.marks["epoch_end"] = now = time.perf_counter()
        self.epochs.append({"steps_s": self.marks["steps"],
                            "validation_s": self.marks["test_end"] - self.marks["test_begin"],
                            "epoch_s": now - self.marks["epoch_begin"]})

    def finish(self):
        self.epochs[-1]["gap_after_s"] = time.perf_counter() - self.marks["epoch_end"]
        return self.epochs


def timed_fit(options):
    """Runs one ``fit`` and returns per-epoch timings (seconds) and the whole call's."""
    set_threads(options["threads"])
    tf.keras.utils.set_random_seed(0)
    images, labels, _ = data.load_split("cifar10", "train", data_dir=options["data_dir"],
                                        limit=options["train_images"] + options["val_images"])
    train_part = images[:options["train_images"]], labels[:options["train_images"]]
    val_part = images[options["train_images"]:], labels[options["train_images"]:]
    train = data.array_dataset(*train_part, batch_size=128, training=True, augment="cifar")
    validation = data.array_dataset(*val_part, batch_size=256, training=False)
    if options["autotune"]:
        tuned = tf.data.Options()
        tuned.autotune.enabled = True
        train, validation = train.with_options(tuned), validation.with_options(tuned)
    model = el_zoo.load(options["model"], input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    timer = EpochTimer()
    started = time.perf_counter()
    model.fit(train, validation_data=validation, epochs=options["epochs"], verbose=0,
              callbacks=[timer])
    return {"fit_s": time.perf_counter() - started, "epochs": timer.finish()}


def to_markdown(results, info, args):
    lines = [
        "# tf.data autotuner on and off in a multi-epoch fit", "",
        f"`{args.model}`, CIFAR-10 (lossy JPEG copy), width 0.25, batch 128, "
        f"{args.train_images} training images, validation on {args.val_images} every epoch, "
        f"{args.epochs} epochs, threads: {args.threads}; each mode in a fresh process. "
        "Epoch 1 includes tracing. \"gap after\" is the idle time between an epoch's end "
        "and the next epoch's start (after the last epoch: until `fit` returns). "
        f"{info['note']}", "",
        "| mode | epoch | steps (s) | validation (s) | epoch (s) | gap after (s) |",
        "|---|---|---|---|---|---|"]
    for mode, result in results.items():
        for number, epoch in enumerate(result["epochs"], 1):
            lines.append(f"| {mode} | {number} | {epoch['steps_s']:.1f} | "
                         f"{epoch['validation_s']:.1f} | {epoch['epoch_s']:.1f} | "
                         f"{epoch['gap_after_s']:.1f} |")
    lines += ["", "| mode | whole `fit` (s) | of which gaps (s) | epochs 2+ (s per epoch, "
              "incl. gap) |", "|---|---|---|---|"]
    for mode, result in results.items():
        later = result["epochs"][1:]
        per_epoch = sum(e["epoch_s"] + e["gap_after_s"] for e in later) / max(len(later), 1)
        gaps = sum(e["gap_after_s"] for e in result["epochs"])
        lines.append(f"| {mode} | {result['fit_s']:.1f} | {gaps:.1f} | {per_epoch:.1f} |")
    lines += markdown_footer(info)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="resnet26_el")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-images", type=int, default=6400)
    parser.add_argument("--val-images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", default="", help="conditions to record, e.g. other load")
    parser.add_argument("--out", default=report_path("data_autotune.md"))
    add_one_option(parser)
    args = parser.parse_args(argv)
    if args.one:
        return answer_one(args.one, timed_fit)
    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    base = {key: getattr(args, key) for key in
            ("data_dir", "model", "epochs", "train_images", "val_images", "threads")}
    results = {}
    for mode in MODES:
        results[mode] = run_in_fresh_process(__file__, {**base, "autotune": mode == MODES[0]})
        print(mode, json.dumps(results[mode]), flush=True)
    info = {**run_info(started, commit), "note": args.note}
    write_report(args.out, to_markdown(results, info, args), {"results": results, **info})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
