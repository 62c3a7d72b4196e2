"""Training speed of a plain model, its Elastic-Link twin as el_zoo trains it now, and the
twin with the fused link op (``fused_link.py``) swapped in; optionally each link alone in
both forms. Writes the report to reports/ (``report_path("fused_link.md")``, its JSON
beside it). A feasibility measurement: nothing in el_zoo uses the op.

    sh benchmarks/fused_link/build.sh
    python benchmarks/fused_link/measure.py --families resnet26s resnet26 \
        --links resnet26s_el --data-dir ../shared/data --rounds 12

Each family runs in a fresh process (``--threads``, default 2), as in
``benchmarks/train_throughput.py`` (whose ``build_and_warm`` and ``ratio_summary`` it uses):
cifar stem, width 0.25, 32x32, Adam, batch 128, real CIFAR-10 pipeline, ``--warmup`` steps to
trace each of the three models, then rounds of one ``--steps``-step ``fit`` window per model,
the order rotating each round (A B C, B C A, C A B, ...). Ratios are one round's img/s over
another's, then median and range over rounds.

``--links MODEL ...``: in another fresh process (``--link-threads``, default 1), each link of
the model alone, forward + backward at batch 128 (``benchmarks/el_link_forms.py``'s
``time_link``), in the training form and the fused form.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent)]  # the repo (training.*), benchmarks/

from el_zoo import data  # noqa: E402  (first: sets TF_USE_LEGACY_KERAS)

import numpy as np  # noqa: E402
from el_zoo.benchmark import add_one_option, answer_one, set_threads  # noqa: E402
from el_zoo.provenance import report_path  # noqa: E402
from el_zoo.registry import elastic_link_twin  # noqa: E402

import fused_link  # noqa: E402
from el_link_forms import model_links, time_link, training_form  # noqa: E402
from train_throughput import build_and_warm, ratio_summary  # noqa: E402

BATCH = 128
ROLES = ("plain", "el", "el_fused")
ROLE_LABELS = {"plain": "plain", "el": "EL now", "el_fused": "EL fused"}
# (numerator, denominator) of the report's ratios
RATIOS = (("el", "plain"), ("el_fused", "plain"), ("el_fused", "el"))
LINK_FORMS = ("training form", "fused")


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
    models = {"plain": build_and_warm(family, options, dataset),
              "el": build_and_warm(elastic_link_twin(family), options, dataset)}
    counter = {"calls": 0}
    with fused_link.patched(counting(fused_link.fused_linked_sum_for_training, counter)):
        models["el_fused"] = build_and_warm(elastic_link_twin(family), options, dataset)
    if counter["calls"] == 0:
        raise RuntimeError("the fused twin was traced without the fused op")
    return models, counter["calls"]


def tracing_counts(models):
    return {role: model.train_function.experimental_get_tracing_count()
            for role, model in models.items()}


def measure_family(options):
    """In a fresh process: every round's img/s of the three models of ``options["family"]``,
    {"img_s": {role: [...]}, "fused_link_calls_traced"}."""
    images, labels, _ = data.load_split("cifar10", "train", data_dir=options["data_dir"],
                                        limit=BATCH * 20)
    dataset = data.array_dataset(images, labels, batch_size=BATCH, training=True,
                                 augment="cifar").repeat()
    models, traced_calls = build_three(options["family"], options, dataset)
    speeds = {role: [] for role in ROLES}
    traced = tracing_counts(models)
    for round_index in range(options["rounds"]):
        shift = round_index % len(ROLES)
        for role in ROLES[shift:] + ROLES[:shift]:
            started = time.perf_counter()
            models[role].fit(dataset, epochs=1, steps_per_epoch=options["steps"], verbose=0)
            speeds[role].append(round(options["steps"] * BATCH /
                                      (time.perf_counter() - started), 1))
    if tracing_counts(models) != traced:
        raise RuntimeError(f"a model retraced while timed: {traced} -> {tracing_counts(models)}")
    return {"img_s": speeds, "fused_link_calls_traced": traced_calls}


def measure_links(options):
    """In a fresh process: each link of ``options["model"]`` alone, median ms of a forward
    and backward pass in each of ``LINK_FORMS``, {"links": [{"link", "shapes", form: ms}]}."""
    forms = dict(zip(LINK_FORMS, (training_form, fused_form)))
    rng = np.random.default_rng(0)
    links = []
    for link in model_links(options["model"]):
        medians = time_link(link, forms, options["windows"], options["link_steps"], rng)
        shapes = " -> ".join("x".join(map(str, s[1:])) for s in link.input_shape)
        links.append({"link": link.name, "shapes": shapes, **medians})
    return {"links": links}


def measure_one(options):
    """What ``run_in_fresh_process`` asks of this script: ``options["kind"]`` "family" or
    "links", on ``options["threads"]`` threads."""
    set_threads(options["threads"])
    return {"family": measure_family, "links": measure_links}[options["kind"]](options)


def family_summary(img_s):
    """Each model's median img/s and range, and each of ``RATIOS`` per round, its median
    and range over rounds (``ratio_summary``)."""
    summary = {role: {"median": statistics.median(img_s[role]),
                      "range": [min(img_s[role]), max(img_s[role])]} for role in ROLES}
    for mine, base in RATIOS:
        ratio = ratio_summary({"plain": img_s[base], "el": img_s[mine]})
        summary[f"{mine}/{base}"] = {"median": ratio["ratio"], "range": ratio["ratio_range"]}
    return summary


def link_totals(links):
    """{form: sum of the links' median ms} over ``LINK_FORMS``."""
    return {form: sum(link[form] for link in links) for form in LINK_FORMS}


def family_row(family, result):
    speeds = [f"{s['median']:.0f} ({s['range'][0]:.0f}-{s['range'][1]:.0f})"
              for s in (result["summary"][role] for role in ROLES)]
    ratios = [f"{r['median']:.3f} ({r['range'][0]:.3f}-{r['range'][1]:.3f})"
              for r in (result["summary"][f"{mine}/{base}"] for mine, base in RATIOS)]
    rounds = len(result["img_s"]["plain"])
    return f"| {family} | {rounds} x {result['steps']} | " + " | ".join(speeds + ratios) + " |"


def links_table(model, result):
    lines = [f"### {model}", "", "| link | x_real -> conv_out | training form (ms) | "
             "fused (ms) |", "|---|---|---|---|"]
    lines += [f"| {link['link']} | {link['shapes']} | {link['training form']:.1f} | "
              f"{link['fused']:.1f} |" for link in result["links"]]
    totals = result["totals"]
    lines.append(f"| total | | {totals['training form']:.0f} | {totals['fused']:.0f} |")
    return lines


def plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def introduction(record):
    """The report's paragraphs before its tables: what was measured, and how."""
    settings = record["settings"]
    return [
        "A feasibility measurement, not a feature: nothing in el_zoo uses the op. "
        "`benchmarks/fused_link/elastic_link_op.cc` computes the training-time link sum "
        "(`el_zoo.layers.linked_sum_for_training`: conv_out + gamma * C(x)) in one pass and "
        "its gradient in one more (built by `benchmarks/fused_link/build.sh`: g++ "
        f"{' '.join(fused_link.COMPILER_FLAGS)}, no -march=native); `check.py` there checks "
        "its values and gradients against el_zoo's.", "",
        f"Each family runs in a fresh process on {plural(settings['threads'], 'thread')}: "
        "its plain model, its Elastic-Link twin as el_zoo trains it now (EL now) and the twin "
        f"with the fused op (EL fused), each built (cifar stem, width 0.25, 32x32, Adam, batch "
        f"{BATCH}, real CIFAR-10 pipeline) and warmed up ({plural(settings['warmup'], 'step')}), "
        f"then rounds of one {settings['steps']}-step window per model, the order rotating "
        "each round. img/s: median (range) over rounds. Ratios: per round, one model's img/s "
        "over the other's, then median (range) over rounds. Peak memory is not measured: the "
        "three models share a process, and the training-speed report does not measure it "
        f"either. {record['note']}".rstrip()]


def links_section(record):
    settings = record["settings"]
    lines = ["## Each link alone", "",
             f"Forward + backward of each link on random tensors at batch {BATCH}, "
             f"{plural(settings['link_threads'], 'thread')} in a fresh process: the median ms "
             f"of {settings['windows']} windows of {settings['link_steps']} calls per form, the "
             "forms alternating; the total is the sum of the links' medians."]
    for model, result in record["links"].items():
        lines += ["", *links_table(model, result)]
    return lines


def to_markdown(record):
    """The report of ``record`` (``main``'s JSON record: results, settings, ``run_info``)."""
    from el_zoo.provenance import markdown_footer

    header = (["family", "rounds x steps"] + [f"{ROLE_LABELS[r]} (img/s)" for r in ROLES]
              + [f"{ROLE_LABELS[mine]} / {ROLE_LABELS[base]}" for mine, base in RATIOS])
    lines = ["# Fused Elastic-Link op: training speed", "", *introduction(record), "",
             "## Training speed", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    lines += [family_row(family, result) for family, result in record["families"].items()]
    if record["links"]:
        lines += ["", *links_section(record)]
    lines += markdown_footer(record)
    return "\n".join(lines)


def run_isolated(options):
    from el_zoo.benchmark import run_in_fresh_process

    return run_in_fresh_process(__file__, options)


def measure(args):
    """{"families": {family: result}, "links": {model: result}}, each measured in a fresh
    process (``run_isolated``)."""
    base = {"data_dir": args.data_dir, "warmup": args.warmup, "steps": args.steps,
            "rounds": args.rounds, "windows": args.windows, "link_steps": args.link_steps}
    families, links = {}, {}
    for family in args.families:
        result = run_isolated({**base, "kind": "family", "family": family,
                               "threads": args.threads})
        families[family] = {**result, "steps": args.steps,
                            "summary": family_summary(result["img_s"])}
        print(family_row(family, families[family]), flush=True)
    for model in args.links:
        result = run_isolated({**base, "kind": "links", "model": model,
                               "threads": args.link_threads})
        links[model] = {**result, "totals": link_totals(result["links"])}
        print(f"{model} links: {links[model]['totals']}", flush=True)
    return {"families": families, "links": links}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="*", default=["resnet26s", "resnet26"],
                        help="families whose plain, EL and fused-EL models are timed training")
    parser.add_argument("--links", nargs="*", default=[],
                        help="models with Elastic-Link whose links are timed alone")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--link-threads", type=int, default=1)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--link-steps", type=int, default=3)
    parser.add_argument("--note", default="", help="conditions to record, e.g. other load")
    parser.add_argument("--out", default=report_path("fused_link.md"))
    add_one_option(parser)
    args = parser.parse_args(argv)
    if args.one:
        return answer_one(args.one, measure_one)
    if not (args.families or args.links):
        parser.error("nothing to measure: give --families and/or --links")
    fused_link.load()  # a missing or stale op library fails here, before any measuring
    from el_zoo.provenance import report_commit_or_exit, run_info, write_report

    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    results = measure(args)
    settings = {key: getattr(args, key) for key in (
        "threads", "warmup", "steps", "rounds", "link_threads", "windows", "link_steps")}
    record = {**results, "settings": settings, "note": args.note, **run_info(started, commit)}
    write_report(args.out, to_markdown(record), record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
