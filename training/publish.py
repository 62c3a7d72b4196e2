"""Publishes a finished training run as ``models/<name>.<tag>/`` and updates the manifest,
the model cards and the README's results table. Every number in a card is measured here or
by the training run; nothing is typed by hand.

    python -m training.publish /path/to/run --tag cifar10
    python -m training.publish models/resnet26_el.cifar10   # re-measure a published model
    python -m training.publish --regenerate   # cards, manifest, README table from metrics.json

Given a published folder instead of a run, it re-measures the same weights at the current
commit (after a change to how something is measured) and keeps their training record.

Measures: top-1/top-5 on the full evaluation split (re-measured from the saved weights), the
LCE conversion and its agreement with Keras on 100 evaluation images, params and OPs, and
x86 latency ratios (model vs its no-EL twin vs its float twin; LCE has no optimised x86
kernels, so these are ratios on this machine, not ARM figures). A card's EL-minus-plain
verdict also reads the seed means in ``benchmarks/el_vs_plain.json`` (``training.compare``),
so rerun ``--regenerate`` after adding seeds there.
"""

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import el_zoo
import numpy as np
from el_zoo import benchmark, data
from el_zoo.atomic import write_text_atomically
from el_zoo.convert import convert, verify
from el_zoo.evaluate import evaluate
from el_zoo.provenance import git_commit, run_info
from el_zoo.registry import elastic_link_twin, has_elastic_link, model_info
from el_zoo.weights import MANIFEST_NAME, read_manifest, sha256_of

from training.compare import budget_of, el_options, is_published
from training.recipes import recorded_elastic_link

REPO = Path(__file__).resolve().parent.parent
BASE_URL = "https://github.com/el-zoo/el_zoo/releases/download/models-v1/"
COPIED = ("weights.h5", "training_log.csv", "training_curves.png")
LICENCE = "Apache-2.0 (code and weights)"
CITATION = ("Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022, "
            "arXiv:2112.10149 (BibTeX in the repository README)")
DATASET_TEXT = {
    "cifar10": "CIFAR-10 (a lossy JPEG copy: quality 75, 4:2:0 chroma; accuracies are "
               "slightly below the original PNG data's), 50,000 train / 10,000 test images",
    "imagenette": "Imagenette (imagenette2 split, images stored at 224x224), 9,469 train / "
                  "3,925 val images. These are ImageNet images: ImageNet's terms "
                  "(non-commercial research) apply to the data set",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?",
                        help="a finished el-zoo train output folder, or a published "
                             "models/<name>.<tag> folder to re-measure")
    parser.add_argument("--tag", help="weight tag, e.g. cifar10 (a published folder's own tag "
                                      "if omitted)")
    parser.add_argument("--regenerate", action="store_true",
                        help="only rewrite every card, the manifest and the README table from "
                             "the published metrics.json files (after a template change)")
    parser.add_argument("--models-dir", default=str(REPO / "models"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--readme", default=str(REPO / "README.md"))
    parser.add_argument("--runs", type=int, default=30, help="timed interpreter runs")
    return parser.parse_args(argv)


def preprocessing(training):
    recipe = training["recipe_config"]
    size = recipe["image_size"]
    return {"resize": recipe.get("stored_size") or size,
            "crop": size if recipe.get("stored_size") else None}


def model_config(training):
    """What ``el_zoo.load`` needs to rebuild the run's model: the builder configuration, plus
    every Elastic-Link option the run trained with, for a model with Elastic-Link (the
    manifest records them; loading checks the weights against them)."""
    config = dict(training["config"])
    options = recorded_elastic_link(training["model"], training.get("recipe_config", {}))
    if options is not None:
        config["elastic_link"] = options.as_dict()
    return config


def options_note(training, form=" ({})"):
    """``form`` filled with a run's non-default Elastic-Link options, e.g.
    ' (position=after_bn)'; '' for the defaults."""
    options = el_options(training)
    return "" if options == "defaults" else form.format(options)


def el_text(training):
    """'with Elastic-Link', 'with Elastic-Link, position=after_bn' or 'without Elastic-Link'."""
    if not has_elastic_link(training["model"]):
        return "without Elastic-Link"
    return "with Elastic-Link" + options_note(training, ", {}")


def measure(run_dir, training, args):
    """Every publish-time measurement of a run's final weights."""
    config = model_config(training)
    build = {**config, "input_shape": tuple(config["input_shape"])}
    model = el_zoo.load(training["model"], weights=str(Path(run_dir) / "weights.h5"), **build)
    pre = preprocessing(training)
    evaluation = evaluate(model, dataset=training["dataset"], split=training["eval_split"],
                          data_dir=args.data_dir, resize=pre["resize"], crop=pre["crop"])
    images, _, _ = data.load_split(training["dataset"], training["eval_split"],
                                   data_dir=args.data_dir, image_size=pre["resize"], limit=100)
    images = data.center_crop_batch(images, pre["crop"])
    started = time.time()
    flatbuffer = convert(model, verify_images=0)
    convert_s = time.time() - started
    parity = verify(flatbuffer, model, images.astype(np.float32))
    cost = el_zoo.profile(model)
    timing = benchmark.benchmark_model(training["model"], runs=args.runs, **build)
    return model, flatbuffer, {
        "evaluation": evaluation,
        "parity": parity,
        "cost": {k: cost[k] for k in ("params", "binary_params", "float_params", "size_mb",
                                      "bops", "flops", "ops", "el_params", "el_flops")},
        "tflite": {"bytes": len(flatbuffer), "convert_s": round(convert_s, 1)},
        "x86_latency": {"ratios": timing["ratios"], "note": timing["note"],
                        "method": timing["method"],
                        "median_ms_1t": timing["model"]["latency_ms_1t"]["median"]},
        "preprocessing": pre,
    }


def read_log(folder):
    with open(Path(folder) / "training_log.csv") as f:
        return list(csv.DictReader(f))


def curve_lines(rows):
    """Accuracy versus training time, from the per-epoch log."""
    lines = ["| epoch | training time (min) | train top-1 | eval top-1 |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['epoch']} | {float(row['elapsed_s']) / 60:.0f} | "
                     f"{float(row['top1']):.1%} | {float(row['val_top1']):.1%} |")
    last = rows[-1]
    if float(last["top1"]) <= float(last["val_top1"]) + 0.01:
        lines += ["", "Train accuracy is not above eval accuracy at the end: the model "
                  "underfits at this width and budget, so more capacity (width) or epochs, "
                  "not more regularisation, would raise it."]
    return lines


# The zoo's accuracy targets per weight tag (issue #5): the best EL model's top-1.
TARGET_TOP1 = {"cifar10": 0.88, "imagenette": 0.80}
TARGET_EL_GAIN = {"resnet26": 0.03, "mobilenet_v1": 0.03}  # EL minus plain, same budget


def twin_name(name):
    """'resnet26_el.cifar10' <-> 'resnet26.cifar10' (the registry's twin)."""
    return elastic_link_twin(name)


THROUGHPUT_REPORT = REPO / "benchmarks" / "train_throughput.json"
EXPERIMENT_DEFAULT = "default (2 threads, batch 128)"  # the throughput benchmark's labels
WIDTH_ONE = "width 1.0 instead of 0.25"


def measured_speeds(model, report_path):
    """(img/s of ``model`` at width 0.25, slowdown of resnet26_el from width 0.25 to 1.0),
    both from the committed training-throughput benchmark (32x32, 2 threads, alone), or
    None when the report lacks them."""
    try:
        report = json.loads(Path(report_path).read_text())
        info = model_info(model)
        family, role = info.family, ("el" if info.has_elastic_link else "plain")
        speed = report["families"][family][role]
        experiments = report["experiments"]
        slowdown = experiments[EXPERIMENT_DEFAULT]["el"] / experiments[WIDTH_ONE]["el"]
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return None
    return speed, slowdown


def scale_up_line(training, report_path=None):
    """The cost, on this machine, of the next step toward an accuracy target: at width 1.0,
    more epochs; narrower CIFAR-10 runs also get full width's cost from measured training
    speeds (the benchmark's width-0.25 speed and width-1.0 slowdown, whatever the run's width)."""
    lead = "- Next steps toward it (not measured within this budget): "
    if training["recipe_config"]["width_multiplier"] >= 1.0:
        return (f"{lead}more epochs; this run is already at width 1.0 (this card's "
                "accuracy-versus-training-time table shows where it was heading).")
    text = f"{lead}more epochs and more width."
    measured = measured_speeds(training["model"], report_path or THROUGHPUT_REPORT)
    if measured is None or training["dataset"] != "cifar10":
        return text
    speed, slowdown = measured
    images = round(training["img_per_s"] * training["train_time_s"] / training["epochs"], -3)
    minutes = images / (speed / slowdown) / 60
    return (f"{text} Measured here (`benchmarks/train_throughput.md`, 2 threads, nothing "
            f"else running): `{training['model']}` trains at {speed:.0f} img/s at width 0.25, "
            f"and `resnet26_el` at width 1.0 is {slowdown:.1f}x slower than at 0.25; at that "
            f"slowdown a width-1.0 epoch ({images:,.0f} images) would take about "
            f"{minutes:.0f} min of training steps for this model. Runs resume from their "
            "checkpoints, so a long run can span sessions or move to a GPU.")


EL_VS_PLAIN_REPORT = REPO / "benchmarks" / "el_vs_plain.json"


def el_vs_plain_section(report_path, key):
    """``key`` ("runs" or "summary") of a ``training.compare`` report; None when the report
    is missing or unreadable (a card then leaves out what it would have said)."""
    try:
        return json.loads(Path(report_path).read_text())[key]
    except (OSError, KeyError, ValueError):
        return None


def other_budgets_line(training, report_path=None):
    """The same model (same Elastic-Link options, recipe and data set) at the other widths
    and epochs that ``benchmarks/el_vs_plain.json`` holds runs of, each averaged over its
    seeds: what more width and epochs measurably gave, toward a target this run misses.
    None when the report holds no other budget."""
    runs = el_vs_plain_section(report_path or EL_VS_PLAIN_REPORT, "runs")
    if runs is None:
        return None

    def budget(run):
        return run["recipe_config"]["width_multiplier"], run["epochs"]

    def same_model(run):
        return ((run["model"], run["recipe"], run["dataset"], el_options(run))
                == (training["model"], training["recipe"], training["dataset"],
                    el_options(training)))

    scores = {}
    for run in filter(same_model, runs):
        if budget(run) != budget(training):
            scores.setdefault(budget(run), []).append(run["top1"])
    if not scores:
        return None
    others = "; ".join(
        f"width {width}, {epochs} epochs: {sum(top1) / len(top1):.2%} "
        f"({len(top1)} seed{'s' if len(top1) > 1 else ''})"
        for (width, epochs), top1 in sorted(scores.items()))
    width, epochs = budget(training)
    return (f"- Measured at other budgets (`benchmarks/el_vs_plain.md`, same model, recipe and "
            f"data; top-1 averaged over seeds): {others}; this run: width {width}, {epochs} "
            "epochs.")


def pooled_over_seeds(training, report_path):
    """The row of ``benchmarks/el_vs_plain.json`` (``training.compare``'s seed means) for this
    model's family, recipe, width and epochs, or None when the report has no single such row."""
    summary = el_vs_plain_section(report_path, "summary")
    if summary is None:
        return None
    key = (model_info(training["model"]).family, training["recipe"],
           training["recipe_config"]["width_multiplier"], training["epochs"])
    # a variant's rows (other Elastic-Link options) are another model than the defaults'
    options = el_options(training)
    rows = [r for r in summary if (r["model"], r["recipe"], r["width"], r["epochs"]) == key
            and r.get("el_options", "defaults") == options]
    return rows[0] if len(rows) == 1 else None


def el_gain_lines(published, twin, report_path=None):
    """EL minus plain for this published pair, and the target verdict: judged on the mean
    over seeds when ``benchmarks/el_vs_plain`` pooled more than one seed of this budget (one
    seed's difference of a point or so is noise), else on this pair alone."""
    is_el = has_elastic_link(published["training"]["model"])
    plain, el = (twin, published) if is_el else (published, twin)
    gain = el["evaluation"]["top1"] - plain["evaluation"]["top1"]
    goal = TARGET_EL_GAIN.get(plain["training"]["model"])
    pooled = pooled_over_seeds(el["training"], report_path or EL_VS_PLAIN_REPORT)
    twin_line = (f"- Its twin {'without' if is_el else 'with'} EL, `{twin['name']}` (same "
                 f"recipe, width, epochs and seed): {twin['evaluation']['top1']:.2%}; EL minus "
                 f"plain {100 * gain:+.2f} points")
    if pooled is None or pooled["seeds"] < 2:
        return [f"{twin_line}{gain_verdict(gain, goal)} (one run each; "
                "`benchmarks/el_vs_plain.md` compares more seeds where trained)."]
    mean = pooled["el_minus_plain"]
    verdict = gain_verdict(mean, goal) + (" (judged on the mean)" if goal else "")
    return [f"{twin_line} (this seed).",
            f"- Over {pooled['seeds']} seeds of this recipe, width and epochs "
            f"(`benchmarks/el_vs_plain.md`): EL minus plain {100 * mean:+.2f} points on "
            f"average ({100 * pooled['min_diff']:+.2f} to {100 * pooled['max_diff']:+.2f})"
            f"{verdict}."]


def gain_verdict(gain, goal):
    """'; target >= +3 points: met' (or 'not met'); empty for a family without a target."""
    if goal is None:
        return ""
    return f"; target >= +{100 * goal:.0f} points: {'met' if gain >= goal else 'not met'}"


def target_lines(name, published, twin):
    """How this model stands against the zoo's targets, and its twin without/with EL."""
    t, top1 = published["training"], published["evaluation"]["top1"]
    tag, is_el = name.partition(".")[2], has_elastic_link(t["model"])
    lines = []
    if tag in TARGET_TOP1 and is_el:
        goal = TARGET_TOP1[tag]
        lines.append(f"- Zoo target: the best EL model >= {goal:.0%} top-1 on this split; "
                     f"this model reaches {top1:.2%} "
                     f"({'met' if top1 >= goal else f'{100 * (goal - top1):.1f} points short'}).")
        if top1 < goal:
            lines.append(scale_up_line(t))
            other_budgets = other_budgets_line(t)
            if other_budgets:
                lines.append(other_budgets)
    if twin is None or budget_of(twin["training"]) != budget_of(t):
        lines.append(f"- No twin {'without' if is_el else 'with'} EL is published under the "
                     "same recipe, width, epochs and seed.")
        return lines
    return lines + el_gain_lines(published, twin)


def card(name, published, rows, twin=None):
    """The model card (Markdown), from the published metrics.json and training_log.csv.

    ``twin`` is the published metrics of the same model with/without EL, if any.
    """
    t, e, c = published["training"], published["evaluation"], published["cost"]
    p, lat, pre = published["parity"], published["x86_latency"], published["preprocessing"]
    recipe = t["recipe_config"]
    stage_text = "; ".join(
        f"{s['name']}: {s['epochs']} epoch{'s' if s['epochs'] > 1 else ''}, Adam{'W (weight decay %g)' % s['weight_decay'] if s['weight_decay'] else ''} "
        f"peak lr {s['lr']:g}, {s['schedule']} decay, "
        f"{'binary' if s['binary_weights'] else 'real-valued'} weights"
        for s in recipe["stages"])
    ratios = lat["ratios"]
    el_line = (f"- EL latency overhead vs the no-EL twin: {ratios['el_latency_overhead_1t']:+.1%}"
               if "el_latency_overhead_1t" in ratios else "- (no Elastic-Link in this model)")
    size = t["config"]["input_shape"]
    crop = (f"decode and resize to {pre['resize']}x{pre['resize']}, centre crop "
            f"{pre['crop']}x{pre['crop']}" if pre["crop"] else
            f"decode to {pre['resize']}x{pre['resize']} RGB")
    augment = {"cifar": "pad 4 + random 32x32 crop + horizontal flip",
               "imagenet": "random-resized-crop (25-100 % of the area) + horizontal flip"}
    lines = [
        f"# {name}",
        "",
        f"`el_zoo.load(\"{name}\")` — {t['model']} ({el_text(t)}), width "
        f"multiplier {t['config']['width_multiplier']}, {t['config']['stem']} stem, "
        f"{size[0]}x{size[1]} input, {t['config']['classes']} classes. "
        "Generated by `python -m training.publish` from `metrics.json`; do not edit.",
        "",
        "## Accuracy",
        "",
        f"| split | images | top-1 | top-5 |",
        "|---|---|---|---|",
        f"| {e['dataset']} {e['split']} | {e['images']} | {e['top1']:.2%} | {e['top5']:.2%} |",
        "",
        f"Re-measure: `el-zoo evaluate {name} --data-dir DATA` (tests check it stays within "
        "0.5 points of this card).",
        "",
        "## Data and preprocessing",
        "",
        f"- Data set: {DATASET_TEXT.get(t['dataset'], t['dataset'])}.",
        f"- Inputs: RGB pixels in [0, 255] ({crop}); the model standardises them itself with "
        "the data set's per-channel mean and std, stored in its `standardize` layer.",
        f"- Training augmentation: {augment.get(recipe['augment'], recipe['augment'])}.",
        "",
        "## Training",
        "",
        f"- Recipe `{t['recipe']}`: batch {recipe['batch_size']}; {stage_text}; seed {t['seed']}.",
        f"- Command: `{t['command']}`",
        f"- Git commit: `{t['git_commit']}`",
        f"- Machine: {t['machine']}",
        f"- Training: {t['epochs']} epoch{'s' if t['epochs'] > 1 else ''}, {t['train_time_s'] / 60:.0f} min of training "
        f"({t['img_per_s']:.0f} img/s), wall time {t['wall_time_s'] / 60:.0f} min; finished "
        f"{t['date']}.",
        "- Curves: `training_curves.png`, per epoch in `training_log.csv`.",
        "",
        "![training curves](training_curves.png)",
        "",
        "### Accuracy versus training time",
        "",
        *curve_lines(rows),
        "",
        "### Against the targets",
        "",
        *target_lines(name, published, twin),
        "",
        "## Cost and deployment",
        "",
        f"- Parameters: {c['params'] / 1e6:.3f} M ({c['binary_params'] / 1e6:.3f} M binary, "
        f"{c['float_params'] / 1e6:.3f} M float); Elastic-Link parameters: {c['el_params']}.",
        f"- OPs: {c['ops']:.3g} (BOPs {c['bops']:.3g}, FLOPs {c['flops']:.3g}; "
        "OPs = BOPs/64 + FLOPs).",
        f"- `model.tflite` (Larq Compute Engine, float I/O): {published['tflite']['bytes'] / 1e6:.3f} MB, "
        f"converted in {published['tflite']['convert_s']:.0f} s.",
        f"- LCE interpreter vs Keras on {p['images']} {e['dataset']} {e['split']} images: "
        f"top-1 agreement {p['top1_agreement']:.0%}, max |difference| of probabilities "
        f"{p['max_abs_diff']:.1e}.",
        f"- x86 latency ratios (1 thread, {lat['median_ms_1t']:.2f} ms median here): "
        f"vs the float twin {ratios['latency_vs_float_1t']:.2f}x; size vs the float twin "
        f"{ratios['size_vs_float']:.3f}.",
        el_line,
        *([f"- Timing: {lat['method']}."] if "method" in lat else []),
        f"- {lat['note']}",
        "",
        "## Publication",
        "",
        f"- Measured by `{published['publish']['command']}` at commit "
        f"`{published['publish']['git_commit']}` on {published['publish']['date']} "
        f"({published['publish']['wall_time_s'] / 60:.0f} min).",
        f"- Licence: {LICENCE}.",
        f"- Citation: {CITATION}",
        "",
    ]
    return "\n".join(lines)


RESULTS_START, RESULTS_END = "<!-- el-results:start -->", "<!-- el-results:end -->"


def el_column(training):
    """The results table's EL cell: no, yes, or yes with the non-default options."""
    return "yes" + options_note(training) if has_elastic_link(training["model"]) else "no"


def results_table(models_dir):
    """The README's table of every published model, from the published metrics."""
    rows = []
    for folder in sorted(Path(models_dir).glob("*.*/")):
        path = folder / "metrics.json"
        if path.exists():
            rows.append((folder.name, json.loads(path.read_text())))
    lines = ["| model | EL | data set | top-1 | top-5 | OPs | params | .tflite | width | "
             "epochs | training time |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in rows:
        t, e = m["training"], m["evaluation"]
        lines.append(
            f"| [{name}](models/{name}/README.md) | {el_column(t)} "
            f"| {e['dataset']} {e['split']}{' (lossy JPEG)' if e['dataset'] == 'cifar10' else ''} "
            f"| {e['top1']:.2%} | {e['top5']:.2%} | {m['cost']['ops']:.3g} | "
            f"{m['cost']['params'] / 1e6:.2f} M | {m['tflite']['bytes'] / 1e6:.2f} MB | "
            f"{t['config']['width_multiplier']:g} | {t['epochs']} | "
            f"{t['train_time_s'] / 60:.0f} min |")
    return "\n".join(lines)


def update_readme(readme, models_dir):
    text = Path(readme).read_text()
    start, end = text.index(RESULTS_START) + len(RESULTS_START), text.index(RESULTS_END)
    new = text[:start] + "\n" + results_table(models_dir) + "\n" + text[end:]
    write_text_atomically(readme, new)


def update_manifest(models_dir, name, published):
    manifest = read_manifest(models_dir)
    manifest["base_url"] = manifest.get("base_url", BASE_URL)
    t, pre = published["training"], published["preprocessing"]
    manifest["models"][name] = {
        "weights": f"{name}/weights.h5", "tflite": f"{name}/model.tflite",
        "config": model_config(t), "dataset": t["dataset"], "eval_split": t["eval_split"],
        "resize": pre["resize"], "crop": pre["crop"],
        "class_names": data.readable_class_names(t["classes"]),
    }
    for path in sorted((Path(models_dir) / name).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            manifest["files"][f"{name}/{path.name}"] = {"sha256": sha256_of(path),
                                                        "size": path.stat().st_size}
    manifest["models"] = dict(sorted(manifest["models"].items()))
    manifest["files"] = dict(sorted(manifest["files"].items()))
    write_text_atomically(Path(models_dir) / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def training_record(run_dir, tag):
    """(training record, tag) of a finished run folder, or of a published model folder,
    whose metrics.json keeps the record of the run that made its weights under "training"."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no metrics.json: give a finished training run's "
                         "--output-dir or a published models/<name>.<tag> folder.")
    metrics = json.loads(path.read_text())
    if is_published(metrics):
        published_tag = metrics["name"].partition(".")[2]
        if tag not in (None, published_tag):
            raise ValueError(f"{run_dir} is published as {metrics['name']}: re-measure it "
                             f"without --tag or with --tag {published_tag}.")
        return metrics["training"], published_tag
    if not tag:
        raise ValueError(f"{run_dir} is a training run: give its weight tag, e.g. --tag cifar10.")
    return metrics, tag


def check_default_elastic_link(training):
    """A tag is weights for its model's architecture (``el_zoo.load("X.tag")`` builds
    ``load("X")``): a run trained with other Elastic-Link options than its model's defaults
    is refused before minutes of measuring."""
    options = recorded_elastic_link(training["model"], training["recipe_config"])
    defaults = model_info(training["model"]).elastic_link
    if options != defaults:
        raise ValueError(
            f"{training['model']} was trained with Elastic-Link options other than its "
            f"defaults ({options.text(defaults)}); its weights would not fit "
            f"el_zoo.load('{training['model']}'): publish a run with the model's defaults, "
            "or register a model whose defaults these are.")


def publish(args):
    # Publishing writes into models/: without ignoring it, the second model published from
    # one clean tree (a pair) would record its code as "+dirty".
    started, commit = time.time(), git_commit(ignore=("models",))
    run_dir = Path(args.run_dir)
    training, tag = training_record(run_dir, args.tag)
    if training.get("eval_images"):
        raise ValueError(f"{run_dir} was evaluated on a subset ({training['eval_images']} "
                         "images): publish only runs evaluated on the whole split.")
    check_default_elastic_link(training)
    name = f"{training['model']}.{tag}"
    model, flatbuffer, measured = measure(run_dir, training, args)
    gap = abs(measured["evaluation"]["top1"] - training["top1"])
    if gap > 0.005:
        raise ValueError(f"re-measured top-1 {measured['evaluation']['top1']:.4f} differs from "
                         f"the run's {training['top1']:.4f}: the weights do not reproduce.")
    folder = Path(args.models_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in COPIED:  # via a temporary file: run_dir may be this folder itself
        shutil.copyfile(run_dir / file_name, folder / f".{file_name}.tmp")
        (folder / f".{file_name}.tmp").replace(folder / file_name)
    (folder / "model.tflite.tmp").write_bytes(flatbuffer)
    (folder / "model.tflite.tmp").replace(folder / "model.tflite")
    published = {"name": name, "training": training, **measured,
                 "publish": run_info(started, commit)}
    write_text_atomically(folder / "metrics.json", json.dumps(published, indent=1) + "\n")
    write_cards(args.models_dir)
    if args.readme:
        update_readme(args.readme, args.models_dir)
    print(f"published {name}: top-1 {measured['evaluation']['top1']:.2%} -> {folder}")
    return published


def published_metrics(models_dir):
    """{name: published metrics} of every model folder in ``models_dir``."""
    return {path.parent.name: json.loads(path.read_text())
            for path in sorted(Path(models_dir).glob("*.*/metrics.json"))}


def write_cards(models_dir):
    """Every card, then the manifest: a new model changes its twin's card too."""
    everything = published_metrics(models_dir)
    for name, published in everything.items():
        folder = Path(models_dir) / name
        write_text_atomically(folder / "README.md", card(
            name, published, read_log(folder), everything.get(twin_name(name))))
    for name, published in everything.items():
        update_manifest(models_dir, name, published)


def regenerate(args):
    write_cards(args.models_dir)
    if args.readme:
        update_readme(args.readme, args.models_dir)


def main(argv=None):
    args = parse_args(argv)
    if args.regenerate:
        return regenerate(args)
    if not args.run_dir:
        raise SystemExit("give a run folder and --tag, a published folder, or --regenerate")
    publish(args)


if __name__ == "__main__":
    main()
