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
    ("width 1.0 instead of 0.25", {"width": 1.0, "steps": 5, "repeats": 2}),
)


def build_and_warm(name, options, dataset):
    import el_zoo
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=options.get("width", 0.25))
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  jit_compile=options.get("jit_compile", False))
    model.fit(dataset, epochs=1, steps_per_epoch=options["warmup"], verbose=0)
    return model


def measure_pair(options):
    """img/s of ``family`` and ``family_el`` in this process: both built and warmed up, then
    timed in alternating windows (A B B A A B ...) so that drifts in machine speed hit both
    alike; returns every window's img/s."""
    from el_zoo import data  # first: it sets TF_USE_LEGACY_KERAS before TensorFlow loads
    import tensorflow as tf

    if options.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(options["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(options["threads"])
    batch = options.get("batch_size", 128)
    images, labels, _ = data.load_split("cifar10", "train", data_dir=options["data_dir"],
                                        limit=batch * 20)
    if options.get("in_memory"):
        x, y = tf.constant(images[:batch], tf.float32), tf.constant(labels[:batch])
        dataset = tf.data.Dataset.from_tensors((x, y)).repeat().with_options(
            data.pipeline_options())  # like every el_zoo pipeline: no autotuner pauses
    else:
        dataset = data.array_dataset(images, labels, batch_size=batch, training=True,
                                     augment="cifar").repeat()
    family = options["family"]
    models = {"plain": build_and_warm(family, options, dataset),
              "el": build_and_warm(f"{family}_el", options, dataset)}
    speeds = {"plain": [], "el": []}
    for round_index in range(options["repeats"]):
        order = ("plain", "el") if round_index % 2 == 0 else ("el", "plain")
        for role in order:
            started = time.perf_counter()
            models[role].fit(dataset, epochs=1, steps_per_epoch=options["steps"], verbose=0)
            speeds[role].append(round(options["steps"] * batch / (time.perf_counter() - started), 1))
    return speeds


def summary(speeds):
    import statistics

    plain, el = statistics.median(speeds["plain"]), statistics.median(speeds["el"])
    return {"plain": plain, "el": el, "ratio": el / plain, "windows": speeds}


def run_isolated(options):
    from el_zoo.benchmark import run_in_fresh_process

    return summary(run_in_fresh_process(__file__, options))


def spread(values):
    return f"{min(values):.0f}-{max(values):.0f}"


def to_markdown(families, experiments, info, args):
    from el_zoo.provenance import markdown_footer

    lines = [
        "# Training throughput", "",
        f"32x32 CIFAR-10 inputs, cifar stem, width 0.25, Adam. Each configuration runs in a "
        f"fresh process that builds both twins, warms each up ({args.warmup} steps), then "
        f"times {args.repeats} alternating windows of {args.steps} steps per twin; the "
        f"table gives the median img/s and the range over windows. {info['note']}",
        "", "## Every family, with and without Elastic-Link (defaults: 2 threads, batch 128, "
        "real input pipeline)", "",
        "| family | no EL (img/s) | range | EL (img/s) | range | EL / no EL |",
        "|---|---|---|---|---|---|"]
    for family, r in families.items():
        lines.append(f"| {family} | {r['plain']:.0f} | {spread(r['windows']['plain'])} | "
                     f"{r['el']:.0f} | {spread(r['windows']['el'])} | {r['ratio']:.2f} |")
    lines += ["", "## Speedups tried (resnet26 / resnet26_el)", "",
              "| configuration | resnet26 (img/s) | resnet26_el (img/s) | EL / no EL | "
              "resnet26_el vs default |", "|---|---|---|---|---|"]
    default = experiments[EXPERIMENTS[0][0]]["el"]
    for label, r in experiments.items():
        lines.append(f"| {label} | {r['plain']:.0f} | {r['el']:.0f} | "
                     f"{r['ratio']:.2f} | {r['el'] / default:.2f}x |")
    lines += markdown_footer(info)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=4, help="timed windows per twin")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--note", default="", help="conditions to record, e.g. other load")
    parser.add_argument("--out", default="benchmarks/train_throughput.md")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_pair(json.loads(args.one))))
        return
    sys.path.insert(0, ".")
    from el_zoo.atomic import write_text_atomically
    from el_zoo.provenance import git_commit, run_info

    started, commit = time.time(), git_commit()
    base = {"data_dir": args.data_dir, "warmup": args.warmup, "steps": args.steps,
            "repeats": args.repeats}
    families = {}
    for family in args.families:
        families[family] = run_isolated({**base, "family": family})
        print(family, families[family], flush=True)
    experiments = {}
    for label, options in EXPERIMENTS:
        if not options and "resnet26" in families:
            experiments[label] = families["resnet26"]
            continue
        experiments[label] = run_isolated({**base, **options, "family": "resnet26"})
        print(label, experiments[label], flush=True)
    info = {**run_info(started, commit), "note": args.note}
    write_text_atomically(args.out, to_markdown(families, experiments, info, args))
    write_text_atomically(args.out.replace(".md", ".json"), json.dumps(
        {"families": families, "experiments": experiments, **info}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
