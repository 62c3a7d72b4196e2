"""Training throughput (img/s) of every family with and without Elastic-Link at 32x32, and
the measured effect of the speedups we tried (XLA ``jit_compile``, the data pipeline,
threads, batch size), on this machine.

    python benchmarks/train_throughput.py --data-dir ../shared/data --out reports/train_throughput.md
    python benchmarks/train_throughput.py --render   # the report again from its JSON

One round (an EL and a no-EL window) resolves EL / no EL only to a tenth or so: telling a
family's ratio from 0.9 takes more rounds, e.g. ``--repeats 12`` (about 4 min a family).

Each configuration runs in a fresh process (thread settings are per process): build the
model (cifar stem, width 0.25, 10 classes), compile with Adam, run ``--warmup`` steps
(tracing), then time ``--steps`` training steps. The input is the real CIFAR-10 pipeline
(pad-crop + flip, shuffled) unless the configuration says "in-memory batch", which feeds one
pre-made batch repeatedly to show what the data pipeline costs.

How close training gets to the machine: in the same process, between the timed windows, a
float32 matmul (``--matmul-size`` square, same thread settings) measures the peak GFLOP/s,
and each model's achieved training GFLOP/s is 3 x its forward FLOPs x img/s (backward costs
about twice the forward). Forward FLOPs count every multiply-add as 2 FLOPs, binary convs
included: in training they run as float convs on +-1 values.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from el_zoo.benchmark import matmul_gflops
from el_zoo.registry import elastic_link_twin, families

from training.cards import EXPERIMENT_DEFAULT, THROUGHPUT_MD, WIDTH_ONE

FAMILIES = tuple(families(include_research=False))
# (label, options) of the speedup experiments, each on resnet26 and resnet26_el; the cards
# read two of them from the report by their labels (training.cards)
EXPERIMENTS = (
    (EXPERIMENT_DEFAULT, {}),
    ("jit_compile=True", {"jit_compile": True}),
    ("in-memory batch (no input pipeline)", {"in_memory": True}),
    ("1 thread", {"threads": 1}),
    ("batch 256", {"batch_size": 256}),
    (WIDTH_ONE, {"width": 1.0, "steps": 5}),
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


def forward_flops(model):
    """FLOPs of one image's forward pass as training runs it (binary convs in float)."""
    import el_zoo

    cost = el_zoo.profile(model)
    return 2 * (cost["bops"] + cost["flops"])


def measure_pair(options):
    """img/s of ``family`` and ``family_el`` in this process: both built and warmed up, then
    timed in alternating windows (A B B A A B ...) so that drifts in machine speed hit both
    alike; returns every window's img/s."""
    from el_zoo import data  # first: it sets TF_USE_LEGACY_KERAS before TensorFlow loads
    import tensorflow as tf
    from el_zoo.benchmark import set_threads

    if options.get("threads"):
        set_threads(options["threads"])
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
              "el": build_and_warm(elastic_link_twin(family), options, dataset)}
    speeds = {"plain": [], "el": [], "peak_gflops": []}
    for round_index in range(options["repeats"]):
        order = ("plain", "el") if round_index % 2 == 0 else ("el", "plain")
        for role in order:
            started = time.perf_counter()
            models[role].fit(dataset, epochs=1, steps_per_epoch=options["steps"], verbose=0)
            speeds[role].append(round(options["steps"] * batch / (time.perf_counter() - started), 1))
        speeds["peak_gflops"].append(round(matmul_gflops(options.get("matmul_size", 1024)), 1))
    speeds["forward_flops"] = {role: forward_flops(model) for role, model in models.items()}
    return speeds


def summary(speeds):
    """Medians over windows, EL / no EL (``ratio_summary``), and achieved training GFLOP/s
    against the peak."""
    plain, el = statistics.median(speeds["plain"]), statistics.median(speeds["el"])
    peak = statistics.median(speeds["peak_gflops"])
    achieved = {role: 3 * speeds["forward_flops"][role] * speed / 1e9
                for role, speed in (("plain", plain), ("el", el))}
    return {"plain": plain, "el": el, **ratio_summary(speeds), "peak_gflops": peak,
            "train_gflops": achieved,
            "windows": {role: speeds[role] for role in ("plain", "el", "peak_gflops")}}


def ratio_summary(windows):
    """{"ratio": median over rounds of EL / no EL, "ratio_range": [min, max]}. Each round's
    ratio is its EL window over its no-EL window, timed back to back, so that a drift in
    machine speed between rounds cancels; their range is what one run can tell apart."""
    ratios = [el / plain for plain, el in zip(windows["plain"], windows["el"])]
    return {"ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}


def run_isolated(options):
    from el_zoo.benchmark import run_in_fresh_process

    return summary(run_in_fresh_process(__file__, options))


def spread(values):
    return f"{min(values):.0f}-{max(values):.0f}"


def ratio_cell(result):
    """'0.89 (0.72-0.95, 4 rounds)': the median EL / no EL over rounds, its range and the
    rounds timed."""
    low, high = result["ratio_range"]
    rounds = len(result["windows"]["el"])
    return f"{result['ratio']:.2f} ({low:.2f}-{high:.2f}, {rounds} rounds)"


def efficiency(result, role):
    """'12.3, 4.5 %': achieved training GFLOP/s and its share of the measured peak."""
    achieved = result["train_gflops"][role]
    return f"{achieved:.1f}, {100 * achieved / result['peak_gflops']:.1f} %"


def family_row(family, r):
    """One row of the every-family table."""
    return (f"| {family} | {r['plain']:.0f} | {spread(r['windows']['plain'])} | "
            f"{r['el']:.0f} | {spread(r['windows']['el'])} | {ratio_cell(r)} | "
            f"{r['peak_gflops']:.0f} | {efficiency(r, 'plain')} | {efficiency(r, 'el')} |")


def to_markdown(families, experiments, info, args):
    from el_zoo.provenance import markdown_footer

    lines = [
        "# Training throughput", "",
        f"32x32 CIFAR-10 inputs, cifar stem, width 0.25, Adam. Each configuration runs in a "
        f"fresh process that builds both twins, warms each up ({args.warmup} steps), then "
        f"times rounds of alternating windows of {args.steps} steps per twin (width 1.0: 5 "
        f"steps); the table gives the median img/s and the range over windows. EL / no EL: "
        f"the median, over rounds, of the EL window over the no-EL window timed beside it, "
        f"and in brackets its range over rounds (what one run can resolve) and the rounds "
        f"timed. Peak: a "
        f"{args.matmul_size}x{args.matmul_size} float32 matmul timed after each round in the "
        f"same process (median); training GFLOP/s = 3 x forward FLOPs x img/s. {info['note']}",
        "", "## Every family, with and without Elastic-Link (defaults: 2 threads, batch 128, "
        "real input pipeline)", "",
        "| family | no EL (img/s) | range | EL (img/s) | range | EL / no EL | "
        "peak (GFLOP/s) | no EL: GFLOP/s, % of peak | EL: GFLOP/s, % of peak |",
        "|---|---|---|---|---|---|---|---|---|"]
    lines += [family_row(family, r) for family, r in families.items()]
    lines += ["", "## Speedups tried (resnet26 / resnet26_el)", "",
              "| configuration | resnet26 (img/s) | resnet26_el (img/s) | EL / no EL | "
              "resnet26_el vs default |", "|---|---|---|---|---|"]
    default = experiments[EXPERIMENTS[0][0]]["el"]
    for label, r in experiments.items():
        lines.append(f"| {label} | {r['plain']:.0f} | {r['el']:.0f} | "
                     f"{ratio_cell(r)} | {r['el'] / default:.2f}x |")
    lines += markdown_footer(info)
    return "\n".join(lines)


def render(args):
    """Rewrites the report ``args.out`` from the JSON beside it, its measurements as they
    were, with this script's summary of them (``ratio_summary`` of each result's windows)
    and layout: a change in how results are summarised needs no new measurement. Give the
    options the measured run had (its recorded command)."""
    from el_zoo.provenance import json_beside, write_report

    measured = Path(json_beside(args.out))
    if not measured.is_file():
        raise SystemExit(f"no measurements to render: {measured} does not exist. --render "
                         "rewrites a report measured earlier; run without --render to measure.")
    record = json.loads(measured.read_text())
    for result in [*record["families"].values(), *record["experiments"].values()]:
        result.update(ratio_summary(result["windows"]))
    info = {key: value for key, value in record.items()
            if key not in ("families", "experiments")}
    write_report(args.out, to_markdown(record["families"], record["experiments"], info, args),
                 record)
    print(f"rewrote {args.out} from its measurements")


def main(argv=None):
    from el_zoo.benchmark import add_one_option, answer_one

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=4,
                        help="timed windows per twin (rounds) for each family")
    parser.add_argument("--experiment-repeats", type=int, default=4,
                        help="rounds for each speedup experiment on resnet26")
    parser.add_argument("--matmul-size", type=int, default=1024,
                        help="side of the float32 matmul that measures peak GFLOP/s")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--note", default="", help="conditions to record, e.g. other load")
    parser.add_argument("--out", default=THROUGHPUT_MD)  # where the cards read it
    parser.add_argument("--render", action="store_true",
                        help="rewrite the report from its JSON without measuring (render)")
    add_one_option(parser)
    args = parser.parse_args(argv)
    if args.one:
        return answer_one(args.one, measure_pair)
    if args.render:
        return render(args)
    sys.path.insert(0, ".")
    from el_zoo.provenance import report_commit_or_exit, run_info, write_report

    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    base = {"data_dir": args.data_dir, "warmup": args.warmup, "steps": args.steps,
            "repeats": args.repeats, "matmul_size": args.matmul_size}
    families = {}
    for family in args.families:
        families[family] = run_isolated({**base, "family": family})
        print(family, families[family], flush=True)
    experiments = {}
    for label, options in EXPERIMENTS:
        if not options and "resnet26" in families:
            experiments[label] = families["resnet26"]
            continue
        experiments[label] = run_isolated({**base, "repeats": args.experiment_repeats,
                                           **options, "family": "resnet26"})
        print(label, experiments[label], flush=True)
    info = {**run_info(started, commit), "note": args.note}
    write_report(args.out, to_markdown(families, experiments, info, args),
                 {"families": families, "experiments": experiments, **info})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
