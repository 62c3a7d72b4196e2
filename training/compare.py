"""EL against its plain twin, seed by seed, from finished training runs.

    python -m training.compare reports/el_vs_plain.json NEW_RUN [NEW_RUN ...]

reads each run's training record, pairs every run of a model with Elastic-Link with the run
of its plain twin (``el_zoo.registry``) of the same recipe, width, epochs and seed, and
writes ``<output>.md`` (a table per pair, the mean difference per family, each run's
command) and ``<output>.json``, which keeps every record it used under "runs" (``--output``:
``reports/el_vs_plain`` by default). A pair is
only formed when the two runs differ by EL alone; runs without a twin are listed as such,
never silently dropped. Runs of one model pool only
when they trained with the same Elastic-Link options (every record resolved to its full
options, a record written before families declared their own defaults against the global
ones that applied then): a variant pairs with the same plain twin and is reported on rows of
its own, named by the options that differ from the global defaults.

A SOURCE is a training run folder (its ``metrics.json``, written by ``training.train``), a
published ``models/<name>.<tag>`` folder (the record of the run that made its weights), or
an earlier ``<output>.json``: run folders live outside the repository and do not outlast a
machine, so adding a run to the comparison starts from the committed JSON. When two sources
hold a run of the same model and budget, the later one wins.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.provenance import (markdown_header, report_commit_or_exit, report_path, run_info,
                               write_report)
from el_zoo.registry import list_models, model_info

from training.recipes import recorded_elastic_link
from training.run_folder import METRICS_FILE


# the name of this comparison's report: reports/el_vs_plain.md and .json (--output's
# default), which the model cards read (training.cards)
REPORT_NAME = "el_vs_plain"
# The option of report_parser's commands that sets where the report goes (path without
# suffix), named in their refusals too
OUTPUT_OPTION = "--output"


def is_published(metrics):
    """A published model's metrics.json keeps its run's record under "training"."""
    return "training" in metrics and "publish" in metrics


def recorded_training(metrics):
    """The training record in a metrics.json: a published model's (under "training") or a
    run folder's, which is the record itself."""
    return metrics["training"] if is_published(metrics) else metrics


def read_metrics(source):
    """The metrics.json of ``source``, a finished run folder or a published
    ``models/<name>.<tag>`` folder; for any other folder an error saying what to give."""
    path = Path(source) / METRICS_FILE
    if not path.is_file():
        raise ValueError(f"{source} has no {METRICS_FILE}: give a finished training run's "
                         "--output-dir (el-zoo train ... --output-dir DIR) or a published "
                         "models/<name>.<tag> folder.")
    return json.loads(path.read_text())


def read_run_record(source):
    """The training record of ``source``, a finished run folder or a published
    ``models/<name>.<tag>`` folder (``recorded_training`` of its metrics.json): every reader
    of a run folder takes it from here, so each accepts both kinds of folder alike."""
    return recorded_training(read_metrics(source))


def check_whole_split(record, source, what):
    """A run evaluated on a subset (``--eval-limit``) is refused: its top-1 is not comparable
    with runs evaluated on the whole split. ``what``: what the caller does with runs."""
    if record.get("eval_images"):
        raise ValueError(f"{source}: {record['model']} was evaluated on a subset "
                         f"({record['eval_images']} images); {what} only runs evaluated on "
                         "the whole split.")


def is_report(path):
    """A generated report's JSON (it keeps the run records it was made from)."""
    return path.suffix == ".json" and path.is_file()


def saved_runs(path, expected):
    """The run records an earlier report keeps under "runs"; ``expected`` names what the
    command takes, for the error."""
    records = json.loads(path.read_text()).get("runs")
    if records is None:
        raise ValueError(f"{path} holds no run records: give {expected} that lists its runs.")
    return records


def read_runs(source):
    """The training records in one SOURCE (see the module docstring)."""
    path = Path(source)
    if is_report(path):
        records = saved_runs(path, "run folders, published folders or a compare output")
    else:
        records = [read_run_record(path)]
    for metrics in records:
        check_whole_split(metrics, source, "compare")
    return records


# what ``budget_of`` holds, by the names a summary row gives them (``pool_key``)
BUDGET_FIELDS = ("recipe", "dataset", "width", "image_size", "batch_size", "epochs", "seed")


def budget_of(metrics):
    """Everything two twins must share: recipe, data, width, epochs, seed (``BUDGET_FIELDS``)."""
    recipe = metrics["recipe_config"]
    return (metrics["recipe"], metrics["dataset"], recipe["width_multiplier"],
            recipe["image_size"], recipe["batch_size"], metrics["epochs"], metrics["seed"])


def seedless_budget(metrics):
    """The budget of a run but its seed (``budget_of``), by field name: what the seeds of a
    model pool over, here and in the model cards (``training.cards.budget_scores``).

    Example::

        seedless_budget(record)  # {"recipe": "cifar10", "dataset": "cifar10", "width": 0.25,
                                 #  "image_size": 32, "batch_size": 128, "epochs": 16}
    """
    budget = dict(zip(BUDGET_FIELDS, budget_of(metrics)))
    del budget["seed"]
    return budget


def options_text(options):
    """Elastic-Link options (``ElasticLinkOptions`` or None) as the text that names a variant:
    those that differ from the global defaults ("position=after_bn"), "defaults" if none.
    The global defaults, not a family's own, so that a record keeps its name whenever it
    was written: every family used the global defaults before declaring its own."""
    return (options.text() if options is not None else "") or "defaults"


def options_naming_line():
    """What the "EL options" column of a report means: named against the global defaults
    (``options_text``), and which models register other defaults, so that a "defaults" row
    is not read as such a model's own default."""
    registered = {name: model_info(name).elastic_link.text()
                  for name in list_models(elastic_link=True, include_research=True)}
    own = [f"`{name}` ({text})" for name, text in registered.items() if text]
    line = ("\"EL options\" name the options that differ from the global defaults "
            f"(`el_zoo.ElasticLinkOptions()`, position={ElasticLinkOptions().position}): "
            "\"defaults\" is those.")
    return f"{line} Registered with other defaults: {', '.join(own)}." if own else line


def el_options(metrics):
    """The Elastic-Link options a run trained with, as text (see ``options_text``)."""
    return options_text(recorded_elastic_link(metrics["model"], metrics["recipe_config"]))


def runs_by_key(runs):
    """{(model, EL options, budget): record}: one record per model, variant and budget, the
    later one winning."""
    return {(m["model"], el_options(m), budget_of(m)): m for m in runs}


def run_order(metrics):
    return (metrics["model"], el_options(metrics), str(budget_of(metrics)))


def pair_runs(runs):
    """(pairs, unpaired): pairs are (plain, el) metrics under an identical budget."""
    by_key = runs_by_key(runs)
    pairs, paired = [], set()
    for key, el in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        model, _, budget = key
        info = model_info(model)
        plain_key = (info.twin, "defaults", budget)
        plain = by_key.get(plain_key) if info.has_elastic_link else None
        if plain is not None:
            pairs.append((plain, el))
            paired |= {key, plain_key}
    unpaired = [m for key, m in by_key.items() if key not in paired]
    return pairs, unpaired


def pool_key(el):
    """What the seeds of EL run ``el`` pool over with its plain twin's, as the fields of the
    summary row that holds their mean: the plain model, the Elastic-Link options and the
    budget but its seed. The model cards find a run's row by it (``pools``).

    Example::

        pool_key(record)  # {"model": "resnet26", "el_options": "defaults", "recipe":
                          #  "cifar10", "dataset": "cifar10", "width": 0.25, "image_size": 32,
                          #  "batch_size": 128, "epochs": 16}
    """
    return {"model": model_info(el["model"]).twin, "el_options": el_options(el),
            **seedless_budget(el)}


# What a summary row written before it recorded a field of ``pool_key`` meant by it: the
# default options; a field missing here (data set, image size, batch size) was not told,
# so such a row reads as before, matching any value.
UNRECORDED_POOL_FIELDS = {"el_options": "defaults"}


def pools(row, el):
    """Whether summary ``row`` of a report holds the seed mean of EL run ``el``'s model,
    options and budget (``pool_key``)."""
    return all(row.get(field, UNRECORDED_POOL_FIELDS.get(field, value)) == value
               for field, value in pool_key(el).items())


def summarise(pairs):
    """Per family, EL variant and budget (seeds pooled, ``pool_key``): seeds, mean plain, mean
    EL, mean difference."""
    groups = {}
    for plain, el in pairs:
        key = tuple(pool_key(el).items())
        groups.setdefault(key, []).append((plain["top1"], el["top1"]))
    rows = []
    for key, scores in groups.items():
        plain_mean = sum(p for p, _ in scores) / len(scores)
        el_mean = sum(e for _, e in scores) / len(scores)
        diffs = [e - p for p, e in scores]
        rows.append({**dict(key), "seeds": len(scores), "plain_top1": plain_mean,
                     "el_top1": el_mean, "el_minus_plain": el_mean - plain_mean,
                     "min_diff": min(diffs), "max_diff": max(diffs)})
    return rows


def pct(x):
    return f"{100 * x:.2f} %"


# what the * of ``training_minutes`` means, under every table that shows them
PAUSES_NOTE = ("Training time is wall time, often on a machine shared with other work: not a "
               "speed comparison. * marks a time that includes the time its process sat "
               "stopped (while the machine ran tests or benchmarks): runs recorded before "
               "training logged its pauses (`paused_s`).")


def training_minutes(metrics):
    """A run's training minutes, marked * if they include the time it sat stopped
    (``PAUSES_NOTE``)."""
    pauses_left_out = metrics.get("paused_s") is not None
    return f"{metrics['train_time_s'] / 60:.0f}{'' if pauses_left_out else '*'}"


def report(pairs, unpaired, summary, info):
    lines = ["# EL against its plain twin", "",
             "Generated by `training/compare.py` from the runs' training records (each run's "
             "`metrics.json`; every record used is kept under \"runs\" in the JSON beside "
             "this file, which the next comparison starts from). CIFAR-10 numbers are on the "
             "lossy JPEG copy of the test split. " + options_naming_line(), "",
             *markdown_header(info), "",
             "## Mean over seeds", "",
             "| model | EL options | recipe | width | epochs | seeds | plain top-1 | EL top-1 "
             "| EL - plain (min / max over seeds) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['model']} | {r['el_options']} | {r['recipe']} | {r['width']} | "
                     f"{r['epochs']} | "
                     f"{r['seeds']} | {pct(r['plain_top1'])} | {pct(r['el_top1'])} | "
                     f"{100 * r['el_minus_plain']:+.2f} pt ({100 * r['min_diff']:+.2f} / "
                     f"{100 * r['max_diff']:+.2f}) |")
    lines += ["", "## Every pair", "",
              "| model | EL options | seed | plain top-1 | EL top-1 | EL - plain | plain / EL "
              "training time |", "|---|---|---|---|---|---|---|"]
    for plain, el in pairs:
        lines.append(f"| {plain['model']} | {el_options(el)} | {plain['seed']} | "
                     f"{pct(plain['top1'])} | "
                     f"{pct(el['top1'])} | {100 * (el['top1'] - plain['top1']):+.2f} pt | "
                     f"{training_minutes(plain)} / {training_minutes(el)} min |")
    lines += ["", PAUSES_NOTE]
    if unpaired:
        lines += ["", "Runs without a twin under the same budget: " +
                  ", ".join(f"{m['model']} (seed {m['seed']})" for m in unpaired) + "."]
    lines += ["", "## Runs", ""]
    listed = []  # a plain twin shared by EL variants is listed once
    for plain, el in pairs:
        for m in (plain, el):
            if any(m is seen for seen in listed):
                continue
            listed.append(m)
            lines.append(f"- {m['model']} seed {m['seed']}: `{m['command']}` "
                         f"(commit {m['git_commit'][:12]}, {m['date']})")
    return "\n".join(lines) + "\n"


def report_parser(description, sources_help, report_name):
    """The command line every run report shares: SOURCE... [--output PATH], by default
    ``reports/<report_name>``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("sources", nargs="+", help=sources_help)
    parser.add_argument(OUTPUT_OPTION, default=report_path(report_name),
                        help="path without suffix; writes <output>.md and <output>.json "
                             "(default: %(default)s)")
    return parser


def report_info(module, argv, commit):
    """Provenance of a report, with the command that regenerates it and ``commit``, read
    when the command started (``report_commit_or_exit``)."""
    info = run_info(commit=commit)
    info["command"] = f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)
    return info


def main(argv=None):
    parser = report_parser(__doc__.split("\n\n")[0], "training run folders, published model "
                           "folders or an earlier compare output (.json)", REPORT_NAME)
    args = parser.parse_args(argv)
    commit = report_commit_or_exit(parser, args.output, OUTPUT_OPTION)
    try:
        runs = [record for source in args.sources for record in read_runs(source)]
    except ValueError as error:
        parser.exit(2, f"el-zoo compare: error: {error}\n")
    pairs, unpaired = pair_runs(runs)
    if not pairs:
        parser.exit(2, "el-zoo compare: error: no EL run has a plain twin with the same "
                       "recipe, width, epochs and seed among the given runs.\n")
    summary = summarise(pairs)
    info = report_info("training.compare", argv, commit)
    written = write_report(f"{args.output}.md", report(pairs, unpaired, summary, info), {
        "summary": summary, "pairs": [[p["model"], e["model"], p["seed"], p["top1"],
                                       e["top1"], el_options(e)] for p, e in pairs],
        "runs": sorted(runs_by_key(runs).values(), key=run_order), **info})
    print(written.read_text())


if __name__ == "__main__":
    main()
