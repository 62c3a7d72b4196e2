"""Restarting a run from committed weights after its run folder was lost: ``--restart-from``.

    el-zoo train resnet18_el --recipe cifar10 --width-multiplier 0.5 --epochs 120 \\
        --output-dir runs/resnet18_el.cifar10.w05 --restart-from models/resnet18_el.cifar10

A run folder lives on one machine; what outlasts it is what was committed: published
weights (``models/NAME.TAG``). A restart starts a new run folder from them:

- The source is a published ``models/NAME.TAG`` folder or a finished run folder (its
  ``metrics.json``, ``weights.h5`` and ``training_log.csv``), or a weights ``.h5`` file with
  ``--restart-epoch N``.
- The recipe's last stage continues at the epoch the source reached in it (the source's
  record, or ``--restart-epoch``): ``--epochs`` gives the recipe's full length, as for the
  run that was lost, and the learning-rate schedule continues where that epoch left it
  (``training.train.ContinuedSchedule``). Earlier stages are taken as done by the source.
- The optimizer starts fresh: its state (Adam's moment estimates) is not saved with the
  weights and was lost with the run folder. Its step count starts at 0, so that Adam's
  bias correction treats the zeroed moments as new; only the schedule is shifted.
- The run records it: recipe.json and metrics.json under "restart" (the source, the
  weights file and its sha256, the stage and epoch it continued at, the optimizer lost),
  and its first segment began as "restart" (``training.segments``). A folder source's epoch
  rows and segments are carried over, so the new run's log and card cover the whole chain.

Rerunning the same command resumes the restarted run from its own checkpoints (the source
is then not read again). Everything is checked before data is loaded or anything written:
a missing source, another model, data set, width or Elastic-Link options, a run folder that
already holds another run's checkpoints, nothing left to train, and a last stage whose
teacher is an earlier stage (its weights were lost too).
"""

import json
from pathlib import Path
from typing import NamedTuple, Optional

from el_zoo.builder import resolve_weights
from el_zoo.hub import sha256_of

from training.checkpoints import has_progress
from training.compare import is_published
from training.logs import read_rows
from training.recipes import recorded_elastic_link
from training.segments import unrecorded_segment

OPTIMIZER_LOST = "fresh: its state was not saved with the weights and was lost with the run folder"


class Restart(NamedTuple):
    """A run's restart: its ``record`` (recipe.json's and metrics.json's "restart"), and
    what the first invocation carries over from a folder source: its epoch ``rows`` and
    ``segments`` (None on a rerun, which resumes from the run's own checkpoints)."""

    record: dict
    rows: Optional[list] = None
    segments: Optional[list] = None


def source_files(source):
    """(weights file, training record or None) of a ``--restart-from`` source; a clear
    error for a path that is neither a weights file nor a finished or published run."""
    path = Path(source)
    if path.is_file() and path.suffix in (".h5", ".hdf5"):
        return path, None
    if not (path / "metrics.json").is_file() or not (path / "weights.h5").is_file():
        raise ValueError(
            f"--restart-from {source}: "
            + ("no such file or folder" if not path.exists() else
               "not a weights .h5 file, nor a folder with metrics.json and weights.h5")
            + "; give a published models/NAME.TAG folder, a finished run folder, or a "
            "weights .h5 file with --restart-epoch.")
    metrics = json.loads((path / "metrics.json").read_text())
    return path / "weights.h5", metrics["training"] if is_published(metrics) else metrics


def check_same_run(source, training, model, recipe):
    """Refuses a source record of another model, data set or width than this run's."""
    ours = {"model": model, "data set": recipe["dataset"],
            "width multiplier": recipe["width_multiplier"]}
    theirs = {"model": training["model"], "data set": training["dataset"],
              "width multiplier": training["recipe_config"]["width_multiplier"]}
    differing = [f"{key} {theirs[key]}, not {ours[key]}" for key in ours
                 if ours[key] != theirs[key]]
    if differing:
        raise ValueError(f"--restart-from {source} holds a run of another architecture or "
                         f"data ({'; '.join(differing)}): restart from weights of this "
                         "model, data set and width.")


def check_weights_fit(weights, model, recipe):
    """Refuses a weights file saved from another architecture (model, width, stem,
    Elastic-Link options; ``el_zoo.builder`` reads the configuration the file records)."""
    options = recorded_elastic_link(model, recipe)
    config = {"input_shape": None, "classes": None, "width_multiplier": recipe["width_multiplier"],
              "stem": recipe["stem"]}
    if options is not None:
        config["elastic_link"] = options
    try:
        resolve_weights(model, str(weights), config)
    except ValueError as error:
        raise ValueError(f"--restart-from: {error}") from None


def restart_epoch(source, training, given, recipe):
    """The epoch of the recipe's last stage the restart continues after: the source
    record's (a folder), else ``--restart-epoch``; checked against the recipe."""
    stage = recipe["stages"][-1]
    if training is not None:
        recorded = training["recipe_config"]["stages"][-1]
        if recorded["name"] != stage["name"]:
            raise ValueError(f"--restart-from {source} ended in stage {recorded['name']!r}; "
                             f"recipe {recipe['name']} ends in stage {stage['name']!r}.")
        if given is not None and given != recorded["epochs"]:
            raise ValueError(f"--restart-epoch {given}: {source} records "
                             f"{recorded['epochs']} epochs of stage {stage['name']}; drop "
                             "--restart-epoch (a folder's record gives it).")
        epoch = recorded["epochs"]
    elif given is None:
        raise ValueError(f"--restart-from {source} is a weights file: give --restart-epoch N, "
                         f"the epochs of stage {stage['name']} those weights were trained.")
    elif given < 1:
        raise ValueError(f"--restart-epoch must be a positive integer; got {given}.")
    else:
        epoch = given
    if epoch >= stage["epochs"]:
        raise ValueError(f"--restart-from {source}: the weights have {epoch} epochs of stage "
                         f"{stage['name']}, which has {stage['epochs']} in this recipe: "
                         "nothing is left to train; raise --epochs (the recipe's full "
                         "length).")
    return epoch


def check_last_stage_alone(recipe):
    """Refuses a recipe whose last stage learns from an earlier stage: a restart has only
    the last stage's weights (the teacher's were lost with the run folder)."""
    stage = recipe["stages"][-1]
    if stage["teacher"] is not None:
        raise ValueError(f"--restart-from continues recipe {recipe['name']}'s last stage, "
                         f"{stage['name']}, whose teacher is stage {stage['teacher']}: its "
                         "weights were lost with the run folder, so this recipe cannot be "
                         "restarted.")


def carried_segments(training, rows):
    """The source's segments, or one unrecorded segment for a record made before segments
    were (it finished; its CPU time is unknown)."""
    if training.get("segments"):
        return training["segments"]
    known = {key: training.get(key) for key in ("command", "git_commit", "machine",
                                                "wall_time_s")}
    return [unrecorded_segment(rows, "finished", end=training.get("date"),
                               top1=training.get("top1"), epochs=[1, training["epochs"]],
                               **known)]


def read_restart(args, recipe):
    """The ``Restart`` of a new run folder started ``--restart-from`` a source: read and
    checked before anything is written."""
    check_last_stage_alone(recipe)
    weights, training = source_files(args.restart_from)
    if training is not None:
        check_same_run(args.restart_from, training, args.model, recipe)
    check_weights_fit(weights, args.model, recipe)
    epoch = restart_epoch(args.restart_from, training, args.restart_epoch, recipe)
    source = None if training is None else {
        key: training.get(key) for key in ("model", "recipe", "epochs", "top1", "command",
                                           "git_commit", "date")}
    record = {"from": args.restart_from, "weights": str(weights), "sha256": sha256_of(weights),
              "stage": recipe["stages"][-1]["name"], "epoch": epoch,
              "optimizer": OPTIMIZER_LOST, "source": source}
    if training is None:
        return Restart(record, [], [])
    log = Path(args.restart_from) / "training_log.csv"
    rows = read_rows(log) if log.is_file() else []  # then the epochs are the record's only
    return Restart(record, rows, carried_segments(training, rows))


def planned_restart(args, recipe, output):
    """This run's ``Restart``, or None without ``--restart-from``. A new run folder reads
    the source; a rerun of a restarted run resumes with the restart recipe.json recorded;
    a run folder holding another run's checkpoints is refused."""
    if args.restart_from is None:
        if args.restart_epoch is not None:
            raise ValueError("--restart-epoch goes with --restart-from (a weights file).")
        return None
    if not has_progress(output):
        return read_restart(args, recipe)
    path = output / "recipe.json"
    recorded = json.loads(path.read_text()).get("restart") if path.is_file() else None
    if recorded is None or recorded["from"] != args.restart_from:
        started = ("a run not restarted" if recorded is None else
                   f"a run restarted from {recorded['from']}")
        raise ValueError(f"--restart-from starts a new run folder, but {output} already "
                         f"holds checkpoints of {started}: to continue that run, rerun its "
                         "own command; to restart, give a new --output-dir.")
    if args.restart_epoch not in (None, recorded["epoch"]):
        raise ValueError(f"--restart-epoch {args.restart_epoch}: {output} was restarted at "
                         f"epoch {recorded['epoch']}; rerun its own command.")
    return Restart(recorded)
