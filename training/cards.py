"""Model cards and the README's results table, rendered from what publishing recorded.

A card is ``templates/model_card.md`` filled in from a published model's ``metrics.json``
(its training record, with the chain of segments it was trained in and any restart from
committed weights, and publish-time measurements), its ``training_log.csv``, its twin's
``metrics.json``, the zoo's targets (``training.targets``) and two committed reports
(``reports/el_vs_plain.json``, ``reports/train_throughput.json``). Nothing is measured
here: ``python -m training.publish --regenerate`` re-renders every card from those records,
and a test checks that the committed cards are exactly that.
"""

import json
import math
import string
from pathlib import Path

from el_zoo import data
from el_zoo.atomic import write_text_atomically
from el_zoo.provenance import REPOSITORY, json_beside, report_path
from el_zoo.registry import elastic_link_twin, has_elastic_link, model_info, split_name

from training import forecast, targets
from training import compare
from training.compare import (PAUSES_NOTE, budget_of, el_options, seedless_budget,
                              training_minutes)
from training.logs import read_rows
from training.run_folder import CARD_FILE, LOG_FILE, METRICS_FILE, TFLITE_FILE

CARD_TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md"
LICENCE = "Apache-2.0 (code and weights)"
CITATION = ("Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022, "
            "arXiv:2112.10149 (BibTeX in the repository README)")
DATASET_TEXT = {
    "cifar10": "CIFAR-10 (a lossy JPEG copy: quality 75, 4:2:0 chroma; accuracy on it is "
               "expected slightly below the original PNG data's, not measured here), "
               "50,000 train / 10,000 test images",
    "imagenette": "Imagenette (imagenette2 split, images stored at 224x224), 9,469 train / "
                  "3,925 val images. These are ImageNet images: ImageNet's terms "
                  "(non-commercial research) apply to the data set",
}


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


def read_log(folder):
    return read_rows(Path(folder) / LOG_FILE)


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


def hours(seconds):
    return f"{seconds / 3600:.2f}"


def segment_cells(segment, wall, cpu):
    """A segment's row of the chain table; ``wall``, ``cpu``: the totals (hours) at its end,
    None when not recorded."""
    began = {"restart": "restart (fresh optimizer)"}.get(segment["began_as"], segment["began_as"])
    start, end = (segment[key].removesuffix(" UTC") if segment.get(key) else "not recorded"
                  for key in ("start", "end"))
    epochs = segment["epochs"]
    epochs = "none" if not epochs else (
        str(epochs[0]) if epochs[0] == epochs[1] else f"{epochs[0]}-{epochs[1]}")
    top1 = "not measured" if segment.get("top1") is None else f"{segment['top1']:.2%}"
    return [str(segment["segment"]), began, f"{start} to {end}", epochs, segment["ended_by"],
            "not recorded" if wall is None else hours(wall),
            "not recorded" if cpu is None else hours(cpu), top1]


def restart_line(restart):
    """What the card says of a restart from committed weights."""
    return (f"- Restarted from committed weights: `{restart['from']}` (`{restart['weights']}`, "
            f"sha256 `{restart['sha256']}`) after epoch {restart['epoch']} of stage "
            f"{restart['stage']}, with a fresh optimizer: the optimizer's state (Adam's "
            "moment estimates) was not saved with the weights and was lost with the run "
            f"folder; {schedule_text(restart)}")


def schedule_text(restart):
    """How the learning rate went on at a restart (``training.restart.schedule_record``): a
    warm restart when the source's schedule had ended at another rate than this run's
    continues at (a finished run's, near 0)."""
    epoch, schedule = restart["epoch"], restart.get("schedule")
    if schedule is None:  # recorded before restarts kept their rates
        return f"the learning rate followed this run's schedule from epoch {epoch}."
    continued = (f"this run's schedule of {schedule['epochs']} epochs continued from epoch "
                 f"{epoch} at lr {schedule['lr']:.3g}")
    if schedule["source_end_lr"] is None:
        return f"{continued}; the weights file records no schedule of its own."
    if math.isclose(schedule["lr"], schedule["source_end_lr"], rel_tol=1e-3, abs_tol=1e-12):
        return f"{continued}, where the source's schedule left it."
    return (f"a warm restart: the source's schedule of {schedule['source_epochs']} epochs had "
            f"ended at lr {schedule['source_end_lr']:.3g}; {continued}.")


def chain_lines(training):
    """Accuracy against cumulative CPU-hours over the chain of segments the run was trained
    in (``training.segments``: each an invocation of its command), and its restart from
    committed weights if it had one; [] for a run recorded before segments were."""
    segments = training.get("segments")
    if not segments:
        return []
    lines = ["The run was trained in a chain of segments, each one invocation of its command "
             "(a rerun resumes from the newest checkpoint).", "",
             "| segment | began as | UTC | epochs | ended by | wall hours (total) | "
             "CPU-hours (total) | eval top-1 at its end |", "|---|---|---|---|---|---|---|---|"]
    wall = cpu = 0.0
    for segment in segments:
        wall += segment["wall_time_s"] or 0.0
        cpu += segment["cpu_s"] or 0.0
        lines.append("| " + " | ".join(segment_cells(
            segment, wall if segment["wall_time_s"] is not None else None,
            cpu if segment["cpu_s"] is not None else None)) + " |")
    lines += ["", "- CPU-hours: the training process's CPU time (user + system, all threads). "
              "A segment ended \"interrupted\" was killed: it ends at its last checkpoint, "
              "and the work after that was lost and is not counted; \"segment limit\": "
              "ended cleanly by `--segment-minutes`."]
    unrecorded = [str(s["segment"]) for s in segments if s.get("recorded") is False]
    if unrecorded:
        lines.append(f"- Segment {', '.join(unrecorded)}: epochs recorded before segments "
                     "were, one row for all their invocations; what was not recorded is "
                     "left out of the totals.")
    if training.get("restart"):
        lines.append(restart_line(training["restart"]))
    return lines


def chain_section(training):
    """The card's chain-of-segments section (``chain_lines``), or '' for a run recorded
    before segments were: its card stays as it was."""
    lines = chain_lines(training)
    if not lines:
        return ""
    return "\n\n### Accuracy versus CPU-hours, segment by segment\n\n" + "\n".join(lines)


def numbers_text(numbers):
    """'segment 3', 'segments 1-2' or 'segments 1-2, 5': ascending ``numbers``, runs of
    consecutive ones as ranges."""
    runs = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return f"segment{'s' if len(numbers) > 1 else ''} {text}"


def per_segment_line(training, key, label, form="{}"):
    """The card's line of the run's ``key`` ("machine", "git_commit"): 'Machine: X', as the
    run's last invocation recorded it, or, when its segments (``training.segments``) ran on
    more than one, each with the segments it ran: 'Machines: X (segments 1-2); Y (segment
    3)' (``form`` shows a value, e.g. in backticks; "not recorded" for a segment made up of
    epochs recorded before segments were)."""
    ran = {}
    for segment in training.get("segments") or []:
        ran.setdefault(segment.get(key), []).append(segment["segment"])
    if len(ran) <= 1:
        return f"{label}: {form.format(training[key])}"
    return f"{label}s: " + "; ".join(
        f"{'not recorded' if value is None else form.format(value)} ({numbers_text(numbers)})"
        for value, numbers in ran.items())


def twin_name(name):
    """'resnet26_el.cifar10' <-> 'resnet26.cifar10' (the registry's twin)."""
    return elastic_link_twin(name)


# benchmarks/train_throughput.py's report (its --out default takes it from here)
THROUGHPUT_MD = report_path("train_throughput.md")
THROUGHPUT_REPORT = REPOSITORY / json_beside(THROUGHPUT_MD)
# Two labels of benchmarks/train_throughput.py's experiments (it takes them from here): the
# keys under which its report's JSON holds the speeds a card reads.
EXPERIMENT_DEFAULT = "default (2 threads, batch 128)"
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


def images_per_epoch(training):
    """Training images per epoch, to the nearest thousand: recorded since restarts (whose
    time and speed cover only the epochs logged); before, every epoch was logged and timed."""
    images = training.get("images_per_epoch") or (
        training["img_per_s"] * training["train_time_s"] / training["epochs"])
    return round(images, -3)


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
    images = images_per_epoch(training)
    minutes = images / (speed / slowdown) / 60
    return (f"{text} Measured here (`{THROUGHPUT_MD}`, 2 threads, nothing "
            f"else running): `{training['model']}` trains at {speed:.0f} img/s at width 0.25, "
            f"and `resnet26_el` at width 1.0 is {slowdown:.1f}x slower than at 0.25; at that "
            f"slowdown a width-1.0 epoch ({images:,.0f} images) would take about "
            f"{minutes:.0f} min of training steps for this model. Runs resume from their "
            "checkpoints, so a long run can span sessions or move to a GPU.")


EL_VS_PLAIN_MD = report_path(f"{compare.REPORT_NAME}.md")  # training.compare's
EL_VS_PLAIN_REPORT = REPOSITORY / json_beside(EL_VS_PLAIN_MD)


def el_vs_plain_section(report_path, key):
    """``key`` ("runs" or "summary") of a ``training.compare`` report; None when the report
    is missing or unreadable (a card then leaves out what it would have said)."""
    try:
        return json.loads(Path(report_path).read_text())[key]
    except (OSError, KeyError, ValueError):
        return None


# what a card's other budgets of a model differ in; the rest of a budget
# (``training.compare.seedless_budget``: recipe, data, image and batch size) is the run's own
SCALES = ("width", "epochs")


def width_and_epochs(run):
    budget = seedless_budget(run)
    return tuple(budget[field] for field in SCALES)


def budget_scores(training, report_path=None):
    """{(width, epochs): [top-1 of each seed]} of the runs of this model (same Elastic-Link
    options) that ``reports/el_vs_plain.json`` holds, one entry per budget
    (``training.compare.seedless_budget``) that differs from this run's in width and epochs
    only; None when the report is missing or unreadable."""
    runs = el_vs_plain_section(report_path or EL_VS_PLAIN_REPORT, "runs")
    if runs is None:
        return None

    def rest_of_budget(run):
        return {field: value for field, value in seedless_budget(run).items()
                if field not in SCALES}

    def same_model(run):
        return ((run["model"], el_options(run), rest_of_budget(run))
                == (training["model"], el_options(training), rest_of_budget(training)))

    scores = {}
    for run in filter(same_model, runs):
        scores.setdefault(width_and_epochs(run), []).append(run["top1"])
    return scores


def schedule_ends(training, report_path=None):
    """(epochs, top-1) where this model's learning-rate schedules ended at this run's width
    (what ``training.forecast`` fits): this run's end, the ends of the finished runs its
    chain continued (``--restart-from``: their segments are carried over), and the other
    lengths of the same model in ``reports/el_vs_plain.json``, averaged over seeds."""
    ends, epoch = {training["epochs"]: training["top1"]}, None
    for segment in training.get("segments") or []:
        # a rerun that only finished the final evaluation trained no epochs (None): its
        # run's schedule ended at the last epoch an earlier segment trained
        epoch = segment["epochs"][1] if segment["epochs"] else epoch
        if segment["ended_by"] == "finished" and epoch and segment["top1"] is not None:
            ends.setdefault(epoch, segment["top1"])
    width = training["recipe_config"]["width_multiplier"]
    for (other_width, epochs), top1 in (budget_scores(training, report_path) or {}).items():
        if other_width == width:
            ends.setdefault(epochs, sum(top1) / len(top1))
    return sorted(ends.items())


def forecast_line(training, goal, report_path=None):
    """What this model's schedule ends at its width predict for the target ``goal``: the
    epochs (and hours, at this run's training speed) a fit of its curve says it would take."""
    lead = "- What the curve predicts (an extrapolation, not a measurement): "
    result = forecast.epochs_to_reach(schedule_ends(training, report_path), goal)
    width = training["recipe_config"]["width_multiplier"]
    ends = "; ".join(f"{epochs_text(epochs)}: {top1:.2%}" for epochs, top1 in result.points)
    if isinstance(result, forecast.NoForecast):
        return {
            "one length": f"{lead}nothing yet: at width {width} this model has ended a "
                          f"schedule at one length only ({ends}); a run of another length, "
                          "or this one continued (`--restart-from`), adds the next point.",
            "flat": f"{lead}top-1 does not rise with epochs at width {width} ({ends}): more "
                    "epochs at this width are not expected to reach it; more width is the "
                    "next step.",
            "reached": f"{lead}a run at width {width} already reached it ({ends}).",
            "fell short": f"{lead}a fit of top-1 error ~ epochs^-k to where this model's "
                          f"schedules ended at width {width} ({ends}) puts {goal:.0%} within "
                          f"{epochs_text(result.points[-1][0])}, which fell short of it: the "
                          "curve flattens faster than the fit, so more epochs at this width "
                          "are not expected to reach it; more width is the next step.",
        }[result.reason]
    seconds = result.epochs * images_per_epoch(training) / training["img_per_s"]
    return (f"{lead}fitting top-1 error ~ epochs^-k to where this model's schedules ended at "
            f"width {width} ({ends}) gives k = {result.exponent:.2f}: {goal:.0%} would take "
            f"about {result.epochs:.0f} epochs at this width, about {duration_text(seconds)} "
            f"at this run's {training['img_per_s']:.0f} img/s. The fit has no floor and a net "
            "of one width has one, so this is a lower bound; a wider net may need fewer epochs.")


def duration_text(seconds):
    """'40 min' under an hour and a half, else '2 hours', '7 hours': a forecast's training
    time, rounded (never '0 hours' or '1 hours')."""
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} hours"


def other_budgets_line(training, report_path=None):
    """The same model (same Elastic-Link options, recipe, data, image and batch size) at the
    other widths and epochs that ``reports/el_vs_plain.json`` holds runs of, each averaged
    over its seeds: what more width and epochs measurably gave, toward a target this run
    misses.
    None when the report holds no other budget."""
    scores = budget_scores(training, report_path)
    if scores is None:
        return None
    scores.pop(width_and_epochs(training), None)
    if not scores:
        return None
    others = "; ".join(
        f"width {width}, {epochs} epochs: {sum(top1) / len(top1):.2%} "
        f"({len(top1)} seed{'s' if len(top1) > 1 else ''})"
        for (width, epochs), top1 in sorted(scores.items()))
    width, epochs = width_and_epochs(training)
    return (f"- Measured at other budgets (`{EL_VS_PLAIN_MD}`, same model, recipe and "
            f"data; top-1 averaged over seeds): {others}; this run: width {width}, {epochs} "
            "epochs.")


def pooled_over_seeds(training, report_path):
    """The row of ``reports/el_vs_plain.json`` (``training.compare``'s seed means) that pooled
    the seeds of this EL run's model, options and budget (``training.compare.pool_key``), or
    None when the report has no single such row."""
    summary = el_vs_plain_section(report_path, "summary")
    if summary is None:
        return None
    rows = [row for row in summary if compare.pools(row, training)]
    return rows[0] if len(rows) == 1 else None


def el_gain_lines(published, twin, report_path=None):
    """EL minus plain for this published pair, and the target verdict: judged on the mean
    over seeds when ``reports/el_vs_plain`` pooled more than one seed of this budget (one
    seed's difference of a point or so is noise), else on this pair alone."""
    is_el = has_elastic_link(published["training"]["model"])
    plain, el = (twin, published) if is_el else (published, twin)
    gain = el["evaluation"]["top1"] - plain["evaluation"]["top1"]
    goal = targets.EL_GAIN.get(plain["training"]["model"])
    pooled = pooled_over_seeds(el["training"], report_path or EL_VS_PLAIN_REPORT)
    twin_line = (f"- Its twin {'without' if is_el else 'with'} EL, `{twin['name']}` (same "
                 f"recipe, width, epochs and seed): {twin['evaluation']['top1']:.2%}; EL minus "
                 f"plain {100 * gain:+.2f} points")
    if pooled is None or pooled["seeds"] < 2:
        return [f"{twin_line}{gain_verdict(gain, goal)} (one run each; "
                f"`{EL_VS_PLAIN_MD}` compares more seeds where trained)."]
    mean = pooled["el_minus_plain"]
    verdict = gain_verdict(mean, goal) + (" (judged on the mean)" if goal else "")
    return [f"{twin_line} (this seed).",
            f"- Over {pooled['seeds']} seeds of this recipe, width and epochs "
            f"(`{EL_VS_PLAIN_MD}`): EL minus plain {100 * mean:+.2f} points on "
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
    tag, is_el = split_name(name)[1], has_elastic_link(t["model"])
    lines = []
    if tag in targets.TOP1 and is_el:
        goal = targets.TOP1[tag]
        lines.append(f"- Zoo target: the best EL model >= {goal:.0%} top-1 on this split; "
                     f"this model reaches {top1:.2%} "
                     f"({'met' if top1 >= goal else f'{100 * (goal - top1):.1f} points short'}).")
        if top1 < goal:
            lines.append(scale_up_line(t))
            lines.append(forecast_line(t, goal))
            other_budgets = other_budgets_line(t)
            if other_budgets:
                lines.append(other_budgets)
    if twin is None or budget_of(twin["training"]) != budget_of(t):
        lines.append(f"- No twin {'without' if is_el else 'with'} EL is published under the "
                     "same recipe, width, epochs and seed.")
        return lines
    return lines + el_gain_lines(published, twin)


# What publishing converts (training.publish.measure: el_zoo.convert with fold=True).
FOLDED_TFLITE = "; Elastic-Links folded into neighbouring ops by `el_zoo.fold`, same outputs"


def tflite_form(training):
    """How the card describes the published .tflite's form: folded links for EL models."""
    return FOLDED_TFLITE if has_elastic_link(training["model"]) else ""


def epochs_text(epochs):
    """'1 epoch', '16 epochs'."""
    return f"{epochs} epoch{'s' if epochs > 1 else ''}"


def train_time_text(training):
    """'94 min of training (166 img/s)': over the epochs logged, when a restart left some
    unlogged (a weights file, or a source without its log)."""
    text = f"{training['train_time_s'] / 60:.0f} min of training"
    logged = training.get("logged_epochs", training["epochs"])
    if logged < training["epochs"]:
        text += f" in the {epochs_text(logged)} logged"
    return f"{text} ({training['img_per_s']:.0f} img/s{paused_text(training)})"


def paused_text(training):
    """What the training time says of the time its process sat stopped (``paused_s``)."""
    paused = training.get("paused_s")
    if paused is None:  # logged before pauses were
        return "; any time its process sat stopped included"
    return f"; {paused / 60:.0f} min stopped, left out" if paused >= 30 else ""


def wall_time_text(training):
    """'wall time 90 min': a run trained in segments sums theirs (``training.segments``),
    saying which were not recorded."""
    segments = training.get("segments")
    if not segments:
        return f"wall time {training['wall_time_s'] / 60:.0f} min"
    seconds = sum(s["wall_time_s"] for s in segments if s.get("wall_time_s") is not None)
    text = f"wall time {seconds / 60:.0f} min"
    if len(segments) > 1:
        text += f" over its {len(segments)} segments"
    notes = [f"segment {s['segment']} not recorded" for s in segments
             if s.get("wall_time_s") is None]
    restart = training.get("restart") or {}
    if "source" in restart and restart["source"] is None:  # a weights file: no record
        notes.append("the weights file's own training not included")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def card_fields(name, published, rows, twin=None):
    """The values the card template's placeholders take, as the card shows them."""
    t, e, c = published["training"], published["evaluation"], published["cost"]
    p, lat, pre = published["parity"], published["x86_latency"], published["preprocessing"]
    recipe = t["recipe_config"]
    stage_text = "; ".join(
        f"{s['name']}: {epochs_text(s['epochs'])}, Adam{'W (weight decay %g)' % s['weight_decay'] if s['weight_decay'] else ''} "
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
    return {
        "name": name, "model": t["model"], "el_text": el_text(t),
        "width_multiplier": t["config"]["width_multiplier"], "stem": t["config"]["stem"],
        "input_size": f"{size[0]}x{size[1]}", "classes": t["config"]["classes"],
        "input_height": size[0], "input_width": size[1],
        "class_order": ", ".join(data.readable_class_names(t["classes"])),
        "dataset": e["dataset"], "split": e["split"], "images": e["images"],
        "top1": f"{e['top1']:.2%}", "top5": f"{e['top5']:.2%}",
        "dataset_text": DATASET_TEXT.get(t["dataset"], t["dataset"]), "inputs": crop,
        "augmentation": augment.get(recipe["augment"], recipe["augment"]),
        "recipe": t["recipe"], "batch_size": recipe["batch_size"], "stages": stage_text,
        "seed": t["seed"], "command": t["command"],
        "git_commit": per_segment_line(t, "git_commit", "Git commit", "`{}`"),
        "machine": per_segment_line(t, "machine", "Machine"), "epochs": epochs_text(t["epochs"]),
        "train_time": train_time_text(t), "wall_time": wall_time_text(t), "date": t["date"],
        "accuracy_versus_time": "\n".join(curve_lines(rows)),
        "segments": chain_section(t),
        "against_targets": "\n".join(target_lines(name, published, twin)),
        "params": f"{c['params'] / 1e6:.3f}", "binary_params": f"{c['binary_params'] / 1e6:.3f}",
        "float_params": f"{c['float_params'] / 1e6:.3f}", "el_params": c["el_params"],
        "ops": f"{c['ops']:.3g}", "bops": f"{c['bops']:.3g}", "flops": f"{c['flops']:.3g}",
        "tflite_file": TFLITE_FILE, "tflite_form": tflite_form(t),
        "tflite_mb": f"{published['tflite']['bytes'] / 1e6:.3f}",
        "convert_s": f"{published['tflite']['convert_s']:.0f}",
        "parity_images": p["images"], "agreement": f"{p['top1_agreement']:.0%}",
        "max_abs_diff": f"{p['max_abs_diff']:.1e}",
        "latency_vs_float": f"{ratios['latency_vs_float_1t']:.2f}",
        "size_vs_float": f"{ratios['size_vs_float']:.3f}",
        # the timing method is recorded since publishing timed models in rounds
        "latency_notes": "\n".join([el_line, *([f"- Timing: {lat['method']}."]
                                               if "method" in lat else [])]),
        "x86_note": lat["note"],
        "publish_command": published["publish"]["command"],
        "publish_commit": published["publish"]["git_commit"],
        "publish_date": published["publish"]["date"],
        "publish_machine": published["publish"]["machine"],
        "publish_minutes": f"{published['publish']['wall_time_s'] / 60:.0f}",
        "licence": LICENCE, "citation": CITATION,
    }


def card(name, published, rows, twin=None):
    """The model card (Markdown): ``templates/model_card.md`` filled in from the published
    metrics.json and training_log.csv (``rows``).

    ``twin`` is the published metrics of the same model with/without EL, if any.
    """
    template = string.Template(CARD_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(card_fields(name, published, rows, twin))


def published_card(models_dir, name, everything=None):
    """The card of the model published as ``models_dir/name``, from its folder's records
    (and its twin's metrics; ``everything`` is ``published_metrics(models_dir)`` if known)."""
    everything = published_metrics(models_dir) if everything is None else everything
    return card(name, everything[name], read_log(Path(models_dir) / name),
                everything.get(twin_name(name)))


RESULTS_START, RESULTS_END = "<!-- el-results:start -->", "<!-- el-results:end -->"


def el_column(training):
    """The results table's EL cell: no, yes, or yes with the non-default options."""
    return "yes" + options_note(training) if has_elastic_link(training["model"]) else "no"


def results_table(models_dir):
    """The README's table of every published model, from the published metrics: each row
    links the model's card and its published ``.tflite`` file; under it, what its training
    times are (``training.compare.PAUSES_NOTE``)."""
    lines = ["| model | EL | data set | top-1 | top-5 | OPs | params | .tflite | width | "
             "epochs | training time |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in published_metrics(models_dir).items():
        t, e = m["training"], m["evaluation"]
        lines.append(
            f"| [{name}](models/{name}/{CARD_FILE}) | {el_column(t)} "
            f"| {e['dataset']} {e['split']}{' (lossy JPEG)' if e['dataset'] == 'cifar10' else ''} "
            f"| {e['top1']:.2%} | {e['top5']:.2%} | {m['cost']['ops']:.3g} | "
            f"{m['cost']['params'] / 1e6:.2f} M | "
            f"[{m['tflite']['bytes'] / 1e6:.2f} MB](models/{name}/{TFLITE_FILE}) | "
            f"{t['config']['width_multiplier']:g} | {t['epochs']} | "
            f"{training_minutes(t)} min |")
    return "\n".join([*lines, "", PAUSES_NOTE])


def update_readme(readme, models_dir):
    text = Path(readme).read_text()
    start, end = text.index(RESULTS_START) + len(RESULTS_START), text.index(RESULTS_END)
    new = text[:start] + "\n" + results_table(models_dir) + "\n" + text[end:]
    write_text_atomically(readme, new)


def published_metrics(models_dir):
    """{name: published metrics} of every model folder in ``models_dir``."""
    return {path.parent.name: json.loads(path.read_text())
            for path in sorted(Path(models_dir).glob(f"*.*/{METRICS_FILE}"))}
