"""Training throughput (img/s) of every family with and without Elastic-Link at 32x32, and
the measured effect of the speedups we tried (XLA ``jit_compile``, the data pipeline,
threads, batch size), on this machine.

    python benchmarks/train_throughput.py --data-dir ../shared/data --out benchmarks/train_throughput.md

Each configuration runs in a fresh process (thread settings are per process): build the
model (cifar stem, width 0.25, 10 classes), compile with Adam, run ``--warmup`` steps
(tracing), then time ``--steps`` training steps. The input is the real CIFAR-10 pipeline
(pad-crop + flip, shuffled) unless the configuration says "in-memory batch", which feeds one
pre-made batch repeatedly to show what the data pipeline costs.
"""

import argparse
import json
import subprocess
import sys
import time

FAMILIES = ("resnet18", "resnet26", "mobilenet_v1", "reactnet_a")
# (label, options) of the speedup experiments, each on resnet26 and resnet26_el
EXPERIMENTS = (
    ("default (2 threads, batch 128)", {}),
    ("jit_compile=True", {"jit_compile": True}),
    ("in-memory batch (no input pipeline)", {"in_memory": True}),
    ("1 thread", {"threads": 1}),
    ("batch 256", {"batch_size": 256}),
    ("width 1.0 instead of 0.25", {"width": 1.0}),
)


def measure_one(options):
    """img/s of one configuration, in this process."""
    import el_zoo
    import numpy as np
    import tensorflow as tf
    from el_zoo import data

    if options.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(options["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(options["threads"])
    batch = options.get("batch_size", 128)
    tf.keras.utils.set_random_seed(0)
    model = el_zoo.load(options["model"], input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=options.get("width", 0.25))
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  jit_compile=options.get("jit_compile", False))
    images, labels, _ = data.load_split("cifar10", "train", data_dir=options["data_dir"],
                                        limit=batch * 20)
    if options.get("in_memory"):
        x, y = tf.constant(images[:batch], tf.float32), tf.constant(labels[:batch])
        dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    else:
        dataset = data.array_dataset(images, labels, batch_size=batch, training=True,
                                     augment="cifar").repeat()
    warmup, steps = options["warmup"], options["steps"]
    model.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0)
    started = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds = time.perf_counter() - started
    return {"img_per_s": round(steps * batch / seconds, 1), "seconds": round(seconds, 1)}


def run_isolated(options):
    command = [sys.executable, __file__, "--one", json.dumps(options)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{options} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def to_markdown(families, experiments, info, args):
    lines = [
        "# Training throughput", "",
        f"32x32 CIFAR-10 inputs, cifar stem, width 0.25, Adam; {args.warmup} warm-up steps "
        f"then {args.steps} timed steps, each configuration in a fresh process. {info['note']}",
        "", "## Every family, with and without Elastic-Link (defaults: 2 threads, batch 128, "
        "real input pipeline)", "",
        "| family | no EL (img/s) | EL (img/s) | EL / no EL |", "|---|---|---|---|"]
    for family, r in families.items():
        lines.append(f"| {family} | {r['plain']:.0f} | {r['el']:.0f} | "
                     f"{r['el'] / r['plain']:.2f} |")
    lines += ["", "## Speedups tried (resnet26 / resnet26_el)", "",
              "| configuration | resnet26 (img/s) | resnet26_el (img/s) | EL / no EL | "
              "resnet26_el vs default |", "|---|---|---|---|---|"]
    default = experiments[EXPERIMENTS[0][0]]["el"]
    for label, r in experiments.items():
        lines.append(f"| {label} | {r['plain']:.0f} | {r['el']:.0f} | "
                     f"{r['el'] / r['plain']:.2f} | {r['el'] / default:.2f}x |")
    lines += ["", f"Command: `{info['command']}`  ", f"Commit: `{info['git_commit']}`  ",
              f"Machine: {info['machine']}  ",
              f"Date: {info['date']}; wall time {info['wall_time_s'] / 60:.1f} min", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--note", default="", help="conditions to record, e.g. other load")
    parser.add_argument("--out", default="benchmarks/train_throughput.md")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(json.loads(args.one))))
        return
    sys.path.insert(0, ".")
    from el_zoo.atomic import write_text_atomically
    from el_zoo.provenance import git_commit, run_info

    started, commit = time.time(), git_commit()
    base = {"data_dir": args.data_dir, "warmup": args.warmup, "steps": args.steps}
    families = {}
    for family in args.families:
        families[family] = {
            "plain": run_isolated({**base, "model": family})["img_per_s"],
            "el": run_isolated({**base, "model": f"{family}_el"})["img_per_s"]}
        print(family, families[family], flush=True)
    experiments = {}
    for label, options in EXPERIMENTS:
        if not options and "resnet26" in families:
            experiments[label] = families["resnet26"]
            continue
        experiments[label] = {
            "plain": run_isolated({**base, **options, "model": "resnet26"})["img_per_s"],
            "el": run_isolated({**base, **options, "model": "resnet26_el"})["img_per_s"]}
        print(label, experiments[label], flush=True)
    info = {**run_info(started, commit), "note": args.note}
    write_text_atomically(args.out, to_markdown(families, experiments, info, args))
    write_text_atomically(args.out.replace(".md", ".json"), json.dumps(
        {"families": families, "experiments": experiments, **info}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
