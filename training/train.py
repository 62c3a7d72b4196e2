"""Trains a zoo model with a recipe: ``python -m training.train`` or ``el-zoo train``.

    el-zoo train resnet26_el --recipe cifar10 --data-dir ../shared/data --output-dir runs/r26el

Writes into the output folder:
    checkpoints/<stage>/epoch-NNNN/  model + optimizer state and the history so far, one
        folder per epoch, written to a temporary folder and renamed (atomic); ``latest``
        names the newest. Rerunning the same command resumes from it; a run killed during
        its final evaluation is finished by a rerun, and rerunning a finished run says so.
    recipe.json         what defines the run: model, recipe with its overrides (--epochs,
                        --batch-size, --width-multiplier, --lr, --image-size, --elastic-link),
                        --seed, --teacher, --train-limit, --eval-limit, --tfds, and the command.
                        Written when training starts. A rerun that changes any of these is
                        refused before anything is written; options that change only how it
                        runs (--data-dir, --strategy, --threads, --verbose, --stream,
                        --skip-bad-images) may differ.
    <stage>-weights.h5  the weights at the end of each stage (stage 2 starts from stage 1's).
    weights.h5          the final weights (``el_zoo.load(name, weights=...)`` reads them).
    training_log.csv    one row per epoch (losses, top-1/top-5, learning rate, img/s, time).
    logs/               TensorBoard logs.
    training_curves.png the curves of training_log.csv.
    metrics.json        final top-1/top-5 on the evaluation split, epochs, wall time, img/s,
                        the exact command, commit and machine; written last: it marks the run
                        complete.

A run that fails before its first checkpoint removes what it wrote (and the folder, if it
created it), so a failed start leaves nothing half-written.

Distribution uses TensorFlow's strategies: ``--strategy mirrored`` (all local GPUs) or
``--strategy multiworker`` (several processes or hosts; each reads its role from
``TF_CONFIG``). The batch size is global (split over replicas).
"""

import argparse
import contextlib
import csv
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

import el_zoo
import numpy as np
import tensorflow as tf
from el_zoo import data
from el_zoo._keras import keras
from el_zoo.atomic import atomic_path, write_text_atomically
from el_zoo.binarization import strip_binarization
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.layers import ElasticLink
from el_zoo.provenance import git_commit, run_info

from training.recipes import (
    OVERRIDABLE,
    RECIPES,
    get_recipe,
    recorded_elastic_link,
    run_elastic_link,
)

STRATEGIES = ("default", "mirrored", "multiworker")
LOG_COLUMNS = ("stage", "epoch", "loss", "top1", "top5", "val_loss", "val_top1", "val_top5",
               "lr", "img_per_s", "epoch_time_s", "elapsed_s", "iterations")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="el-zoo train", description="Train a zoo model with a recipe (see training/recipes.py)."
    )
    parser.add_argument("model", help="a registered model, e.g. resnet26_el (see el-zoo list)")
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    parser.add_argument("--data-dir", default=None, help="data root (default: $EL_ZOO_DATA)")
    parser.add_argument("--output-dir", required=True, help="run folder (resumed if it exists)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per stage")
    parser.add_argument("--stage-epochs", action="append", default=[], metavar="NAME=N",
                        help="epochs of one stage of the recipe (repeatable), after --epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch size")
    parser.add_argument("--width-multiplier", type=float, default=None)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--image-size", type=int, default=None, help="training resolution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--elastic-link", action="append", default=[], metavar="KEY=VALUE",
                        help="an Elastic-Link option replacing the model's default "
                             "(repeatable), e.g. position=after_bn, gamma_scale=fan_in or "
                             "activation_scaling=true; options: "
                             f"{', '.join(ElasticLinkOptions.names())} (el_zoo."
                             "ElasticLinkOptions describes them); all are recorded in the "
                             "recipe")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default")
    parser.add_argument("--teacher", default=None,
                        help="distil from this model: a zoo NAME.TAG or a saved Keras model")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="use only this many (class-balanced) training images")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="evaluate on only this many (class-balanced) images")
    parser.add_argument("--tfds", action="store_true",
                        help="read the data set from TensorFlow Datasets (imagenet -> imagenet2012)")
    parser.add_argument("--stream", action="store_true",
                        help="decode image files on the fly instead of caching arrays "
                             "(default for imagenet)")
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="leave out unreadable image files with a warning")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--verbose", type=int, default=None, choices=[0, 1, 2],
                        help="Keras progress: 1 = progress bar (default on a terminal), "
                             "2 = one line per epoch")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def stage_epochs(pairs):
    """{stage: epochs} from ``--stage-epochs NAME=N`` options (checked by get_recipe)."""
    epochs = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name or not value.isdigit():
            raise ValueError(f"--stage-epochs {pair!r} is not NAME=N (e.g. --stage-epochs "
                             "float=4).")
        epochs[name] = int(value)
    return epochs


def run_recipe(args):
    """The recipe with the command's overrides and Elastic-Link options, checked."""
    recipe = get_recipe(args.recipe, epochs=args.epochs, batch_size=args.batch_size,
                        width_multiplier=args.width_multiplier, lr=args.lr,
                        image_size=args.image_size,
                        stage_epochs=stage_epochs(args.stage_epochs))
    elastic_link = run_elastic_link(args.model, args.elastic_link)
    if elastic_link is not None:
        recipe["elastic_link"] = elastic_link  # every option, resolved
    return recipe


# ----------------------------------------------------------------------------- run folder
# What a run writes; a start that fails before its first checkpoint removes them again.
RUN_ARTEFACTS = ("recipe.json", "logs", "checkpoints")


def documented_command(args):
    """The command as documented (``python -m training.train`` takes the same arguments)."""
    return "el-zoo train " + shlex.join(args.argv)


def check_output_folder(path):
    """Refuses an --output-dir that cannot hold a run (a file, or below one) before anything
    is written, instead of a traceback from the first write."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(f"--output-dir {path}: {folder} is a file, not a folder; give "
                                 "a folder (a new one starts a run, a run folder resumes it).")
            return


def run_record(args, recipe):
    """What defines a run, as recipe.json records it: a rerun must match it to resume."""
    return {"model": args.model, "recipe": recipe, "seed": args.seed, "teacher": args.teacher,
            "train_limit": args.train_limit, "eval_limit": args.eval_limit, "tfds": args.tfds,
            "command": documented_command(args)}


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


def run_differences(recorded, now):
    """["--seed: recorded 0, now 1", ...] for each defining value a rerun changes; values one
    side does not have (an older record) are not compared."""
    before, after = defining_values(recorded), defining_values(now)
    names = [name for name in before if name in after and before[name] != after[name]]
    if "--recipe" in names:  # another recipe differs in all its settings: name the option only
        names = [name for name in names if not name.startswith("recipe setting")]
    return [f"{name}: recorded {shown(before[name], after[name])}, now "
            f"{shown(after[name], before[name])}"
            for name in names]


def has_progress(output):
    """True once a run in ``output`` has something to resume: a checkpoint or weights."""
    return any(output.glob("checkpoints/*/latest")) or any(output.glob("*weights.h5")) or \
        (output / "metrics.json").exists()


def check_resumable(output, record):
    """True if ``output`` holds a started run that ``record`` continues, False if nothing was
    trained there yet; an error naming each difference if the run was started otherwise."""
    if not has_progress(output):
        return False
    path = output / "recipe.json"
    if not path.is_file():
        raise ValueError(f"{output} holds checkpoints or weights but no recipe.json, so what "
                         "was trained there is unknown: choose a new --output-dir.")
    recorded = json.loads(path.read_text())
    differences = run_differences(recorded, record)
    if differences:
        command = recorded.get("command")
        rerun = f"rerun its command ({command})" if command else "rerun it with the recorded values"
        raise ValueError(f"{output} holds a run started with other options ("
                         f"{'; '.join(differences)}); resuming it would mix two runs in one "
                         f"record. To finish that run, {rerun}; to train with these options, "
                         "choose a new --output-dir.")
    return True


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
    except BaseException:
        if not has_progress(output):
            if created:
                shutil.rmtree(created, ignore_errors=True)
            else:
                for name in RUN_ARTEFACTS:
                    remove(output / name)
        raise


def remove(path):
    """Removes a file or a folder tree, if it exists."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(output):
    """Removes half-written files of a killed run: checkpoint folders not yet renamed and
    atomic-write temporaries (el_zoo.atomic names them ``.<name>.<random>...``)."""
    for stale in [*output.glob("checkpoints/*/.epoch-*"), *output.glob(".*.tmp"),
                  *output.glob(".*weights.h5.*")]:
        remove(stale)


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


# ----------------------------------------------------------------------------- strategy
def make_strategy(kind):
    """A tf.distribute strategy; must be created before any other TensorFlow op."""
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multiworker needs TF_CONFIG describing the cluster and this "
                "worker's role (see README 'Training on several GPUs or hosts')."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {kind!r}; use one of {STRATEGIES}.")


def worker_role(strategy):
    """(is_chief, worker index) under a multi-worker strategy, else (True, 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                        and "chief" not in resolver.cluster_spec().as_dict())
    return is_chief, task_id


# ----------------------------------------------------------------------------- data
def load_data(recipe, args):
    """(train dataset, eval dataset, class names, train images per epoch)."""
    size, stored = recipe["image_size"], recipe.get("stored_size")
    crop = size if recipe["augment"] == "imagenet" else None
    common = dict(batch_size=recipe["batch_size"], augment=recipe["augment"], seed=args.seed,
                  crop_size=crop)
    name = recipe["dataset"]
    if args.tfds:
        tfds_name = "imagenet2012" if name == "imagenet" else name
        split_names = {"train": "train", "val": "validation", "test": "test"}
        train = data.tfds_dataset(tfds_name, split_names[recipe["train_split"]],
                                  data_dir=args.data_dir, image_size=stored or size,
                                  training=True, **common)
        evaluation = data.tfds_dataset(tfds_name, split_names[recipe["eval_split"]],
                                       data_dir=args.data_dir, image_size=stored or size,
                                       training=False, **common)
        return train, evaluation, None, None
    if args.stream or name == "imagenet":
        root = data.dataset_dir(name, args.data_dir)
        splits = []
        for split, limit in ((recipe["train_split"], args.train_limit),
                             (recipe["eval_split"], args.eval_limit)):
            paths, labels, classes = data.image_folder(root / split)
            order = data._class_interleaved(labels)[:limit]
            splits.append(([paths[i] for i in order], labels[order]))
        train = data.file_dataset(*splits[0], image_size=stored or size, training=True,
                                  skip_bad_images=args.skip_bad_images, **common)
        evaluation = data.file_dataset(*splits[1], image_size=stored or size, training=False,
                                       skip_bad_images=args.skip_bad_images, **common)
        return train, evaluation, classes, len(splits[0][0])
    arrays = {}
    for role, split, limit in (("train", recipe["train_split"], args.train_limit),
                               ("eval", recipe["eval_split"], args.eval_limit)):
        arrays[role] = data.load_split(name, split, data_dir=args.data_dir,
                                       image_size=stored if stored else None, limit=limit,
                                       skip_bad_images=args.skip_bad_images)
    images, labels, classes = arrays["train"]
    train = data.array_dataset(images, labels, training=True, **common)
    evaluation = data.array_dataset(*arrays["eval"][:2], training=False, **common)
    return train, evaluation, classes, len(images)


# ----------------------------------------------------------------------------- model
def build_model(model_name, recipe, stage, classes):
    size = recipe["image_size"]
    options = recorded_elastic_link(model_name, recipe)
    overrides = {} if options is None else {"elastic_link": options}
    model = el_zoo.load(model_name, input_shape=(size, size, 3), stem=recipe["stem"],
                        classes=len(classes), width_multiplier=recipe["width_multiplier"],
                        **overrides)
    mean, std = data.NORMALIZATION[recipe["dataset"]]
    model.get_layer("standardize").set_weights([np.array(mean), np.array(std)])
    if not (stage["binary_weights"] and stage["binary_activations"]):
        model = strip_binarization(model, weights=not stage["binary_weights"],
                                   activations=not stage["binary_activations"],
                                   activation="hard_tanh")
        model.get_layer("standardize").set_weights([np.array(mean), np.array(std)])
    return model


def stage_teacher(args, recipe, stage, classes, output):
    """The frozen teacher of a stage: an earlier stage of this run (``stage["teacher"]``,
    e.g. the float twin trained in stage "float"), else ``--teacher``, else None."""
    if stage["teacher"] is None:
        return load_teacher(args.teacher) if args.teacher else None
    source = next(s for s in recipe["stages"] if s["name"] == stage["teacher"])
    teacher = stage_model(args.model, recipe, source, classes,
                          output / f"{source['name']}-weights.h5")
    teacher.trainable = False
    return teacher


def load_teacher(spec):
    """A frozen teacher: a zoo ``NAME.TAG`` or a saved Keras model (file or folder)."""
    if os.path.exists(spec):
        teacher = keras.models.load_model(spec, compile=False)
    else:
        teacher = el_zoo.load(spec)
    teacher.trainable = False
    return teacher


class Distiller(keras.Model):
    """Trains ``student`` to match a frozen ``teacher``'s class distribution (the
    KL-divergence loss of ReActNet's distillation), plus the student's own losses."""

    def __init__(self, student, teacher, **kwargs):
        super().__init__(**kwargs)
        self.student, self.teacher = student, teacher
        self.kl = keras.losses.KLDivergence()

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def train_step(self, batch):
        images, labels = batch
        target = self.teacher(images, training=False)
        with tf.GradientTape() as tape:
            predicted = self.student(images, training=True)
            loss = self.kl(target, predicted) + tf.add_n([0.0] + self.student.losses)
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.compiled_metrics.update_state(labels, predicted)
        return {"loss": loss, **{m.name: m.result() for m in self.metrics if m.name != "loss"}}


def learning_rate(stage, steps_per_epoch):
    total = max(1, stage["epochs"] * steps_per_epoch)
    warmup = stage["warmup_epochs"] * steps_per_epoch
    if stage["schedule"] == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else stage["lr"], total - warmup, warmup_target=stage["lr"] if warmup else None,
            warmup_steps=warmup)
    if stage["schedule"] == "linear":
        return keras.optimizers.schedules.PolynomialDecay(stage["lr"], total, 0.0, power=1.0)
    raise ValueError(f"unknown schedule {stage['schedule']!r}; use 'cosine' or 'linear'.")


def make_optimizer(stage, steps_per_epoch, model):
    schedule = learning_rate(stage, steps_per_epoch)
    if stage["weight_decay"]:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=stage["weight_decay"])
        # decay conv/dense kernels only, as is usual (not BN, biases, gammas, RPReLU, nor
        # the scales of the Elastic-Links, found by their layer's type)
        link_scales = [layer.gamma for layer in model.layers if isinstance(layer, ElasticLink)]
        optimizer.exclude_from_weight_decay(
            var_list=link_scales,
            var_names=["bn", "bias", "gamma", "beta", "alpha", "prelu", "standardize"])
        return optimizer
    return keras.optimizers.Adam(schedule)


def classification_loss(label_smoothing):
    """Cross-entropy on integer labels, with label smoothing when it is above 0 (Keras 2's
    sparse loss has no smoothing, so the labels become one-hot first)."""
    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy()
    smoothed = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)

    def smoothed_cross_entropy(labels, probabilities):
        labels = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32),
                            tf.shape(probabilities)[-1])
        return smoothed(labels, probabilities)

    return smoothed_cross_entropy


def compile_model(model, stage, steps_per_epoch, teacher=None):
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="top1"),
               keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")]
    trainer = model if teacher is None else Distiller(model, teacher)
    trainer.compile(make_optimizer(stage, steps_per_epoch, model),
                    classification_loss(stage["label_smoothing"]), metrics)
    return trainer


# ----------------------------------------------------------------------------- checkpoints
class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: model + optimizer state and the history so far, into
    ``epoch-NNNN/`` written under a temporary name and renamed, then ``latest`` rewritten
    atomically; older checkpoints beyond the last two are removed. The CSV log is rebuilt
    from the checkpointed history, so a killed run never logs an epoch twice."""

    def __init__(self, folder, checkpoint, history, images_per_epoch, run, is_chief=True,
                 keep=2):
        super().__init__()
        self.folder, self.checkpoint, self.history = Path(folder), checkpoint, history
        self.images_per_epoch, self.run, self.is_chief, self.keep = (
            images_per_epoch, run, is_chief, keep)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self.epoch_started
        optimizer = self.model.optimizer
        lr = optimizer.learning_rate
        lr = lr(optimizer.iterations) if callable(lr) else lr
        lr = float(keras.backend.get_value(lr))  # also a MirroredVariable under a strategy
        row = {"stage": self.run["stage"], "epoch": epoch + 1, "lr": lr,
               "img_per_s": round(self.images_per_epoch / seconds, 1) if self.images_per_epoch else None,
               "epoch_time_s": round(seconds, 1),
               "elapsed_s": round(self.run["elapsed_before"] + time.time() - self.run["started"], 1),
               "iterations": int(optimizer.iterations.numpy())}
        row.update({k: float(v) for k, v in (logs or {}).items() if k in LOG_COLUMNS})
        self.history.append(row)
        print(f"epoch {epoch + 1}: {row['img_per_s']} img/s, {seconds:.0f} s", flush=True)
        save_checkpoint(self.folder, epoch + 1, self.checkpoint, self.history, self.is_chief,
                        self.keep)
        if self.is_chief:
            write_csv(self.run["output_dir"] / "training_log.csv", self.run["earlier_rows"] + self.history)
        kill_point(f"{self.run['stage']} epoch {epoch + 1} saved")


def save_checkpoint(folder, epoch, checkpoint, history, is_chief=True, keep=2):
    folder.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epoch:04d}"
    # Non-chief workers must save too (saving may run collectives) but to a throwaway place.
    temporary = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder if is_chief else None))
    try:
        checkpoint.write(str(temporary / "ckpt"))
        (temporary / "history.json").write_text(json.dumps(history, indent=1))
        if is_chief:
            target = folder / name
            if target.exists():
                shutil.rmtree(target)
            os.replace(temporary, target)
            write_text_atomically(folder / "latest", name)
            for old in sorted(folder.glob("epoch-*"))[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def restore_checkpoint(folder, checkpoint):
    """(epochs done, history) from the newest checkpoint in ``folder``, or (0, [])."""
    latest = Path(folder) / "latest"
    if not latest.exists():
        return 0, []
    path = Path(folder) / latest.read_text().strip()
    checkpoint.read(str(path / "ckpt")).expect_partial()
    history = json.loads((path / "history.json").read_text())
    return int(path.name.split("-")[1]), history


def write_csv(path, rows):
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def save_weights_atomically(model, path):
    el_zoo.weights.save_weights(model, path)  # atomic; records the model's configuration


def plot_curves(csv_path, png_path):
    """Loss and top-1 per epoch (train and eval) from the CSV log, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    x = np.arange(1, len(rows) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in ((left, "loss"), (right, "top1")):
        for prefix, label in (("", "train"), ("val_", "eval")):
            values = [float(r[prefix + metric]) if r.get(prefix + metric) else np.nan
                      for r in rows]
            axis.plot(x, values, marker=".", label=label)
        axis.set_xlabel("epoch (all stages)")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    with atomic_path(png_path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)


# ----------------------------------------------------------------------------- main
class Inputs(NamedTuple):
    """A run's data sets and their sizes."""

    train: tf.data.Dataset
    evaluation: tf.data.Dataset
    classes: list
    images_per_epoch: Optional[int]  # None when unknown (TFDS)
    steps_per_epoch: Optional[int]


def prepare_inputs(recipe, args):
    """The data sets of a run, checked: a training set too small for one batch is an error."""
    train_ds, eval_ds, classes, images_per_epoch = load_data(recipe, args)
    if args.strategy == "multiworker":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds, eval_ds = train_ds.with_options(options), eval_ds.with_options(options)
    if classes is None:  # TFDS: class names from its metadata are not needed for training
        classes = [str(i) for i in range(1000)]
    steps_per_epoch = (images_per_epoch // recipe["batch_size"]) if images_per_epoch else None
    if steps_per_epoch == 0:
        raise ValueError(f"{images_per_epoch} training images make no batch of "
                         f"{recipe['batch_size']}: lower --batch-size.")
    return Inputs(train_ds, eval_ds, classes, images_per_epoch, steps_per_epoch)


def stage_model(model_name, recipe, stage, classes, weights):
    """A stage's model, starting from ``weights`` (a previous stage's, or None)."""
    model = build_model(model_name, recipe, stage, classes)
    if weights is not None:
        model.load_weights(str(weights), by_name=True)
    return model


def train_stages(args, recipe, strategy, is_chief, output, inputs):
    """Trains every stage an earlier run did not finish, each resumed from its newest
    checkpoint. Returns (the final model, or None when earlier runs finished every stage;
    the log rows of all stages)."""
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    earlier_rows, previous_weights, model = [], None, None
    for stage in recipe["stages"]:
        stage_weights = output / f"{stage['name']}-weights.h5"
        folder = output / "checkpoints" / stage["name"]
        if stage_weights.exists():  # stage finished by an earlier run
            _, rows = restore_checkpoint(folder, tf.train.Checkpoint())
            earlier_rows += rows
            previous_weights = stage_weights
            continue
        with strategy.scope():
            start = previous_weights if stage["init"] == "previous" else None
            model = stage_model(args.model, recipe, stage, inputs.classes, start)
            teacher = stage_teacher(args, recipe, stage, inputs.classes, output)
            trainer = compile_model(model, stage, inputs.steps_per_epoch or 1000, teacher)
            checkpoint = tf.train.Checkpoint(model=model, optimizer=trainer.optimizer)
        done, history = restore_checkpoint(folder, checkpoint)
        if done:
            print(f"resuming {stage['name']} after epoch {done} from {folder}", flush=True)
        run = {"stage": stage["name"], "output_dir": output, "earlier_rows": earlier_rows,
               "started": time.time(),
               "elapsed_before": history[-1]["elapsed_s"] if history else
               (earlier_rows[-1]["elapsed_s"] if earlier_rows else 0.0)}
        callbacks = [EpochCheckpoint(folder, checkpoint, history, inputs.images_per_epoch, run,
                                     is_chief), *kill_points(stage["name"])]
        if is_chief:
            callbacks.append(keras.callbacks.TensorBoard(str(output / "logs" / stage["name"]),
                                                         write_graph=False))
        if done < stage["epochs"]:
            trainer.fit(inputs.train, epochs=stage["epochs"], initial_epoch=done,
                        steps_per_epoch=inputs.steps_per_epoch, validation_data=inputs.evaluation,
                        callbacks=callbacks, verbose=verbose)
        save_weights_atomically(model, stage_weights)
        earlier_rows += history
        previous_weights = stage_weights
    return model, earlier_rows


def evaluate_final(args, recipe, strategy, model, output, inputs):
    """Top-1/top-5 of the final model on the evaluation split; ``model`` None (every stage
    finished by an earlier run, killed before its final evaluation) loads the last stage's
    weights."""
    last = recipe["stages"][-1]
    with strategy.scope():
        if model is None:
            model = stage_model(args.model, recipe, last, inputs.classes,
                                output / f"{last['name']}-weights.h5")
        evaluator = compile_model(model, last, 1)  # the student alone, without a teacher
    results = evaluator.evaluate(inputs.evaluation, verbose=0, return_dict=True,
                                 callbacks=kill_points("final evaluation"))
    return model, results


def run_metrics(args, recipe, results, rows, inputs, started, commit):
    """metrics.json's record of a finished run."""
    train_seconds = sum(r["epoch_time_s"] for r in rows)
    images_seen = (inputs.images_per_epoch or 0) * len(rows)
    metrics = {
        "model": args.model, "recipe": args.recipe, "dataset": recipe["dataset"],
        "eval_split": recipe["eval_split"], "eval_images": args.eval_limit,
        "top1": float(results["top1"]), "top5": float(results["top5"]),
        "epochs": len(rows), "stages": [s["name"] for s in recipe["stages"]],
        "train_time_s": round(train_seconds, 1),
        "img_per_s": round(images_seen / train_seconds, 1) if train_seconds and images_seen else None,
        "config": {"input_shape": [recipe["image_size"]] * 2 + [3], "classes": len(inputs.classes),
                   "width_multiplier": recipe["width_multiplier"], "stem": recipe["stem"]},
        "classes": list(inputs.classes), "seed": args.seed, "strategy": args.strategy,
        "teacher": args.teacher, "recipe_config": recipe,
        **run_info(started, commit),
    }
    metrics["command"] = documented_command(args)
    metrics["wall_time_s"] = round(rows[-1]["elapsed_s"] + 0.0, 1) if rows else metrics["wall_time_s"]
    return metrics


def summary(metrics):
    """One line: the model, recipe, top-1/top-5 and epochs of a finished run."""
    return (f"{metrics['model']} ({metrics['recipe']}): top-1 {metrics['top1']:.4f}, top-5 "
            f"{metrics['top5']:.4f} on {metrics['dataset']} {metrics['eval_split']} after "
            f"{metrics['epochs']} epochs")


def train(args):
    """Trains, resumes or finishes the run ``args`` describe; returns its metrics."""
    started, commit = time.time(), git_commit()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    strategy = make_strategy(args.strategy)
    is_chief, worker = worker_role(strategy)
    recipe = run_recipe(args)
    check_output_folder(Path(args.output_dir))
    output = Path(args.output_dir)
    if not is_chief:  # other workers keep their own (final) weights apart from the chief's
        output = output / f"worker-{worker}"
    record = run_record(args, recipe)
    resuming = check_resumable(output, record)  # before anything is written
    if (output / "metrics.json").exists():
        metrics = json.loads((output / "metrics.json").read_text())
        print(f"{output} is already complete: {summary(metrics)}; nothing to do "
              "(choose a new --output-dir to train another run).", flush=True)
        return metrics
    tf.keras.utils.set_random_seed(args.seed)
    inputs = prepare_inputs(recipe, args)
    with removed_if_failing_before_a_checkpoint(output):
        output.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(output)
        if not resuming:  # the record of what this folder trains, from its start
            write_text_atomically(output / "recipe.json", json.dumps(record, indent=1))
        model, rows = train_stages(args, recipe, strategy, is_chief, output, inputs)
        model, results = evaluate_final(args, recipe, strategy, model, output, inputs)
    save_weights_atomically(model, output / "weights.h5")
    metrics = run_metrics(args, recipe, results, rows, inputs, started, commit)
    if is_chief:
        try:
            plot_curves(output / "training_log.csv", output / "training_curves.png")
        except ImportError:
            print("matplotlib is not installed: no training_curves.png "
                  "(pip install 'el_zoo[plot]')", flush=True)
    # written last: a run folder with metrics.json is complete
    write_text_atomically(output / "metrics.json", json.dumps(metrics, indent=1))
    print(f"{summary(metrics)}; wrote {output}", flush=True)
    return metrics


def main(argv=None):
    args = parse_args(argv)
    try:
        train(args)
    except (ValueError, OSError, ImportError) as error:
        # expected errors (bad input, missing files or packages) read as one line; any
        # other exception is a bug and keeps its traceback
        print(f"el-zoo train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
