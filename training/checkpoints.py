"""Checkpoints and run records: what lets a killed run resume, and refuses to mix two runs.

After every epoch a run checkpoints model, optimizer, history and its segments
(``EpochCheckpoint``; ``training.segments``);
``recipe.json`` records what defines the run, which a rerun must match to resume
(``check_resumable``, and ``check_resumed_classes`` once the data are read); one process
at a time trains in a run folder (``trained_alone``); a start that fails before its first
checkpoint removes what it wrote; a damaged run file is an error naming it.
Tests kill runs at named points ($EL_ZOO_TRAIN_KILL_AT) and rerun them.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; a run folder is then not locked
    fcntl = None

from el_zoo._keras import keras
from el_zoo.atomic import write_text_atomically
from el_zoo.data import readable_class_names
from el_zoo.elastic_link import ElasticLinkOptions

from training.command import documented_command
from training.logs import LOG_COLUMNS, write_csv
from training.pauses import RunningTime
from training.recipes import OVERRIDABLE, recorded_elastic_link
from training.run_folder import (CHECKPOINTS_DIR, LOG_FILE, METRICS_FILE, RECIPE_FILE,
                                 TENSORBOARD_DIR, WEIGHTS_FILE)

# ----------------------------------------------------------------------------- run folder
# What a run writes; a start that fails before its first checkpoint removes them again.
RUN_ARTEFACTS = (RECIPE_FILE, TENSORBOARD_DIR, CHECKPOINTS_DIR)
# A stage's checkpoints, in checkpoints/<stage>/: a folder epoch-NNNN/ per epoch
# (``epoch_folder``) holding TensorFlow's checkpoint files (prefix CHECKPOINT), HISTORY_FILE
# and SEGMENTS_FILE, and LATEST_FILE, which names the newest of those folders.
EPOCH_PREFIX = "epoch-"
LATEST_FILE = "latest"
CHECKPOINT = "ckpt"
HISTORY_FILE = "history.json"
SEGMENTS_FILE = "segments.json"


def epoch_folder(epochs):
    """The name of the checkpoint folder after ``epochs`` epochs: 7 -> 'epoch-0007' (names
    sort by epoch)."""
    return f"{EPOCH_PREFIX}{epochs:04d}"


def check_output_folder(path):
    """Refuses an --output-dir that cannot hold a run (a file, or below one) before anything
    is written, instead of a traceback from the first write."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(f"--output-dir {path}: {folder} is a file, not a folder; give "
                                 "a folder (a new one starts a run, a run folder resumes it).")
            return


def run_record(args, recipe, restart=None):
    """What defines a run, as recipe.json records it: a rerun must match it to resume.
    ``restart``: the record of a restart from committed weights (``training.restart``)."""
    return {"model": args.model, "recipe": recipe, "seed": args.seed, "teacher": args.teacher,
            "train_limit": args.train_limit, "eval_limit": args.eval_limit, "tfds": args.tfds,
            "restart": restart, "command": documented_command(args)}


def defining_values(record):
    """A run record's defining values, named as a user types them (model, --epochs, ...).

    Settings of the recipe that no option changes (they come from training/recipes.py) are
    named "recipe setting ..."; ``stored_size`` follows ``--image-size``.
    """
    recipe = record["recipe"]

    def per_stage(key):
        values = [stage[key] for stage in recipe["stages"]]
        return values[0] if len(set(values)) == 1 else values

    values = {"model": record["model"], "--recipe": recipe["name"],
              "--epochs": per_stage("epochs"), "--batch-size": recipe["batch_size"],
              "--width-multiplier": recipe["width_multiplier"], "--lr": per_stage("lr"),
              "--image-size": recipe["image_size"],
              "--elastic-link": recorded_elastic_link(record["model"], recipe),
              "--seed": record["seed"]}
    for key in ("teacher", "train_limit", "eval_limit", "tfds"):
        if key in record:  # records written before these were kept lack them
            values["--" + key.replace("_", "-")] = record[key]
    if "restart" in record:
        values["--restart-from"] = record["restart"] and record["restart"]["from"]
    for key, value in recipe.items():
        if key == "stages":
            for stage in value:
                values.update({f"recipe setting {stage['name']}.{k}": v for k, v in stage.items()
                               if k not in ("epochs", "lr")})
        elif key not in (*OVERRIDABLE, "name", "elastic_link", "stored_size"):
            values[f"recipe setting {key}"] = value
    return values


def shown(value, other=None):
    """An option's value in a message: None and False read as "not given"; Elastic-Link
    options as those that differ from ``other``'s (or from the global defaults)."""
    if isinstance(value, ElasticLinkOptions):
        base = other if isinstance(other, ElasticLinkOptions) else None
        return value.text(base) or "the global defaults"
    if value is None or value is False:
        return "not given"
    return "given" if value is True else str(value)


def run_differences(recorded, now, ignore=()):
    """["--seed: recorded 0, now 1", ...] for each defining value a rerun changes; values one
    side does not have (an older record), and those named in ``ignore``, are not compared."""
    before, after = defining_values(recorded), defining_values(now)
    names = [name for name in before if name in after and name not in ignore
             and before[name] != after[name]]
    if "--recipe" in names:  # another recipe differs in all its settings: name the option only
        names = [name for name in names if not name.startswith("recipe setting")]
    return [f"{name}: recorded {shown(before[name], after[name])}, now "
            f"{shown(after[name], before[name])}"
            for name in names]


def has_progress(output):
    """True once a run in ``output`` has something to resume: a checkpoint or weights."""
    return any(output.glob(f"{CHECKPOINTS_DIR}/*/latest")) or \
        any(output.glob(f"*{WEIGHTS_FILE}")) or (output / METRICS_FILE).exists()


def read_run_file(path, remedy):
    """The JSON a run wrote in ``path``; a damaged file is one line naming it and
    ``remedy``. Why: a run writes its files whole (atomically), but a full disk, a power
    cut or an incomplete copy of the folder can still leave one cut short or empty, which
    was json's bare "Expecting value: line 1 column 1 (char 0)"."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is damaged ({error}): {remedy}") from None


def read_run_record(output):
    """The run record (recipe.json) of the run folder ``output``, or None without one."""
    path = output / RECIPE_FILE
    if not path.is_file():
        return None
    return read_run_file(path, "what was trained there is unknown; restore it from a copy "
                         "of the run folder (python -m training.keep makes one), or choose a "
                         "new --output-dir.")


def check_resumable(output, record):
    """True if ``output`` holds a started run that ``record`` continues, False if nothing was
    trained there yet; an error naming each difference if the run was started otherwise."""
    if not has_progress(output):
        return False
    recorded = read_run_record(output)
    if recorded is None:
        raise ValueError(f"{output} holds checkpoints or weights but no {RECIPE_FILE}, so what "
                         "was trained there is unknown: choose a new --output-dir.")
    differences = run_differences(recorded, record)
    if differences:
        command = recorded.get("command")
        rerun = f"rerun its command ({command})" if command else "rerun it with the recorded values"
        raise ValueError(f"{output} holds a run started with other options ("
                         f"{'; '.join(differences)}); resuming it would mix two runs in one "
                         f"record. To finish that run, {rerun}; to train with these options, "
                         "choose a new --output-dir.")
    return True


def check_resumed_classes(output, classes, where):
    """Refuses to resume the run in ``output`` on data of other classes than it was started
    on (``classes``: the class folders of the training split ``where`` now).
    Why: --data-dir may differ between a run's invocations (the data moved), so a rerun
    pointed at another data folder resumed on its classes: as many of other names trained
    on in one record without a word, another count failed in TensorFlow's restore
    ("Received incompatible tensor with shape (10,) ..."). Records written before the
    classes were (recipe.json without "classes") are not checked."""
    record = read_run_record(output) or {}
    recorded = record.get("classes")
    if recorded is None:
        return
    if readable_class_names(recorded) == readable_class_names(classes):
        return
    raise ValueError(
        f"{output} holds a run started on {len(recorded)} class folders "
        f"({', '.join(recorded)}), but {where} has {len(classes)} ({', '.join(classes)}): "
        "resuming it would train one run on two data sets. To finish that run, rerun its "
        f"command with the --data-dir it was started with ({record.get('command')}); to "
        "train on these classes, choose a new --output-dir.")


def first_missing_folder(path):
    """The outermost folder of ``path`` that does not exist yet (None if ``path`` exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            return missing
        missing = folder
    return missing


@contextlib.contextmanager
def removed_if_failing_before_a_checkpoint(output):
    """Removes what this run wrote into ``output`` (and the folders it created) if the block
    fails before there is anything to resume; a run with a checkpoint is kept to resume."""
    created = first_missing_folder(output)
    try:
        yield
    except RunInUse:  # the folder is another process's run: nothing in it is this one's
        raise
    except BaseException:
        if not has_progress(output):
            if created:
                shutil.rmtree(created, ignore_errors=True)
            else:
                for name in RUN_ARTEFACTS:
                    remove(output / name)
        raise


class RunInUse(ValueError):
    """Another process is training in the run folder."""


@contextlib.contextmanager
def trained_alone(folder):
    """Creates ``folder`` and holds an exclusive lock on it (``flock`` on the folder itself:
    no file is left behind, and a killed process lets go of it) while this process trains
    in it; a second process is refused at once (``RunInUse``). Why: two invocations of a
    run's command at once (a rerun typed while a segment still runs, two jobs of a
    scheduler) both trained into one folder, each writing its checkpoints, weights and
    metrics.json over the other's: the record was one process's and the weights possibly
    the other's, without a word. Where the file system has no such locks (some network
    file systems), it trains without one."""
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunInUse(
                    f"another process is training in {folder}: a run folder is trained by "
                    "one process at a time. Wait for it to end (or stop it), then rerun "
                    "this command, which resumes the run; to train another run meanwhile, "
                    "choose a new --output-dir.") from None
            # no locks on this file system: train without one
        yield
    finally:
        os.close(handle)


def remove(path):
    """Removes a file or a folder tree, if it exists."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(output):
    """Removes half-written files of a killed run: checkpoint folders not yet renamed and
    atomic-write temporaries (el_zoo.atomic names them ``.<name>.<random>...``)."""
    for stale in [*output.glob(f"{CHECKPOINTS_DIR}/*/.{EPOCH_PREFIX}*"), *output.glob(".*.tmp"),
                  *output.glob(f".*{WEIGHTS_FILE}.*")]:
        remove(stale)


# ----------------------------------------------------------------------------- kill points
# Test hook: tests set it to kill a run at a named point (see kill_point).
KILL_AT = "EL_ZOO_TRAIN_KILL_AT"


def kill_point(name):
    """SIGKILLs this process at ``name`` when $EL_ZOO_TRAIN_KILL_AT names it, as a crash or
    `kill -9` there would: tests kill runs at every phase and rerun them. Points: "<stage>
    epoch N batch B", "<stage> epoch N saved", "final evaluation batch B"."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class KillPoints(keras.callbacks.Callback):
    """The per-batch kill points; added only when a test sets $EL_ZOO_TRAIN_KILL_AT (batch
    hooks cost time in real runs)."""

    def __init__(self, phase):
        super().__init__()
        self.phase, self.epoch = phase, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        kill_point(f"{self.phase} epoch {self.epoch} batch {batch + 1}")

    def on_test_batch_end(self, batch, logs=None):
        if self.epoch is None:  # not fit's validation
            kill_point(f"{self.phase} batch {batch + 1}")


def kill_points(phase):
    """[KillPoints(phase)] when a test asks for a kill point, else []."""
    return [KillPoints(phase)] if KILL_AT in os.environ else []


# ----------------------------------------------------------------------------- checkpoints
class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: model + optimizer state, the history so far and the run's
    segments (``training.segments``), into ``epoch-NNNN/`` written under a temporary name
    and renamed, then ``latest`` rewritten atomically; older checkpoints beyond the last
    two are removed. The CSV log is rebuilt from the checkpointed history, so a killed run
    never logs an epoch twice.

    An epoch's times leave out the time the process sat stopped in it
    (``training.pauses``), which its row records as ``paused_s``; ``elapsed_s`` is the
    run's wall time without its epochs' ``paused_s``: ``run["elapsed_before"]`` (the
    previous row's), then the wall time since ``run["started"]``. Each worker counts its
    own stops; the chief's rows are logged, so another worker's stop shows in them as
    time the chief waited, not as ``paused_s``.

    ``run["segment"]`` is this invocation's ``Segment``: past its ``--segment-minutes`` it
    ends here, recorded in the checkpoint written now, and training stops; unless this is
    the run's last epoch (``run["last_stage"]``), after which the run finishes instead.
    """

    def __init__(self, folder, checkpoint, history, images_per_epoch, run, is_chief=True,
                 keep=2):
        super().__init__()
        self.folder, self.checkpoint, self.history = Path(folder), checkpoint, history
        self.images_per_epoch, self.run, self.is_chief, self.keep = (
            images_per_epoch, run, is_chief, keep)
        self.epoch_time = RunningTime()
        self.paused = 0.0  # the paused_s of the epochs since run["started"]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_time.restart()
        self.epoch_cpu_started = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        seconds, paused = self.epoch_time.seconds()
        paused = round(paused, 1)
        self.paused += paused
        elapsed = self.run["elapsed_before"] + time.time() - self.run["started"] - self.paused
        cpu_seconds = time.process_time() - self.epoch_cpu_started
        optimizer = self.model.optimizer
        lr = optimizer.learning_rate
        lr = lr(optimizer.iterations) if callable(lr) else lr
        lr = float(keras.backend.get_value(lr))  # also a MirroredVariable under a strategy
        row = {"stage": self.run["stage"], "epoch": epoch + 1, "lr": lr,
               "img_per_s": round(self.images_per_epoch / seconds, 1) if self.images_per_epoch else None,
               "epoch_time_s": round(seconds, 1), "epoch_cpu_s": round(cpu_seconds, 1),
               "paused_s": paused, "elapsed_s": round(elapsed, 1),
               "iterations": int(optimizer.iterations.numpy())}
        row.update({k: float(v) for k, v in (logs or {}).items() if k in LOG_COLUMNS})
        self.history.append(row)
        print(f"epoch {epoch + 1}: {row['img_per_s']} img/s, {seconds:.0f} s", flush=True)
        rows, segment = self.run["earlier_rows"] + self.history, self.run["segment"]
        segment.epoch_done(rows)
        run_ends = self.run["last_stage"] and epoch + 1 == self.params["epochs"]
        if segment.limit_passed() and not run_ends:
            segment.end("segment limit")
            self.model.stop_training = True
        save_checkpoint(self.folder, epoch + 1, self.checkpoint, self.history, self.is_chief,
                        self.keep, segment.records())
        if self.is_chief:
            write_csv(self.run["output_dir"] / LOG_FILE, rows)
        kill_point(f"{self.run['stage']} epoch {epoch + 1} saved")


def save_checkpoint(folder, epoch, checkpoint, history, is_chief=True, keep=2, segments=()):
    if is_chief:  # the others write nothing into the run folder (see train.RunFolders)
        folder.mkdir(parents=True, exist_ok=True)
    name = epoch_folder(epoch)
    # Non-chief workers must save too (saving may run collectives) but to a throwaway place.
    temporary = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder if is_chief else None))
    try:
        checkpoint.write(str(temporary / CHECKPOINT))
        (temporary / HISTORY_FILE).write_text(json.dumps(history, indent=1))
        (temporary / SEGMENTS_FILE).write_text(json.dumps(list(segments), indent=1))
        if is_chief:
            target = folder / name
            if target.exists():
                shutil.rmtree(target)
            os.replace(temporary, target)
            write_text_atomically(folder / LATEST_FILE, name)
            for old in sorted(folder.glob(f"{EPOCH_PREFIX}*"))[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def latest_checkpoint(folder):
    """(epochs done, path) of the newest checkpoint in ``folder``, or (0, None); a
    ``latest`` that names no checkpoint folder there is a ``damaged_checkpoint`` error."""
    latest = Path(folder) / LATEST_FILE
    if not latest.exists():
        return 0, None
    name = latest.read_text().strip()
    path = Path(folder) / name
    if not re.fullmatch(f"{EPOCH_PREFIX}[0-9]+", name) or not path.is_dir():
        raise damaged_checkpoint(latest, f"it names {name!r}, which is not a checkpoint folder "
                                 "there")
    return int(name[len(EPOCH_PREFIX):]), path


def damaged_checkpoint(path, problem):
    """The error for a checkpoint of a stage that cannot be read (``path``: the file, a
    ``latest`` or a file of an epoch folder): it names the file and the problem, and the
    older checkpoint to resume from instead, if there is one."""
    stage = path.parent if path.name == LATEST_FILE else path.parent.parent
    newest = path.parent.name if path.name != LATEST_FILE else None
    older = sorted(p.name for p in stage.glob(f"{EPOCH_PREFIX}*") if p.name != newest)
    which = "the newest one there" if newest is None else "the checkpoint before it"
    fallback = (f"to resume from {which}, write {older[-1]} into {stage / LATEST_FILE}"
                if older else
                "it is the stage's only checkpoint: restore the run folder from a copy "
                "(python -m training.keep makes one)")
    return ValueError(f"the run's checkpoint {path} is damaged ({problem}): {fallback}; or "
                      "choose a new --output-dir.")


def restore_checkpoint(folder, checkpoint):
    """(epochs done, history) from the newest checkpoint in ``folder``, or (0, []); a
    checkpoint that cannot be read is a one-line error naming it (``damaged_checkpoint``),
    or, if it holds variables of other shapes than ``checkpoint``'s, naming that."""
    import tensorflow as tf  # after el_zoo._keras (above), which chooses tf.keras' Keras 2

    done, path = latest_checkpoint(folder)
    if path is None:
        return 0, []
    try:
        checkpoint.read(str(path / CHECKPOINT)).expect_partial()
    except (tf.errors.OpError, IndexError) as error:  # IndexError: a file cut short
        raise damaged_checkpoint(path / CHECKPOINT, first_line(str(error))) from None
    except ValueError as error:  # its variables' shapes differ from this model's
        raise ValueError(f"the run's checkpoint {path} holds another model than this command "
                         f"builds ({first_line(str(error))}): rerun the run's own command "
                         "(its --data-dir too), or choose a new --output-dir.") from None
    history = read_checkpoint_file(path / HISTORY_FILE)
    return done, history


def first_line(text):
    return text.strip().splitlines()[0] if text.strip() else text


def read_checkpoint_file(path):
    """The JSON of a checkpoint's ``path`` (its history or segments), checked."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise damaged_checkpoint(path, getattr(error, "strerror", None) or error) from None


def recorded_segments(output, recipe):
    """The segments (``training.segments``) the newest checkpoint of the run in ``output``
    records: the last stage's with a checkpoint; [] for checkpoints written before segments
    were recorded."""
    segments = []
    for stage in recipe["stages"]:
        _, path = latest_checkpoint(Path(output) / CHECKPOINTS_DIR / stage["name"])
        if path is not None:
            segments = (read_checkpoint_file(path / SEGMENTS_FILE)
                        if (path / SEGMENTS_FILE).is_file() else [])
    return segments
