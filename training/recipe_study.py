"""Accuracy against training time alone for training recipes: the report of the recipe study.

    python -m training.recipe_study SOURCE [SOURCE ...] [--stage-cost PATH] [--output PATH]

A SOURCE is a finished training run folder (its ``metrics.json`` and ``training_log.csv``),
a published ``models/<name>.<tag>`` folder (the record of the run that made its weights)
or an earlier ``<output>.json``, which keeps every record it used under "runs" (run folders
do not outlast a machine). For every run it reports the final top-1 and its cost in minutes
alone, and its curve: top-1 on the evaluation split after each epoch against the minutes
alone spent so far. Runs are grouped by model, width and data set, best top-1 first, so arms
trained at equal cost read side by side.

Minutes alone: the study compares arms at equal CPU time, each as if it trained alone on
this machine. The arms train as 1-thread processes sharing the machine with each other and
with whatever else runs, and a CPU second under contention did about 40 % less work than
alone, by an amount that differed from arm to arm; so neither the process's CPU time nor
its wall time compares arms. An epoch of a given stage kind (``training.recipes.stage_kind``:
the float twin, binary, real weights, distilled with its teacher's forward pass) costs the
same whenever it runs: ``benchmarks/stage_cost.py`` measures its seconds alone on this
machine (default threads, with the per-epoch evaluation pass), into its report
(``--stage-cost``). A run's minutes alone are the sum over its stages (a float teacher's
included) of epochs x its kind's seconds per epoch / 60. The minutes the run's own log
measured, under sharing, are kept in a second column: CPU minutes (the process's CPU time,
all its threads) where every epoch logged them, else wall minutes, marked as such. A run
with a stage whose model, width, data, batch size, Elastic-Link options and kind have no
entry in the cost report gets a note naming the command that measures it, never a number.
"""

import json
import shlex
from pathlib import Path

from el_zoo.provenance import (json_beside, markdown_header, report_commit_or_exit, report_path,
                               report_records, write_report)

from training.compare import (OUTPUT_OPTION, check_whole_split, el_options, is_report,
                              read_run_record, report_info, report_parser, saved_runs)
from training.logs import read_rows
from training.recipes import run_elastic_link, stage_kind
from training.run_folder import LOG_FILE, METRICS_FILE, RECIPE_FILE


CLOCKS = {"CPU": "epoch_cpu_s", "wall": "epoch_time_s"}  # their columns in the log
# what a stage cost entry (benchmarks/stage_cost.py) and a run's stage are matched by
COST_KEY = ("model", "width", "dataset", "image_size", "batch_size", "el_options", "kind")
# what a record must hold to be put on the minutes-alone clock
COST_FIELDS = ("image_size", "batch_size", "el_options", "stage_kinds", "train_limit")


def cost_key(entry):
    """The ``COST_KEY`` values of a cost entry, or of a run record with its stage's "kind"."""
    return tuple(entry[key] for key in COST_KEY)


def curve(log_path):
    """The clock a run's minutes are on ("CPU" if every epoch has its CPU time, else
    "wall"), and [(stage, epoch, minutes so far, eval top-1)] from its training_log.csv."""
    rows = read_rows(log_path)
    clock = "CPU" if all(row[CLOCKS["CPU"]] is not None for row in rows) else "wall"
    points, minutes = [], 0.0
    for row in rows:
        minutes += row[CLOCKS[clock]] / 60
        points.append([row["stage"], row["epoch"], round(minutes, 2), row["val_top1"]])
    return clock, points


def stage_kinds(metrics):
    """Each stage's kind (``stage_kind``); a ``--teacher`` model distilled from in a stage
    without a teacher stage adds its forward pass, named by the option's value."""
    recipe = metrics["recipe_config"]
    extra = f" + teacher {metrics['teacher']}" if metrics.get("teacher") else ""
    return [stage_kind(recipe, stage) + (extra if stage["teacher"] is None else "")
            for stage in recipe["stages"]]


def study_record(metrics, clock, points):
    """What the report keeps of one run."""
    recipe = metrics["recipe_config"]
    return {"model": metrics["model"], "recipe": metrics["recipe"],
            "dataset": metrics["dataset"], "width": recipe["width_multiplier"],
            "image_size": recipe["image_size"], "batch_size": recipe["batch_size"],
            "el_options": el_options(metrics), "seed": metrics["seed"], "top1": metrics["top1"],
            "stages": [[s["name"], s["epochs"]] for s in recipe["stages"]],
            "stage_kinds": stage_kinds(metrics),
            "train_limit": metrics["train_limit"],
            "clock": clock, "minutes": round(points[-1][2], 1) if points else 0.0,
            "curve": points,
            "command": metrics["command"], "git_commit": metrics["git_commit"],
            "machine": metrics.get("machine"), "date": metrics["date"]}


def run_folder_of(command):
    """The --output-dir of an ``el-zoo train`` command, else "its run folder"."""
    words = shlex.split(command)
    return words[words.index("--output-dir") + 1] if "--output-dir" in words[:-1] else \
        "its run folder"


def checked_saved_records(path):
    """The records an earlier report keeps, each with what the minutes-alone clock reads."""
    records = saved_runs(path, "run folders or a recipe_study output")
    for record in records:
        if any(field not in record for field in COST_FIELDS):
            raise ValueError(
                f"{path}: its record of {record['model']} {record['recipe']} seed "
                f"{record['seed']} was written before the study kept each stage's kind, batch "
                "and image size (the minutes-alone clock needs them): give its run folder "
                f"instead ({run_folder_of(record['command'])}).")
    return records


# benchmarks/stage_cost.py's report (its --out default takes it from here); the study
# reads its JSON (--stage-cost)
STAGE_COST_MD = report_path("stage_cost.md")


def read_records(source):
    """The study records in one SOURCE (see the module docstring)."""
    path = Path(source)
    if is_report(path):
        return checked_saved_records(path)
    if not (path / METRICS_FILE).is_file() or not (path / LOG_FILE).is_file():
        raise ValueError(f"{source} is not a finished training run (no {METRICS_FILE} or "
                         f"{LOG_FILE}): give the --output-dir of a finished el-zoo train, or "
                         "a published models/<name>.<tag> folder.")
    metrics = read_run_record(path)
    check_whole_split(metrics, source, "study")
    metrics = {**metrics, "train_limit": train_limit(path, metrics)}
    return [study_record(metrics, *curve(path / LOG_FILE))]


def train_limit(folder, metrics):
    """The run's --train-limit: its metrics.json's, else (written before metrics.json kept
    it) its run record's, recipe.json, written when the run started."""
    recorded = json.loads((folder / RECIPE_FILE).read_text()) \
        if (folder / RECIPE_FILE).is_file() else {}
    for record in (metrics, recorded):
        if "train_limit" in record:
            return record["train_limit"]
    raise ValueError(f"{folder}: neither {METRICS_FILE} nor {RECIPE_FILE} records the run's "
                     "--train-limit, which says what an epoch of it was.")


def run_key(record):
    return (record["model"], record["recipe"], record["width"], record["seed"],
            str(record["stages"]))


# ----------------------------------------------------------------------------- minutes alone
def measure_command(records):
    """The ``benchmarks/stage_cost.py`` command that measures the stage kinds of
    ``records`` (runs of one model, width, batch and image size)."""
    first = records[0]
    recipes = " ".join(sorted({record["recipe"] for record in records}))
    return (f"python benchmarks/stage_cost.py {first['model']} --width-multiplier "
            f"{first['width']} --batch-size {first['batch_size']} --image-size "
            f"{first['image_size']} --recipes {recipes} --data-dir DATA")


def read_costs(path, records):
    """{``cost_key``: entry} of the stage cost report at ``path``; a missing report is an
    error naming the commands that measure what ``records`` need."""
    path = Path(path)
    if not path.is_file():
        groups = {}
        for record in records:
            groups.setdefault((record["model"], record["width"], record["batch_size"],
                               record["image_size"]), []).append(record)
        commands = "; ".join(f"`{measure_command(group)}`" for group in groups.values())
        raise ValueError(f"no stage cost report at {path}: the minutes-alone clock needs one. "
                         f"Measure it on a quiet machine: {commands}")
    entries = report_records(path, "entries", "stage_cost",
                             "give the JSON of benchmarks/stage_cost.py with --stage-cost.")
    return {cost_key(entry): entry for entry in entries}


def model_default_options(model):
    """The Elastic-Link options text (``el_options``) of ``model``'s defaults, the only ones
    ``benchmarks/stage_cost.py`` measures."""
    return el_options({"model": model,
                       "recipe_config": {"elastic_link": run_elastic_link(model)}})


def missing_note(record, kinds):
    """Why a run has no minutes alone: its stage ``kinds`` without a cost entry."""
    note = (f"no stage cost entry for {record['model']} width {record['width']}, "
            f"{record['dataset']} {record['image_size']}x{record['image_size']}, batch "
            f"{record['batch_size']}, Elastic-Link options {record['el_options']}, stage kind "
            f"{', '.join(repr(kind) for kind in kinds)}")
    if record["el_options"] != model_default_options(record["model"]):
        return note + ": benchmarks/stage_cost.py measures a model's default options only"
    if any(" + teacher " in kind for kind in kinds):
        return note + ": benchmarks/stage_cost.py does not time a --teacher model"
    return note + f". Measure it: `{measure_command([record])}`"


def reasons_without_minutes(record, entries):
    """Why a run cannot be put on the minutes-alone clock (none: it can), from its stages'
    cost ``entries`` [(stage, epochs, entry or None)]."""
    reasons = []
    unmeasured = [kind for (_, _, entry), kind in zip(entries, record["stage_kinds"])
                  if entry is None]
    if unmeasured:
        reasons.append(missing_note(record, unmeasured))
    if record["train_limit"] is not None:
        reasons.append(f"trained on --train-limit {record['train_limit']} images per epoch; "
                       "the stage costs are epochs of the whole training split")
    return reasons


def minutes_alone(record, costs):
    """The run on the minutes-alone clock: {"minutes" (None without every stage's cost),
    "range" [low, high], "curve" [[stage, epoch, minutes alone so far, eval top-1]],
    "notes"}. Each stage's epochs count at its kind's seconds per epoch."""
    entries = [(name, epochs, costs.get(cost_key({**record, "kind": kind})))
               for (name, epochs), kind in zip(record["stages"], record["stage_kinds"])]
    reasons = reasons_without_minutes(record, entries)
    if reasons:
        return {"minutes": None, "range": None, "curve": None, "notes": reasons}
    before, seconds = {}, 0.0  # per stage, the seconds of the stages before it
    for name, epochs, entry in entries:
        before[name] = seconds
        seconds += epochs * entry["epoch_s"]
    per_epoch = {name: entry["epoch_s"] for name, _, entry in entries}
    low, high = (sum(epochs * entry["epoch_s_range"][end] for _, epochs, entry in entries)
                 for end in (0, 1))
    points = [[stage, epoch, (before[stage] + epoch * per_epoch[stage]) / 60, top1]
              for stage, epoch, _, top1 in record["curve"]]
    machines = sorted({entry["machine"] for _, _, entry in entries} - {record["machine"]})
    notes = [f"trained on {record['machine']}; its stage costs were measured on "
             f"{', '.join(machines)}: the minutes alone are that machine's"] if machines else []
    return {"minutes": seconds / 60, "range": [low / 60, high / 60], "curve": points,
            "notes": notes}


# ----------------------------------------------------------------------------- report
def stages_text(record):
    return " + ".join(f"{name} {epochs}" for name, epochs in record["stages"])


def alone_text(arm):
    if arm["minutes"] is None:
        return "no cost entry (see notes)"
    low, high = arm["range"]
    return f"{arm['minutes']:.1f} ({low:.1f}-{high:.1f})"


def curve_text(record, arm):
    """'1: 12.0 min 61.2 %; ...': the eval top-1 of the binary (last) stage's epochs against
    minutes alone; without them, against the minutes the run measured under sharing, after
    a label that says so."""
    last = record["stages"][-1][0]
    if arm["curve"] is None:
        points = "; ".join(f"{epoch}: {minutes:.0f} min {100 * top1:.1f} %"
                           for stage, epoch, minutes, top1 in record["curve"]
                           if stage == last and top1 is not None)
        return f"({record['clock']} minutes measured under sharing, no minutes alone) {points}"
    return "; ".join(f"{epoch}: {minutes:.1f} min {100 * top1:.1f} %"
                     for stage, epoch, minutes, top1 in arm["curve"]
                     if stage == last and top1 is not None)


def intro(cost_path):
    return [
        "# Training recipes: accuracy against training time alone", "",
        "Generated by `training/recipe_study.py` from the runs' records (every record used is "
        "kept under \"runs\" in the JSON beside this file). The clock is minutes alone: what a "
        "run's epochs cost when each trains alone on this machine (default threads, with its "
        "evaluation pass), the sum over its stages (a float teacher's included) of epochs x "
        f"that stage kind's seconds per epoch in `{cost_path}` (measured by "
        "`benchmarks/stage_cost.py`; its entries name their commands and dates). Why: the "
        "arms train as 1-thread processes sharing the machine with each other and with "
        "whatever else runs, and a CPU second under contention did about 40 % less work than "
        "alone, by an amount that differed between arms; an epoch of a stage kind costs the "
        "same whenever it runs. The minutes the runs measured themselves are kept beside "
        "them, measured under sharing: CPU minutes (the process's CPU time, all threads) "
        "where the run logged them, else wall minutes. CIFAR-10 numbers are on the lossy "
        "JPEG copy of the test split.", ""]


def report(records, arms, info, cost_path):
    lines = [*intro(cost_path), *markdown_header(info), ""]
    groups = {}
    for record, arm in zip(records, arms):
        groups.setdefault((record["model"], record["width"], record["dataset"]), []).append(
            (record, arm))
    for (model, width, dataset), group in sorted(groups.items()):
        lines += [f"## {model}, width {width}, {dataset}", "",
                  "| recipe | seed | stages (epochs) | minutes alone (range) | minutes "
                  "measured under sharing | top-1 |", "|---|---|---|---|---|---|"]
        group.sort(key=lambda pair: -pair[0]["top1"])
        lines += [f"| {r['recipe']} | {r['seed']} | {stages_text(r)} | {alone_text(a)} | "
                  f"{r['minutes']:.0f} {r['clock']} | {100 * r['top1']:.2f} % |"
                  for r, a in group]
        lines += ["", "Eval top-1 after each epoch of the binary stage (minutes alone so far):",
                  ""]
        lines += [f"- {r['recipe']} seed {r['seed']}: {curve_text(r, a)}" for r, a in group]
        lines.append("")
    notes = [f"- {r['model']} {r['recipe']} seed {r['seed']}: {note}"
             for r, a in zip(records, arms) for note in a["notes"]]
    if notes:
        lines += ["## Notes", "", *notes, ""]
    lines += ["## Runs", ""]
    lines += [f"- {r['model']} {r['recipe']} seed {r['seed']}: `{r['command']}` (commit "
              f"{r['git_commit'][:12]}, {r['machine']}, {r['date']})" for r in records]
    return "\n".join(lines) + "\n"


def arm_record(record, arm):
    """What the JSON keeps of a run's minutes alone (computed from "runs" and the costs)."""
    return {**{key: record[key] for key in ("model", "recipe", "width", "seed")},
            "minutes_alone": arm["minutes"], "minutes_alone_range": arm["range"],
            "curve_alone": arm["curve"], "notes": arm["notes"]}


def main(argv=None):
    parser = report_parser(__doc__.split("\n\n")[0],
                           "finished training run folders or an earlier output (.json)",
                           "recipe_study")
    parser.add_argument("--stage-cost", default=json_beside(STAGE_COST_MD),
                        help="the JSON of benchmarks/stage_cost.py: seconds per epoch of each "
                             "stage kind alone (default: %(default)s)")
    args = parser.parse_args(argv)
    commit = report_commit_or_exit(parser, args.output, OUTPUT_OPTION)
    try:
        found = [record for source in args.sources for record in read_records(source)]
        records = sorted({run_key(r): r for r in found}.values(), key=run_key)  # later wins
        costs = read_costs(args.stage_cost, records)
        arms = [minutes_alone(record, costs) for record in records]
    except ValueError as error:
        parser.exit(2, f"recipe_study: error: {error}\n")
    info = report_info("training.recipe_study", argv, commit)
    print(write_report(f"{args.output}.md", report(records, arms, info, args.stage_cost),
                       {"runs": records, "arms": [arm_record(r, a) for r, a in
                                                  zip(records, arms)],
                        "stage_cost": str(args.stage_cost), **info}).read_text())


if __name__ == "__main__":
    main()
