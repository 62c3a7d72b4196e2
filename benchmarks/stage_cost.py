"""Seconds per training epoch of each kind of recipe stage, alone on this machine: the clock
of the recipe study (``training/recipe_study.py``, "minutes alone").

    python benchmarks/stage_cost.py resnet18_el --width-multiplier 0.5 --data-dir ../shared/data \\
        --recipes cifar10 cifar10_float_init cifar10_kd cifar10_float_init_kd cifar10_two_stage

Why: the study's arms train as 1-thread processes sharing the machine with each other and
with whatever else runs, so their CPU seconds do unequal work (a CPU second under contention
did about 40 % less than alone, and the contention differed from arm to arm). An epoch of a
given stage kind costs the same whenever it runs, so an arm's cost is counted as the sum over
its stages of epochs x this report's seconds per epoch of that kind.

The kinds (``training.recipes.stage_kind``) are those the recipes' stages use: the float
twin ("float"), "binary", binary activations with real weights ("real_weights", stage 1 of
the two-stage recipe) and a stage distilled from an earlier one ("binary + float teacher":
the student's step plus its teacher's forward pass). Each kind is built, initialised and
compiled as ``el-zoo train`` builds that stage (``training.train``'s ``run_recipe``,
``stage_model``, ``earlier_stage_teacher``, ``stage_trainer``), and fed by its input
pipeline (``prepare_inputs``: the real data, augmented), on TensorFlow's default threads as
``el-zoo train`` runs without ``--threads`` (every core).

Every (model, width, data set, batch size) runs in a fresh process that builds every kind,
warms each up (``--warmup`` steps and one evaluation), then times ``--windows`` rounds, the
kinds in alternating order (A B C, C B A, ...) so that a drift in the machine's speed hits
every kind alike: in each, ``--steps`` training steps and an evaluation of ``--eval-batches``
batches per kind. Seconds per epoch = median step time x steps per epoch (the training
split's images // batch size, as ``el-zoo train`` runs them) + median evaluation time per
image x the evaluation split's images (the per-epoch evaluation ``el-zoo train`` runs); the
split sizes are counted in the data. The range is the same sum over the fastest and the
slowest windows. The timed windows read only the first ``--train-limit`` (class-balanced)
training images, and ``--eval-batches`` batches of the evaluation split: the steps cost the
same on any of them. Not counted: what an epoch of ``el-zoo train`` adds around its steps
(its checkpoint and logs), nor a run's final evaluation. After each round a float32 matmul
(``--matmul-size`` square) measures the machine's peak GFLOP/s in the same process, as
``benchmarks/train_throughput.py`` does: a peak that falls or spreads says something else
ran.

The report (``--out``, its JSON beside it) keeps earlier entries: a second command adds
another model's (``reactnet_a_el --width-multiplier 0.25 ...``); an entry measured again
replaces the earlier one of the same model, width, data set, image size, batch size,
Elastic-Link options and kind. Each entry keeps the command, commit, machine and date that
measured it. Delete the JSON to start over.
"""

import sys
from pathlib import Path

# this checkout's el_zoo and training, in this process and in run_in_fresh_process's (an
# installed el_zoo can be another checkout's)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from el_zoo.provenance import (  # noqa: E402
    RECORD_PROVENANCE, earlier_records, markdown_footer, merged_records)

from training.recipe_study import COST_KEY, STAGE_COST_MD, cost_key  # noqa: E402
from training.recipes import get_recipe, stage_kind  # noqa: E402

# a recipe's settings that one process measures together: they share the data pipeline
SETTING = ("dataset", "train_split", "eval_split", "image_size", "stem", "augment",
           "batch_size", "width_multiplier")


def planned_kinds(recipes, width=None, batch_size=None, image_size=None):
    """{setting: [{"kind", "recipe", "stage", "recipes"}]}: the distinct stage kinds of
    ``recipes`` (with the overrides that are not None) per setting (``SETTING``), each to
    be timed as the first recipe stage of its kind; "recipes" lists the recipes that use
    it."""
    plans = {}
    for name in recipes:
        recipe = get_recipe(name, width_multiplier=width, batch_size=batch_size,
                            image_size=image_size)
        kinds = plans.setdefault(tuple(recipe[key] for key in SETTING), {})
        for stage in recipe["stages"]:
            kind = stage_kind(recipe, stage)
            planned = kinds.setdefault(kind, {"kind": kind, "recipe": name,
                                              "stage": stage["name"], "recipes": []})
            if name not in planned["recipes"]:
                planned["recipes"].append(name)
    return {setting: list(kinds.values()) for setting, kinds in plans.items()}


def training_args(options, recipe):
    """The parsed ``el-zoo train`` options of a run of ``recipe`` that this configuration
    stands for (nothing is written: the output folder is never made)."""
    from training.command import parse_args

    argv = [options["model"], "--recipe", recipe, "--output-dir", "(not written)",
            "--width-multiplier", str(options["width"]),
            "--train-limit", str(options["train_limit"]),
            "--eval-limit", str(options["eval_batches"] * options["batch_size"])]
    if options.get("data_dir"):
        argv += ["--data-dir", options["data_dir"]]
    for option, value in options["overrides"].items():  # --batch-size, --image-size
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    return parse_args(argv)


def split_images(setting, data_dir):
    """{"train_images", "eval_images"}: the sizes of a setting's splits, counted in the
    data (their files listed, none decoded)."""
    from el_zoo import data

    recipe = dict(zip(SETTING, setting))
    return {f"{role}_images": len(data.split_files(recipe["dataset"], recipe[f"{role}_split"],
                                                   data_dir=data_dir)[0])
            for role in ("train", "eval")}


def configuration(args, setting, kinds):
    """The options of one fresh process: the kinds of one setting, with its split sizes."""
    batch = setting[SETTING.index("batch_size")]
    return {"model": args.model, "width": setting[SETTING.index("width_multiplier")],
            "batch_size": batch,
            "overrides": {"batch_size": args.batch_size, "image_size": args.image_size},
            "data_dir": args.data_dir, "warmup": args.warmup, "steps": args.steps,
            "windows": args.windows, "eval_batches": args.eval_batches,
            "train_limit": args.train_limit or 20 * batch, "matmul_size": args.matmul_size,
            "kinds": kinds, **split_images(setting, args.data_dir)}


def stage_trainer_of(options, planned, classes, steps_per_epoch):
    """(the compiled trainer of the planned stage, as ``el-zoo train`` makes it; the run's
    recipe)."""
    from training.train import earlier_stage_teacher, run_recipe, stage_model, stage_trainer

    args = training_args(options, planned["recipe"])
    recipe = run_recipe(args)
    stage = next(s for s in recipe["stages"] if s["name"] == planned["stage"])
    model = stage_model(args.model, recipe, stage, classes, None)
    teacher = (earlier_stage_teacher(args.model, recipe, stage, classes, None)
               if stage["teacher"] is not None else None)
    return stage_trainer(model, stage, steps_per_epoch, teacher), recipe


def timed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure_kinds(options):
    """In the fresh process: every planned kind of one setting built, warmed up, then timed
    in alternating windows; returns {"kinds": {kind: {windows...}}, split sizes, ...}."""
    import tensorflow as tf
    from el_zoo.benchmark import matmul_gflops

    from training.compare import el_options
    from training.train import prepare_inputs, run_recipe

    tf.keras.utils.set_random_seed(0)
    plans = options["kinds"]
    args = training_args(options, plans[0]["recipe"])  # the setting's data: any recipe's
    recipe = run_recipe(args)
    inputs = prepare_inputs(recipe, args, seed=0)
    steps_per_epoch = options["train_images"] // recipe["batch_size"]
    timed_eval_images = min(options["eval_images"],
                            options["eval_batches"] * recipe["batch_size"])
    train = inputs.train.repeat()
    trainers, measured = {}, {}
    for planned in plans:
        trainer, run = stage_trainer_of(options, planned, inputs.classes, steps_per_epoch)
        trainer.fit(train, epochs=1, steps_per_epoch=options["warmup"], verbose=0)
        trainer.evaluate(inputs.evaluation, verbose=0)
        trainers[planned["kind"]] = trainer
        measured[planned["kind"]] = {"el_options": el_options({"model": options["model"],
                                                               "recipe_config": run}),
                                     "train_step_s": [], "eval_s_per_image": []}
    order, peak = [planned["kind"] for planned in plans], []
    for window in range(options["windows"]):
        for kind in (order if window % 2 == 0 else order[::-1]):
            trainer = trainers[kind]
            steps = timed(lambda: trainer.fit(train, epochs=1,
                                              steps_per_epoch=options["steps"], verbose=0))
            evaluation = timed(lambda: trainer.evaluate(inputs.evaluation, verbose=0))
            measured[kind]["train_step_s"].append(steps / options["steps"])
            measured[kind]["eval_s_per_image"].append(evaluation / timed_eval_images)
        peak.append(round(matmul_gflops(options["matmul_size"]), 1))
    return {"kinds": measured, "peak_gflops": peak, "steps_per_epoch": steps_per_epoch,
            "timed_eval_images": timed_eval_images, "dataset": recipe["dataset"],
            "image_size": recipe["image_size"], "batch_size": recipe["batch_size"]}


def epoch_seconds(step_s, eval_s_per_image, steps_per_epoch, eval_images):
    """One epoch: its training steps and its evaluation pass over the evaluation split."""
    return step_s * steps_per_epoch + eval_s_per_image * eval_images


def entries_of(result, options, provenance):
    """The report's entries of one measured setting: one per kind, keyed by ``COST_KEY``."""
    entries = []
    for planned in options["kinds"]:
        windows = result["kinds"][planned["kind"]]
        steps, evals = windows["train_step_s"], windows["eval_s_per_image"]

        def epoch(step, per_image):
            return epoch_seconds(step, per_image, result["steps_per_epoch"],
                                 options["eval_images"])

        entries.append({
            "model": options["model"], "width": options["width"],
            "dataset": result["dataset"], "image_size": result["image_size"],
            "batch_size": result["batch_size"], "el_options": windows["el_options"],
            "kind": planned["kind"],
            "epoch_s": round(epoch(statistics.median(steps), statistics.median(evals)), 1),
            "epoch_s_range": [round(epoch(min(steps), min(evals)), 1),
                              round(epoch(max(steps), max(evals)), 1)],
            "train_step_s": statistics.median(steps),
            "eval_s_per_image": statistics.median(evals),
            "steps_per_epoch": result["steps_per_epoch"],
            "train_images": options["train_images"], "eval_images": options["eval_images"],
            "timed_as": f"{planned['recipe']}/{planned['stage']}",
            "recipes": planned["recipes"],
            "windows": {"train_step_s": steps, "eval_s_per_image": evals},
            "timing": {key: options[key] for key in ("warmup", "steps", "windows",
                                                     "eval_batches", "train_limit",
                                                     "matmul_size")},
            "peak_gflops": statistics.median(result["peak_gflops"]),
            "peak_gflops_windows": result["peak_gflops"],
            "timed_eval_images": result["timed_eval_images"],
            "threads": "TensorFlow's default (el-zoo train without --threads)",
            **provenance})
    return entries


def earlier_entries(out):
    """The entries of the report already at ``out`` (its JSON), else none."""
    return earlier_records(out, "entries", "stage_cost")


def merged(earlier, new):
    """``earlier`` entries with ``new`` ones added; a new entry replaces an earlier one of
    the same ``cost_key``. Ordered by key."""
    return sorted(merged_records(earlier, new, cost_key), key=lambda entry: str(cost_key(entry)))


def ms(seconds):
    return f"{1000 * seconds:.1f}"


def to_markdown(entries, info):
    lines = [
        "# Seconds per training epoch, alone on this machine, per stage kind", "",
        "Generated by `benchmarks/stage_cost.py` (its docstring says how): each stage kind "
        "built, initialised and compiled as `el-zoo train` builds that stage, trained on its "
        "real input pipeline in a fresh process on TensorFlow's default threads, nothing else "
        "meant to run; the kinds of one configuration timed in alternating windows. Seconds "
        "per epoch = median training step x steps per epoch + median evaluation time per "
        "image x evaluation images (the per-epoch evaluation pass); the range comes from the "
        "fastest and slowest windows. Peak: a float32 matmul timed after each round in the "
        "same process (median and range), which falls or spreads when something else runs. "
        "The recipe study's \"minutes alone\" add these up (`training/recipe_study.py`).",
        ""]
    groups = {}
    for entry in entries:
        group = tuple(entry[key] for key in COST_KEY if key != "kind")
        groups.setdefault(group, []).append(entry)
    for (model, width, dataset, size, batch, options), group in groups.items():
        first = group[0]
        lines += [f"## {model}, width {width}, {dataset} {size}x{size}, batch {batch}, "
                  f"Elastic-Link options: {options}", "",
                  f"{first['steps_per_epoch']} steps per epoch ({first['train_images']} "
                  f"training images), {first['eval_images']} evaluation images.", "",
                  "| stage kind | s per epoch (range) | step (ms) | eval (ms per image) | "
                  "peak GFLOP/s (range) | timed as | windows x steps | measured |",
                  "|---|---|---|---|---|---|---|---|"]
        for e in group:
            low, high = e["epoch_s_range"]
            peaks = e["peak_gflops_windows"]
            lines.append(f"| {e['kind']} | {e['epoch_s']:.0f} ({low:.0f}-{high:.0f}) | "
                         f"{ms(e['train_step_s'])} | {ms(e['eval_s_per_image'])} | "
                         f"{e['peak_gflops']:.0f} ({min(peaks):.0f}-{max(peaks):.0f}) | "
                         f"{e['timed_as']} | {e['timing']['windows']} x "
                         f"{e['timing']['steps']} | {e['date']}, commit "
                         f"{e['git_commit'][:12]} |")
        lines.append("")
    lines += ["## Commands", ""]
    commands = {}
    for entry in entries:
        commands.setdefault((entry["command"], entry["git_commit"], entry["machine"],
                             entry["date"], entry["wall_time_s"], entry["note"]), []).append(
            entry)
    for (command, commit, machine, date, wall, note), measured in commands.items():
        lines.append(f"- `{command}` (commit {commit}, {machine}, {date}, wall time "
                     f"{wall / 60:.1f} min{'; ' + note if note else ''}): "
                     + ", ".join(sorted({f"{e['model']} w{e['width']}" for e in measured})))
    lines += markdown_footer(info)
    return "\n".join(lines)


def parse_options(argv):
    from el_zoo.benchmark import add_one_option

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="a registered model, e.g. resnet18_el")
    parser.add_argument("--width-multiplier", type=float, default=None,
                        help="default: each recipe's")
    parser.add_argument("--recipes", nargs="+", default=["cifar10"],
                        help="the recipes whose stage kinds to time (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: each recipe's")
    parser.add_argument("--image-size", type=int, default=None, help="default: each recipe's")
    parser.add_argument("--data-dir", default=None, help="data root (default: $EL_ZOO_DATA)")
    parser.add_argument("--warmup", type=int, default=3, help="steps before timing")
    parser.add_argument("--steps", type=int, default=20, help="training steps per window")
    parser.add_argument("--eval-batches", type=int, default=10,
                        help="evaluation batches per window")
    parser.add_argument("--windows", type=int, default=5, help="timed windows per kind")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="training images the windows read (default: 20 batches)")
    parser.add_argument("--matmul-size", type=int, default=1024,
                        help="side of the float32 matmul timed after each round: the "
                             "machine's peak GFLOP/s, a check that it was quiet")
    parser.add_argument("--note", default="", help="conditions to record, e.g. other load")
    parser.add_argument("--out", default=STAGE_COST_MD)  # where the recipe study reads it
    add_one_option(parser)
    args = parser.parse_args(argv)
    if not args.one and args.model is None:
        parser.error("give the model to measure, e.g. resnet18_el")
    return parser, args


def main(argv=None):
    from el_zoo.benchmark import answer_one, run_in_fresh_process
    from el_zoo.provenance import report_commit_or_exit, run_info, write_report
    from el_zoo.registry import model_info

    parser, args = parse_options(argv)
    if args.one:
        return answer_one(args.one, measure_kinds)
    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    try:  # what can be checked before minutes of measuring
        model_info(args.model)
        earlier = earlier_entries(args.out)
        plans = planned_kinds(args.recipes, args.width_multiplier, args.batch_size,
                              args.image_size)
        configurations = [configuration(args, *plan) for plan in plans.items()]
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"stage_cost: error: {error}\n")
    results = []
    for options in configurations:
        results.append((run_in_fresh_process(__file__, options), options))
        print(args.model, json.dumps(results[-1][0]["kinds"]), flush=True)
    info = {**run_info(started, commit), "note": args.note}
    if argv is not None:  # called, not run: the command that reruns it
        info["command"] = f"python {os.path.relpath(__file__)} {shlex.join(argv)}"
    provenance = {key: info[key] for key in (*RECORD_PROVENANCE, "note")}
    new = [entry for result, options in results
           for entry in entries_of(result, options, provenance)]
    entries = merged(earlier, new)
    print(write_report(args.out, to_markdown(entries, info), {"entries": entries, **info})
          .read_text())


if __name__ == "__main__":
    main()
