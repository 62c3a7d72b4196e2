"""Restarting a run from committed weights after its run folder was lost: ``--restart-from``.

    el-zoo train resnet18_el --recipe cifar10 --width-multiplier 0.5 --epochs 120 \\
        --output-dir runs/resnet18_el.cifar10.w05 --restart-from models/resnet18_el.cifar10

A run folder lives on one machine; what outlasts it is what was committed: published
weights (``models/NAME.TAG``). A restart starts a new run folder from them:

- The source is a published ``models/NAME.TAG`` folder or a finished run folder (its
  ``metrics.json``, ``weights.h5`` and ``training_log.csv``), or a weights ``.h5`` file with
  ``--restart-epoch N``.
- The source must be the same run: what defines a run (``training.checkpoints``
  ``run_differences``: model, recipe, batch size, lr, width, image size, Elastic-Link
  options, --train-limit, --eval-limit, ...) must match its record; a restart may change
  only the length of the stage it continues (``--epochs``) and ``--seed``.
- The recipe's last stage continues at the epoch the source reached in it (the source's
  record, or ``--restart-epoch``): ``--epochs`` gives the recipe's full length, and this
  run's learning-rate schedule continues from that epoch
  (``training.schedules.ContinuedSchedule``). A finished run's schedule had ended (lr near
  0), so restarting it with more epochs is a warm restart: the rate jumps to this
  schedule's at that epoch. The record keeps both (source's schedule length and end lr,
  the lr at the restart). Earlier stages are taken as done by the source, with the epochs
  it recorded (``--stage-epochs`` must keep them).
- The optimizer starts fresh: its state (Adam's moment estimates) is not saved with the
  weights and was lost with the run folder. Its step count starts at 0, so that Adam's
  bias correction treats the zeroed moments as new; only the schedule is shifted.
- The run records it: recipe.json and metrics.json under "restart" (the source, the
  weights file and its sha256, the stage and epoch it continued at, the optimizer lost,
  the learning rates under "schedule"),
  and its first segment began as "restart" (``training.segments``). A folder source's epoch
  rows and segments are carried over, so the new run's log and card cover the whole chain.

Rerunning the same command resumes the restarted run from its own checkpoints (the source
is then not read again). Everything is checked before data is loaded or anything written:
a missing source or an unreadable record, another run (model, recipe, options), a run
folder that already holds another run's checkpoints, nothing left to train, and a last
stage whose teacher is an earlier stage (its weights were lost too).
"""

import contextlib
import io
import json
import shlex
from pathlib import Path
from typing import NamedTuple, Optional

from el_zoo.builder import resolve_weights, stored_class_names, stored_classes
from el_zoo.data import readable_class_names
from el_zoo.hub import sha256_of
from el_zoo.pretrained import published_with_content
from el_zoo.registry import HDF5_SUFFIXES

from training.checkpoints import has_progress, read_run_record, run_differences, run_record
from training.command import build_parser
from training.compare import recorded_training
from training.logs import read_rows
from training.recipes import STAGE_DEFAULTS, recorded_elastic_link
from training.run_folder import LOG_FILE, METRICS_FILE, RECIPE_FILE, WEIGHTS_FILE
from training.schedules import lr_after
from training.segments import unrecorded_segment

OPTIMIZER_LOST = "fresh: its state was not saved with the weights and was lost with the run folder"


class Restart(NamedTuple):
    """A run's restart: its ``record`` (recipe.json's and metrics.json's "restart"), and
    what the first invocation carries over from a folder source: its epoch ``rows`` and
    ``segments``, and the ``classes`` its weights were trained on (``source_classes``)
    (None on a rerun, which resumes from the run's own checkpoints)."""

    record: dict
    rows: Optional[list] = None
    segments: Optional[list] = None
    classes: Optional["SourceClasses"] = None


def source_files(source):
    """(weights file, training record or None, run record or None) of a ``--restart-from``
    source; a clear error for a path that is neither a weights file nor a finished or
    published run."""
    path = Path(source)
    if path.is_file() and path.suffix in HDF5_SUFFIXES:
        return path, None, None
    if not (path / METRICS_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ValueError(
            f"--restart-from {source}: "
            + ("no such file or folder" if not path.exists() else
               f"not a weights .h5 file, nor a folder with {METRICS_FILE} and {WEIGHTS_FILE}")
            + "; give a published models/NAME.TAG folder, a finished run folder, or a "
            "weights .h5 file with --restart-epoch.")
    training = read_record(path / METRICS_FILE, source, TRAINING_KEYS, recorded_training)
    return path / WEIGHTS_FILE, training, recorded_run(path, training, source)


# What the restart reads of a source's records (``training.train.run_metrics`` writes
# metrics.json; ``training.checkpoints.run_record`` recipe.json).
TRAINING_KEYS = ("model", "seed", "epochs", "recipe_config")
RUN_KEYS = ("model", "seed", "recipe")


def read_record(path, source, keys, record=lambda value: value):
    """The JSON record in ``path`` (``record`` of it: the part to read), which has ``keys``
    and a recipe with stages; a one-line error naming the file when it has not."""
    try:
        value = record(json.loads(path.read_text()))
        recipe = value[keys[-1]]
        if not all(key in value for key in keys) or not recipe["stages"]:
            raise KeyError
    except (ValueError, KeyError, TypeError, IndexError):
        raise ValueError(f"--restart-from {source}: {path} is not a training record (JSON with "
                         f"{', '.join(keys)} and the recipe's stages); give a finished run "
                         "folder or a published models/NAME.TAG folder, or a weights .h5 "
                         "file with --restart-epoch.") from None
    return value


def recorded_run(folder, training, source):
    """What defined the source's run (``training.checkpoints.run_record``'s form): a run
    folder's recipe.json, else (a published folder keeps none) its training record's values;
    a value an older record lacks (train_limit, tfds) is not compared."""
    if (folder / RECIPE_FILE).is_file():
        return read_record(folder / RECIPE_FILE, source, RUN_KEYS)
    names = {"teacher": "teacher", "eval_images": "eval_limit", "train_limit": "train_limit",
             "tfds": "tfds"}
    return {"model": training["model"], "recipe": training["recipe_config"],
            "seed": training["seed"], **typed_options(training.get("command")),
            **{name: training[key] for key, name in names.items() if key in training}}


def typed_options(command):
    """{"train_limit": ..., "tfds": ...} as the recorded ``command`` (``el-zoo train ...``,
    as typed) gave them: what a record written before metrics.json kept them says; {} for a
    command that does not parse."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's usage lines
            args, _ = build_parser().parse_known_args(shlex.split(command)[2:])
    except (SystemExit, AttributeError, ValueError):  # no command, or another one
        return {}
    return {"train_limit": args.train_limit, "tfds": args.tfds}


# What a restart may change of the run it continues: the length of the stage it continues
# (the earlier stages' epochs are checked apart), the seed of its data order, its source.
MAY_CHANGE = ("--epochs", "--seed", "--restart-from")


def check_continues(source, recorded, record):
    """Refuses a source whose run differs from this one (``record``) in anything a restart
    may not change (``MAY_CHANGE``), or in the epochs of a stage before the last."""
    differences = run_differences(recorded, record, ignore=MAY_CHANGE)
    theirs = {stage["name"]: stage["epochs"] for stage in recorded["recipe"]["stages"][:-1]}
    differences += [f"--stage-epochs {stage['name']}: recorded {theirs[stage['name']]}, now "
                    f"{stage['epochs']}" for stage in record["recipe"]["stages"][:-1]
                    if theirs.get(stage["name"], stage["epochs"]) != stage["epochs"]]
    if differences:
        raise ValueError(f"--restart-from {source} holds another run than this command's "
                         f"({'; '.join(differences)}): a restart continues that run and may "
                         "change only --epochs (of the stage it continues) and --seed; give "
                         "its other options as recorded, or train a new run without "
                         "--restart-from.")


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


def schedule_record(training, recipe, epoch):
    """The learning rates at a restart after ``epoch``: the source's schedule (its last
    stage's epochs and the lr it ended at; None for a weights file, which records none) and
    this run's (its epochs, and the lr it continues at)."""
    stage = recipe["stages"][-1]
    record = {"source_epochs": None, "source_end_lr": None, "epochs": stage["epochs"],
              "lr": round(lr_after(stage, epoch), 12)}
    if training is not None:
        ended = {**STAGE_DEFAULTS, **training["recipe_config"]["stages"][-1]}
        record.update(source_epochs=ended["epochs"],
                      source_end_lr=round(lr_after(ended, ended["epochs"]), 12))
    return record


def stages_done(restart, recipe):
    """{stage: epochs} of the stages before the last, which a ``restart`` takes as done by
    its source ({} without one): the run's epochs count them where no row of theirs was
    carried over (``training.logs.epochs_of``)."""
    if restart is None:
        return {}
    return {stage["name"]: stage["epochs"] for stage in recipe["stages"][:-1]}


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


class SourceClasses(NamedTuple):
    """The classes a restart's weights were trained on: their ``names`` (readable, as
    ``el_zoo.data.readable_class_names`` gives them), or None when no record names them, and
    their ``count`` (the classifier's outputs)."""

    names: Optional[list]
    count: Optional[int]


def source_classes(weights, training):
    """The ``SourceClasses`` of a restart's ``weights`` file: named by the source's training
    record (``training``, a folder's metrics.json), by the file (``el_zoo.save_weights``
    keeps them; ``el-zoo train`` writes them) or, for a published file, by its manifest."""
    names = (training or {}).get("classes") or stored_class_names(weights)
    if names is None:
        published = published_with_content(weights)
        names = published and published.class_names
    names = readable_class_names(names) if names else None
    return SourceClasses(names, len(names) if names else stored_classes(weights))


def check_same_classes(source, classes, folders, where):
    """Refuses a restart on data of other classes than its weights were trained on
    (``classes``, a ``SourceClasses``; ``folders``: the training split's class folders,
    ``where`` that split): a restart continues the run of those weights, whose i-th
    output scores their i-th class. Why: a user's own folders of as many classes trained
    the old head on without a word, recorded as the same run, and of another count failed
    once the data had loaded, in the weights' loader ("pass classes=10, or
    include_top=False"), options el-zoo train does not have."""
    readable = readable_class_names(folders)
    if classes.names is not None and classes.names == readable:
        return
    if classes.names is None and classes.count in (None, len(readable)):
        return  # nothing tells them apart
    trained = (f"{len(classes.names)} classes ({', '.join(classes.names)})" if classes.names
               else f"{classes.count} classes")
    raise ValueError(
        f"--restart-from {source} holds weights trained on {trained}, but {where} has "
        f"{len(readable)} class folders ({', '.join(readable)}): a restart continues that "
        "run, on its classes. To train those weights on classes of your own, fine-tune them "
        "under a new head in Keras (README: Fine-tuning); or train a new run without "
        "--restart-from.")


def read_restart(args, recipe):
    """The ``Restart`` of a new run folder started ``--restart-from`` a source: read and
    checked before anything is written."""
    check_last_stage_alone(recipe)
    weights, training, recorded = source_files(args.restart_from)
    if training is not None:
        check_continues(args.restart_from, recorded, run_record(args, recipe))
    check_weights_fit(weights, args.model, recipe)
    epoch = restart_epoch(args.restart_from, training, args.restart_epoch, recipe)
    source = None if training is None else {
        key: training.get(key) for key in ("model", "recipe", "epochs", "top1", "command",
                                           "git_commit", "date")}
    record = {"from": args.restart_from, "weights": str(weights), "sha256": sha256_of(weights),
              "stage": recipe["stages"][-1]["name"], "epoch": epoch,
              "optimizer": OPTIMIZER_LOST, "source": source,
              "schedule": schedule_record(training, recipe, epoch)}
    classes = source_classes(weights, training)
    if training is None:
        return Restart(record, [], [], classes)
    log = Path(args.restart_from) / LOG_FILE
    rows = read_rows(log) if log.is_file() else []  # then the epochs are the record's only
    return Restart(record, rows, carried_segments(training, rows), classes)


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
    recorded = (read_run_record(output) or {}).get("restart")
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
