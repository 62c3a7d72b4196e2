"""Training speed of a plain model, its Elastic-Link twin as el_zoo trains it now, and the
twin with the fused link op (``fused_link.py``) swapped in, in one process.

    python benchmarks/fused_link/measure.py resnet26s resnet26 --data-dir /work/shared/data --rounds 8
    python benchmarks/fused_link/measure.py --links resnet26s_el --threads 1

Like ``benchmarks/train_throughput.py`` (whose ``build_and_warm`` and ``ratio_summary`` it
uses): cifar stem, width 0.25, 32x32, Adam, batch 128, real CIFAR-10 pipeline, 2 threads,
``--warmup`` steps to trace, then rounds of one ``--steps``-step ``fit`` window per model,
the order rotating each round (A B C, B C A, C A B, ...). Ratios are img/s over the plain
model's, per round, then median and range over rounds.

``--links``: each link alone, forward + backward at batch 128 (``benchmarks/el_link_forms.py``'s
``time_link``), in the training form and the fused form.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent)]  # the repo (training.*), benchmarks/

from el_zoo import data  # noqa: E402  (first: sets TF_USE_LEGACY_KERAS)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from el_zoo.benchmark import set_threads  # noqa: E402
from el_zoo.registry import elastic_link_twin  # noqa: E402

import fused_link  # noqa: E402
from el_link_forms import model_links, time_link, training_form  # noqa: E402
from train_throughput import build_and_warm  # noqa: E402

BATCH = 128


def fused_form(link, x_real, conv_out):
    return fused_link.fused_linked_sum_for_training(conv_out, x_real, link.gamma,
                                                    link.pool_stride, link.channels_out)


def counting(function, counter):
    """``function``, counting its calls (at trace time) in ``counter["calls"]``."""
    def wrapper(*args, **kwargs):
        counter["calls"] += 1
        return function(*args, **kwargs)
    return wrapper


def build_three(family, options, dataset):
    """{"plain", "el", "el_fused"}: built and warmed (traced); the fused twin traced with
    the fused op in el_zoo.layers, the others with what el_zoo has."""
    from el_zoo import layers

    models = {"plain": build_and_warm(family, options, dataset),
              "el": build_and_warm(elastic_link_twin(family), options, dataset)}
    counter = {"calls": 0}
    original = layers.linked_sum_for_training
    layers.linked_sum_for_training = counting(fused_link.fused_linked_sum_for_training,
                                              counter)
    try:
        models["el_fused"] = build_and_warm(elastic_link_twin(family), options, dataset)
    finally:
        layers.linked_sum_for_training = original
    if counter["calls"] == 0:
        raise RuntimeError("the fused twin was traced without the fused op")
    return models, counter["calls"]


def tracing_counts(models):
    return {role: model.train_function.experimental_get_tracing_count()
            for role, model in models.items()}


def measure_family(family, args, dataset):
    options = {"warmup": args.warmup}
    models, traced_calls = build_three(family, options, dataset)
    roles = list(models)
    speeds = {role: [] for role in roles}
    traced = tracing_counts(models)
    for round_index in range(args.rounds):
        shift = round_index % len(roles)
        for role in roles[shift:] + roles[:shift]:
            started = time.perf_counter()
            models[role].fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
            speeds[role].append(args.steps * BATCH / (time.perf_counter() - started))
        print(f"  round {round_index + 1}: " + ", ".join(
            f"{role} {speeds[role][-1]:.0f}" for role in roles) + " img/s", flush=True)
    if tracing_counts(models) != traced:
        raise RuntimeError(f"a model retraced while timed: {traced} -> {tracing_counts(models)}")
    result = {"family": family, "rounds": args.rounds, "steps": args.steps,
              "fused_link_calls_traced": traced_calls, "img_s": speeds}
    for role in ("el", "el_fused"):
        ratios = [mine / plain for mine, plain in zip(speeds[role], speeds["plain"])]
        result[f"{role}/plain"] = {"median": statistics.median(ratios),
                                   "range": [min(ratios), max(ratios)], "rounds": ratios}
    fused_vs_el = [f / e for f, e in zip(speeds["el_fused"], speeds["el"])]
    result["el_fused/el"] = {"median": statistics.median(fused_vs_el),
                             "range": [min(fused_vs_el), max(fused_vs_el)]}
    return result


def print_family(result):
    print(f"{result['family']}: {result['rounds']} rounds of {result['steps']} steps")
    for role, values in result["img_s"].items():
        print(f"  {role:9s} median {statistics.median(values):6.0f} img/s "
              f"(range {min(values):.0f}-{max(values):.0f})")
    for key in ("el/plain", "el_fused/plain", "el_fused/el"):
        low, high = result[key]["range"]
        print(f"  {key:15s} {result[key]['median']:.3f} ({low:.3f}-{high:.3f})")
    print(json.dumps(result), flush=True)


def measure_links(names, args):
    rng = np.random.default_rng(0)
    forms = {"training form": training_form, "fused": fused_form}
    for name in names:
        totals = dict.fromkeys(forms, 0.0)
        print(f"| {name} link | x_real -> conv_out | training form (ms) | fused (ms) |")
        print("|---|---|---|---|")
        for link in model_links(name):
            medians = time_link(link, forms, args.windows, args.link_steps, rng)
            shapes = " -> ".join("x".join(map(str, s[1:])) for s in link.input_shape)
            print(f"| {link.name} | {shapes} | {medians['training form']:.1f} | "
                  f"{medians['fused']:.1f} |", flush=True)
            for label in forms:
                totals[label] += medians[label]
        print(f"| total | | {totals['training form']:.0f} | {totals['fused']:.0f} |\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="families (or _el models with --links)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--links", action="store_true", help="time each link alone")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--link-steps", type=int, default=3)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.links:
        return measure_links(args.names, args)
    images, labels, _ = data.load_split("cifar10", "train", data_dir=args.data_dir,
                                        limit=BATCH * 20)
    dataset = data.array_dataset(images, labels, batch_size=BATCH, training=True,
                                 augment="cifar").repeat()
    for family in args.names:
        print_family(measure_family(family, args, dataset))


if __name__ == "__main__":
    main()
