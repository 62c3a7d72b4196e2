"""Trains a zoo model with a recipe: ``python -m training.train`` or ``el-zoo train``.

    el-zoo train resnet26_el --recipe cifar10 --data-dir ../shared/data --output-dir runs/r26el

Writes into the output folder:
    checkpoints/<stage>/epoch-NNNN/  model + optimizer state, the history so far and the
        run's segments (``training/segments.py``), one folder per epoch, written to a
        temporary folder and renamed (atomic); ``latest`` names the newest. Rerunning the
        same command resumes from it; a run killed during its final evaluation is finished
        by a rerun, and rerunning a finished run says so. ``--segment-minutes N`` ends an
        invocation at the first epoch end past N minutes, checkpoint written: a long run is
        a chain of such segments, each a rerun of the same command.
    recipe.json         what defines the run: model, recipe with its overrides (--epochs,
                        --batch-size, --width-multiplier, --lr, --image-size, --elastic-link),
                        --seed, --teacher, --train-limit, --eval-limit, --tfds, a restart
                        from committed weights (--restart-from, ``training/restart.py``)
                        and the command; and the training split's class folders. Written
                        when training starts. A rerun that changes any of these is refused
                        before anything is written (the classes once the data are read);
                        options that change only how it runs (--data-dir, --strategy,
                        --threads, --verbose, --stream, --skip-bad-images,
                        --segment-minutes) may differ.
    <stage>-weights.h5  the weights at the end of each stage (stage 2 starts from stage 1's).
    weights.h5          the final weights (``el_zoo.load(name, weights=...)`` reads them).
    training_log.csv    one row per epoch (losses, top-1/top-5, learning rate, img/s, time).
    logs/               TensorBoard logs.
    training_curves.png the curves of training_log.csv.
    metrics.json        final top-1/top-5 on the evaluation split, epochs (those logged,
                        and images per epoch), wall time, img/s, the exact command, commit
                        and machine, the segments and the restart (if any); written last:
                        it marks the run complete.

A run that fails before its first checkpoint removes what it wrote (and the folder, if it
created it), so a failed start leaves nothing half-written. One process at a time trains in a
run folder (``checkpoints.trained_alone``): a second is refused. A damaged run file is an
error naming it.

The command's options are in ``training/command.py``, checkpoints and run records in
``training/checkpoints.py``, the CSV and TensorBoard logs and the curves in
``training/logs.py``.

Distribution uses TensorFlow's strategies: ``--strategy mirrored`` (all local GPUs) or
``--strategy multiworker`` (several processes or hosts; each reads its role from
``TF_CONFIG``). The batch size is global (split over replicas). The chief writes the run
folder; the other workers write only their copies of the weights and metrics.json, into
``worker-N/`` inside it. Rerunning every worker's command resumes them all from the chief's
newest checkpoint, which they read from --output-dir: to resume, it must be one folder all
workers share (a shared file system at the same path); a worker that sees another state of
the run there is refused on every worker, before anything is trained.
"""

import functools
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import el_zoo
import numpy as np
import tensorflow as tf
from el_zoo import data
from el_zoo._keras import keras
from el_zoo.atomic import write_text_atomically
from el_zoo.binarization import strip_binarization
from el_zoo.builder import (FolderNamedAsModel, holds_whole_model, load_weights_file,
                            looks_like_path, stored_weights, warn_of_a_folder_named)
from el_zoo.cli import run_command
from el_zoo.layers import ElasticLink, gamma_initializer_from
from el_zoo.model_record import class_names_of
from el_zoo.nets._blocks import STANDARDIZE, set_standardization
from el_zoo.pretrained import published_model
from el_zoo.provenance import git_commit, run_info
from el_zoo.registry import KERAS_SUFFIX, model_info, split_name

from training.checkpoints import (EpochCheckpoint, check_output_folder, check_resumable,
                                  check_resumed_classes, kill_points, latest_checkpoint,
                                  read_run_file, recorded_segments,
                                  removed_if_failing_before_a_checkpoint,
                                  remove_stale_temporaries, restore_checkpoint, run_record,
                                  trained_alone)
from training.command import STRATEGIES, documented_command, parse_args
from training.logs import epochs_of, paused_of, plot_curves, tensorboard_callback, wall_time_of
from training.recipes import (get_recipe, recipe_preprocessing, recorded_elastic_link,
                              run_elastic_link)
from training.restart import check_same_classes, planned_restart, stages_done
from training.run_folder import (CHECKPOINTS_DIR, CURVES_FILE, LOG_FILE, METRICS_FILE,
                                 RECIPE_FILE, WEIGHTS_FILE, stage_weights_file)
from training.schedules import learning_rate
from training.segments import Segment


def stage_epochs(pairs):
    """{stage: epochs} from ``--stage-epochs NAME=N`` options (checked by get_recipe)."""
    epochs = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name or not value.isdecimal():  # isdigit takes "²"
            raise ValueError(f"--stage-epochs {pair!r} is not NAME=N, N a whole number of "
                             "epochs (e.g. --stage-epochs float=4).")
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
        gamma_initializer_from(elastic_link["gamma_initializer"])  # before data are loaded
        recipe["elastic_link"] = elastic_link  # every option, resolved
    return recipe


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


class RunFolders(NamedTuple):
    """Where a worker reads and writes a run.

    ``run`` (--output-dir) is the chief's folder. Its record, checkpoints and stage weights
    are the run's state, and every worker resumes from them: under --strategy multiworker
    --output-dir must name one folder that every worker sees (a shared file system mounted
    at the same path; ``check_workers_resume_alike`` refuses a rerun otherwise). ``own`` is
    where this worker writes: ``run`` for the chief, ``run/worker-N`` for the others (their
    copies of the stage and final weights, and metrics.json); they write nothing else.
    """

    run: Path
    own: Path

    def stage_weights(self, name):
        """The weights file of finished stage ``name``: the run's (finished by an earlier
        run, or by the chief), else this worker's copy (finished now)."""
        path = self.run / stage_weights_file(name)
        return path if path.exists() else self.own / stage_weights_file(name)


def run_progress(output, recipe):
    """How far the run in ``output`` got, as a rerun resumes it: per stage, 1 if its
    weights are saved and the epoch of its newest checkpoint; last, 1 if it is complete."""
    progress = []
    for stage in recipe["stages"]:
        progress += [int((output / stage_weights_file(stage["name"])).exists()),
                     latest_checkpoint(output / CHECKPOINTS_DIR / stage["name"])[0]]
    return progress + [int((output / METRICS_FILE).exists())]


def described_progress(progress, recipe):
    """``run_progress`` in words: "complete", "float finished, main after epoch 2", ..."""
    if progress[-1]:
        return "complete"
    parts = []
    for stage, saved, epoch in zip(recipe["stages"], progress[0::2], progress[1::2]):
        if saved:
            parts.append(f"{stage['name']} finished")
        elif epoch:
            parts.append(f"{stage['name']} after epoch {epoch}")
    return ", ".join(parts) or "no checkpoint"


def check_workers_resume_alike(strategy, output, recipe):
    """Under a multi-worker strategy, refuses (on every worker alike, before anything is
    written or trained) a run whose workers see different progress in ``output``.

    Why: every worker resumes from the chief's checkpoints in ``output`` (see RunFolders).
    A worker that cannot see them would start from epoch 0 with fresh weights while the
    chief resumes: the replicas' weights would differ and their epochs would not match,
    which mixes two trainings or hangs in a collective. The workers exchange what they see
    (an all-gather), so each of them reaches the same verdict.
    """
    if getattr(strategy, "cluster_resolver", None) is None:
        return
    is_chief, worker = worker_role(strategy)
    seen = [int(is_chief), worker, *run_progress(output, recipe)]
    gathered = strategy.gather(strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([seen], tf.int64)), axis=0).numpy()
    views = {("chief" if row[0] else f"worker {row[1]}"): described_progress(list(row[2:]), recipe)
             for row in gathered}
    if len(set(views.values())) > 1:
        raise ValueError(
            f"the workers see different runs in --output-dir {output} ("
            + "; ".join(f"{who}: {what}" for who, what in views.items())
            + "). Every worker resumes from the chief's checkpoints there, so it must be one "
            "folder all workers share (a shared file system at the same path): rerun with "
            "the run folder shared, or start a new run in a new --output-dir.")


# ----------------------------------------------------------------------------- data
def load_data(recipe, args, seed):
    """(train dataset, eval dataset, class names, train images per epoch); ``seed`` seeds
    the training data's shuffle and augmentation (``data_seed``). Images are decoded at the
    recipe's stored size, else at its training size (the model's input), however large
    they are on disk; the class names are the training split's, with which the evaluation
    split's folders are matched by name (``evaluation_labels``)."""
    decode = recipe_preprocessing(recipe)["resize"]
    train_crop, eval_crop = pipeline_crops(recipe)
    common = dict(batch_size=recipe["batch_size"], seed=seed)
    # augmentation is the training pipeline's alone
    train_options = dict(common, training=True, augment=recipe["augment"], crop_size=train_crop)
    eval_options = dict(common, training=False, crop_size=eval_crop)
    name = recipe["dataset"]
    if args.tfds:
        tfds_name = "imagenet2012" if name == "imagenet" else name
        split_names = {"train": "train", "val": "validation", "test": "test"}
        train = data.tfds_dataset(tfds_name, split_names[recipe["train_split"]],
                                  data_dir=args.data_dir, image_size=decode, **train_options)
        evaluation = data.tfds_dataset(tfds_name, split_names[recipe["eval_split"]],
                                       data_dir=args.data_dir, image_size=decode,
                                       **eval_options)
        return train, evaluation, None, None
    if args.stream or name == "imagenet":
        splits = [data.split_files(name, split, data_dir=args.data_dir, limit=limit)
                  for split, limit in ((recipe["train_split"], args.train_limit),
                                       (recipe["eval_split"], args.eval_limit))]
        make = functools.partial(data.file_dataset, image_size=decode,
                                 skip_bad_images=args.skip_bad_images)
    else:
        splits = [data.load_split(name, split, data_dir=args.data_dir, image_size=decode,
                                  limit=limit, skip_bad_images=args.skip_bad_images)
                  for split, limit in ((recipe["train_split"], args.train_limit),
                                       (recipe["eval_split"], args.eval_limit))]
        make = data.array_dataset
    (train_items, train_labels, classes), (eval_items, eval_labels, eval_folders) = splits
    check_training_classes(train_labels, classes, recipe)
    eval_labels = evaluation_labels(eval_labels, eval_folders, classes, recipe)
    return (make(train_items, train_labels, **train_options),
            make(eval_items, eval_labels, **eval_options), classes, len(train_items))


def pipeline_crops(recipe):
    """(training, evaluation) ``crop_size`` of a run's data pipelines. Evaluation crops as
    the published model is evaluated (``recipe_preprocessing``, which the manifest records
    and ``el_zoo.evaluate`` applies), so that the two are one rule; training crops at random
    to the training size under ImageNet augmentation, else as evaluation does."""
    evaluation = recipe_preprocessing(recipe)["crop"]
    training = recipe["image_size"] if recipe["augment"] == "imagenet" else evaluation
    return training, evaluation


def check_training_classes(labels, classes, recipe):
    """Refuses a training split of one class folder (a softmax over one class outputs 1.0:
    nothing to learn, and a top-1 of 100 %), or in which a class folder gives no image (an
    empty folder, or a --train-limit below the number of classes): the model would get an
    output for a class it never sees (torchvision's ImageFolder refuses empty class folders
    too)."""
    where = f"{recipe['dataset']}/{recipe['train_split']}"
    if len(classes) < 2:
        raise ValueError(f"{where} has one class folder, {classes[0]!r}: a classifier needs "
                         "two or more (one folder per class).")
    counts = np.bincount(labels, minlength=len(classes))
    unseen = [name for name, count in zip(classes, counts) if count == 0]
    if unseen:
        raise ValueError(
            f"{where} gives no training image of class folder(s) "
            f"{', '.join(map(repr, unseen))}: the model would have an output for a class it "
            "never sees. Remove the empty class folder(s) or add images to them (with "
            f"--train-limit, give at least {len(classes)}: one image per class)."
        )


def evaluation_labels(labels, folders, classes, recipe):
    """The evaluation split's ``labels`` (indices into its own class ``folders``) as
    indices into the training split's ``classes``, matched by folder name: by position, an
    evaluation split without one of the training classes would be scored against the
    wrong classes."""
    where = f"{recipe['dataset']}/{recipe['eval_split']}"
    return data.labels_by_class_name(labels, folders, data.readable_class_names(classes), where)


# ----------------------------------------------------------------------------- model
def build_model(model_name, recipe, stage, classes):
    size = recipe["image_size"]
    options = recorded_elastic_link(model_name, recipe)
    overrides = {} if options is None else {"elastic_link": options}
    model = el_zoo.load(model_name, input_shape=(size, size, 3), stem=recipe["stem"],
                        classes=len(classes), width_multiplier=recipe["width_multiplier"],
                        **overrides)
    set_standardization(model, recipe["dataset"])
    if not (stage["binary_weights"] and stage["binary_activations"]):
        model = strip_binarization(model, weights=not stage["binary_weights"],
                                   activations=not stage["binary_activations"],
                                   activation="hard_tanh")
        set_standardization(model, recipe["dataset"])
    return model


def stage_teacher(args, recipe, stage, classes, folders):
    """The frozen teacher of a stage: an earlier stage of this run (``stage["teacher"]``,
    e.g. the float twin trained in stage "float"), else ``--teacher``, else None."""
    if stage["teacher"] is None:
        if not args.teacher:
            return None
        return check_teacher(load_teacher(args.teacher), args.teacher,
                             None if args.tfds else classes, len(classes))
    return earlier_stage_teacher(args.model, recipe, stage, classes,
                                 folders.stage_weights(stage["teacher"]))


def earlier_stage_teacher(model_name, recipe, stage, classes, weights):
    """The frozen teacher of ``stage``: the model of the earlier stage ``stage["teacher"]``
    names, with ``weights`` (that stage's trained weights; None: a fresh initialisation,
    as ``benchmarks/stage_cost.py`` times it, whose cost does not depend on the weights)."""
    source = next(s for s in recipe["stages"] if s["name"] == stage["teacher"])
    return frozen(stage_model(model_name, recipe, source, classes, weights))


def load_teacher(spec):
    """A frozen teacher: a zoo ``NAME.TAG`` or a saved Keras model (file or folder), told
    apart as ``el_zoo.load`` tells its ``weights=`` (``looks_like_path``): a folder in the
    working directory named as the teacher (a run's ``--output-dir resnet18.cifar10``) was
    read as a saved model, and ``resnet18.cifar10`` failed as "SavedModel file does not
    exist"; a folder is given as a path (``./folder``)."""
    check_teacher_spec(spec)
    if looks_like_path(spec):
        return frozen(keras.models.load_model(spec, compile=False))
    # el_zoo.load's warning of a folder named as the teacher, worded for --teacher: its
    # advice, a weights= value for el_zoo.load, is no --teacher value
    arch, tag = split_name(spec)
    warn_of_a_folder_named(spec, arch, tag, subject=f"--teacher {spec}",
                           give_path=_teacher_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FolderNamedAsModel)
        return frozen(el_zoo.load(spec))


def _teacher_path(arch, folder, files):
    """How ``--teacher`` takes a model in ``folder`` as a path: what
    ``keras.models.load_model`` reads, a SavedModel folder or a model saved whole, not a
    weights file such as a run's weights.h5 (``files``: the folder's .h5 files)."""
    if (Path(folder) / "saved_model.pb").is_file():
        return f"To distil from that folder (a SavedModel), give it as a path: --teacher ./{folder}"
    whole = (sorted(Path(folder).glob(f"*{KERAS_SUFFIX}"))
             + [f for f in files if holds_whole_model(f)])
    if whole:
        return ("To distil from the model saved in that folder, give its file as a path: "
                f"--teacher ./{whole[0]}")
    if files:
        return (f"--teacher takes a model saved whole, and ./{files[0]} holds weights only: "
                f"save el_zoo.load({arch!r}, weights='./{files[0]}') as a model "
                "(model.save('teacher.keras')) and give --teacher ./teacher.keras")
    return ("To distil from a model saved in that folder, give its file as a path: "
            f"--teacher ./{folder}/MODEL.keras")


def check_teacher_spec(spec):
    """A one-line error, before the data loads, unless ``--teacher spec`` names a file or
    folder that exists or published weights (``NAME.TAG``). Why: a name without a tag
    (``--teacher resnet18``) built a teacher of random weights, which the student was
    distilled towards without a word when its class count matched the data's."""
    if looks_like_path(spec):
        if not os.path.exists(spec):
            raise FileNotFoundError(f"--teacher {spec}: no such file or folder (give a saved "
                                    "Keras model, or a published NAME.TAG).")
        return
    try:
        arch, tag = split_name(spec)
        model_info(arch)
    except ValueError as error:
        if not os.path.isdir(spec):
            raise
        # a name it does not know that is a folder here is one the teacher could mean
        raise ValueError(f"--teacher {spec}: {error} To distil from the folder {spec} in the "
                         f"working directory (a saved Keras model), give it as a path: "
                         f"--teacher ./{spec}") from None
    if tag is None:
        raise ValueError(f"--teacher {spec} names an architecture without trained weights (a "
                         f"teacher of random weights): give published weights NAME.TAG "
                         f"(el-zoo list --pretrained) or a saved Keras model.")
    published_model(spec)  # an error naming el-zoo list --pretrained if it is not published


def frozen(model):
    """``model``, not trainable (a teacher)."""
    model.trainable = False
    return model


def check_teacher(teacher, spec, folders, classes):
    """``teacher`` (loaded from ``--teacher spec``) if it scores the ``classes`` classes of
    the training data, in their order when both are known (the class names ``el_zoo.load``
    recorded on it, the data set's class ``folders``); else a one-line error before training.
    Why: distillation matches the student's i-th output to the teacher's i-th, so another
    data set's teacher of as many classes (cifar10's for imagenette) would train silently
    towards another class's scores, and one of another class count failed in the first
    training step, with a 20-line trace of TensorFlow's graph as its error."""
    shape = teacher.output_shape
    if isinstance(shape, list) or len(shape) != 2 or shape[-1] != classes:
        raise ValueError(f"--teacher {spec} has outputs of shape {shape}, but the training "
                         f"data has {classes} classes: a teacher must score the same classes "
                         "(shape (batch, classes)).")
    names = class_names_of(teacher)
    if names is not None and folders is not None:
        readable = data.readable_class_names(folders)
        if data.readable_class_names(names) != readable:
            raise ValueError(
                f"--teacher {spec} scores the classes {', '.join(names)}, but the training "
                f"data's class folders are {', '.join(readable)}: distillation matches the "
                "student's outputs to the teacher's one by one, so the teacher must be "
                "trained on the same classes, in the same order.")
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
        self._track_loss(loss, predicted)
        self.compiled_metrics.update_state(labels, predicted)
        return self.get_metrics_result()

    def _track_loss(self, loss, predicted):
        """Adds ``loss`` to the compiled loss's mean, the "loss" ``fit`` logs per epoch.
        Why: once validation has built that mean (with the classification loss), ``fit``
        logs the metrics' results instead of what ``train_step`` returns, so a distillation
        loss kept elsewhere would be logged as 0.0."""
        if not self.compiled_loss.built:
            self.compiled_loss.build(predicted)
        self.compiled_loss.metrics[0].update_state(loss)


def make_optimizer(stage, steps_per_epoch, model, start_epoch=0):
    schedule = learning_rate(stage, steps_per_epoch, start_epoch)
    if stage["weight_decay"]:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=stage["weight_decay"])
        # decay conv/dense kernels only, as is usual (not BN, biases, gammas, RPReLU, nor
        # the scales of the Elastic-Links, found by their layer's type)
        link_scales = [layer.gamma for layer in model.layers if isinstance(layer, ElasticLink)]
        optimizer.exclude_from_weight_decay(
            var_list=link_scales,
            var_names=["bn", "bias", "gamma", "beta", "alpha", "prelu", STANDARDIZE])
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


def compile_model(model, stage, steps_per_epoch, teacher=None, start_epoch=0):
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="top1"),
               keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")]
    trainer = model if teacher is None else Distiller(model, teacher)
    trainer.compile(make_optimizer(stage, steps_per_epoch, model, start_epoch),
                    classification_loss(stage["label_smoothing"]), metrics)
    return trainer


def stage_trainer(model, stage, steps_per_epoch, teacher=None, start_epoch=0):
    """``compile_model`` for training: with the optimizer's slot variables made now.

    Why: Keras makes them in the first call of its train step, and a ``tf.function`` that
    makes variables is traced twice (once making them, once more without). Made here, the
    train step is traced once, with the same weights after it. A checkpoint read afterwards
    restores the slots at once instead of when they are made.
    """
    trainer = compile_model(model, stage, steps_per_epoch, teacher, start_epoch)
    trainer.optimizer.build(model.trainable_variables)  # the variables train_step updates
    return trainer


# ----------------------------------------------------------------------------- weights
def save_weights_atomically(model, path, class_names=None):
    # atomic; records the model's configuration, and the names of its classes if given
    el_zoo.save_weights(model, path, class_names=class_names)


# ----------------------------------------------------------------------------- main
class Inputs(NamedTuple):
    """A run's data sets and their sizes."""

    train: tf.data.Dataset
    evaluation: tf.data.Dataset
    classes: list
    images_per_epoch: Optional[int]  # None when unknown (TFDS)
    steps_per_epoch: Optional[int]


def data_seed(args, output, recipe, restart=None):
    """The seed of the training data's order and augmentation in this invocation: --seed
    plus the epochs done before it (0 for a new run, whose data is as before).

    Why: the shuffle is seeded, so a pipeline made anew in a new process starts again with
    its first epoch's order (two processes with one seed order their epochs 1, 2, ...
    alike); without the offset each segment of a chain would replay the orders of the
    first (every resumed run's first epoch took epoch 1's). The augmentations are not
    reproducible across processes in any case.
    """
    done = sum(run_progress(output, recipe)[1:-1:2])  # each stage's newest checkpoint
    if restart is not None and not done:
        done = restart.record["epoch"]
    return args.seed + done


def prepare_inputs(recipe, args, seed):
    """The data sets of a run, checked: a training set too small for one batch is an error."""
    train_ds, eval_ds, classes, images_per_epoch = load_data(recipe, args, seed)
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
        load_stage_weights(model, weights)
    return model


def load_stage_weights(model, weights):
    """A stage's ``weights`` file into ``model`` by layer name. A layer that had no weights
    in that stage keeps its initial ones: in a float twin, a weight-free hard_tanh stands
    where ReActNet's RSign, with its learnable threshold, is in the binary net."""
    layers = {layer.name: layer for layer in model.layers}
    for name, values in stored_weights(weights).items():
        if values and name in layers:
            layers[name].set_weights(values)


def train_stages(args, recipe, strategy, is_chief, folders, inputs, segment, restart=None):
    """Trains every stage an earlier run did not finish, each resumed from its newest
    checkpoint, until the run's end or the end of this ``segment`` (``--segment-minutes``).
    A ``restart`` (``training.restart``) trains the last stage only, from its weights at
    its epoch, with a fresh optimizer. Returns (the final model, or None when earlier runs
    finished every stage or the segment ended first; the log rows of all stages)."""
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    earlier_rows, previous_weights, model = [], None, None
    last = recipe["stages"][-1]
    for stage in recipe["stages"]:
        folder = folders.run / CHECKPOINTS_DIR / stage["name"]
        if restart is not None and stage is not last:  # done by the run restarted from
            continue
        if (folders.run / stage_weights_file(stage["name"])).exists():  # finished by an earlier run
            _, rows = restore_checkpoint(folder, tf.train.Checkpoint())
            earlier_rows += rows
            previous_weights = folders.run / stage_weights_file(stage["name"])
            continue
        if segment.ended_by:  # at the end of the previous stage
            return None, earlier_rows
        start_epoch = restart.record["epoch"] if restart is not None else 0
        with strategy.scope():
            start = previous_weights if stage["init"] == "previous" else None
            model = stage_model(args.model, recipe, stage, inputs.classes, start)
            teacher = stage_teacher(args, recipe, stage, inputs.classes, folders)
            trainer = stage_trainer(model, stage, inputs.steps_per_epoch or 1000, teacher,
                                    start_epoch)
            checkpoint = tf.train.Checkpoint(model=model, optimizer=trainer.optimizer)
        done, history = restore_checkpoint(folder, checkpoint)
        if done:
            print(f"resuming {stage['name']} after epoch {done} from {folder}", flush=True)
        elif restart is not None:
            done, history = start_epoch, list(restart.rows)
            load_weights_file(model, restart.record["weights"])
            print(f"restarting {stage['name']} after epoch {done} from "
                  f"{restart.record['weights']} with a fresh optimizer", flush=True)
        run = {"stage": stage["name"], "output_dir": folders.run, "earlier_rows": earlier_rows,
               "started": time.time(), "segment": segment, "last_stage": stage is last,
               "elapsed_before": history[-1]["elapsed_s"] if history else
               (earlier_rows[-1]["elapsed_s"] if earlier_rows else 0.0)}
        callbacks = [EpochCheckpoint(folder, checkpoint, history, inputs.images_per_epoch, run,
                                     is_chief), *kill_points(stage["name"])]
        if is_chief:
            callbacks.append(tensorboard_callback(folders.run, stage["name"]))
        if done < stage["epochs"]:
            trainer.fit(inputs.train, epochs=stage["epochs"], initial_epoch=done,
                        steps_per_epoch=inputs.steps_per_epoch, validation_data=inputs.evaluation,
                        callbacks=callbacks, verbose=verbose)
        if history[-1]["epoch"] < stage["epochs"]:  # the segment ended within the stage
            return None, earlier_rows + history
        previous_weights = folders.own / stage_weights_file(stage["name"])
        save_weights_atomically(model, previous_weights)
        earlier_rows += history
    return model, earlier_rows


def evaluate_final(args, recipe, strategy, model, folders, inputs):
    """Top-1/top-5 of the final model on the evaluation split; ``model`` None (every stage
    finished by an earlier run, killed before its final evaluation) loads the last stage's
    weights."""
    last = recipe["stages"][-1]
    with strategy.scope():
        if model is None:
            model = stage_model(args.model, recipe, last, inputs.classes,
                                folders.stage_weights(last["name"]))
        evaluator = compile_model(model, last, 1)  # the student alone, without a teacher
    results = evaluator.evaluate(inputs.evaluation, verbose=0, return_dict=True,
                                 callbacks=kill_points("final evaluation"))
    return model, results


def run_metrics(args, recipe, results, rows, inputs, started, commit, segment, restart=None):
    """metrics.json's record of a finished run: with its segments and restart, if any."""
    # time and speed over the rows there are: a restart from a weights file (or a folder
    # without its log) has none for the epochs before it, which "epochs" counts
    train_seconds, paused = sum(r["epoch_time_s"] for r in rows), paused_of(rows)
    images_seen = (inputs.images_per_epoch or 0) * len(rows)
    metrics = {
        "model": args.model, "recipe": args.recipe, "dataset": recipe["dataset"],
        "eval_split": recipe["eval_split"], "eval_images": args.eval_limit,
        "top1": float(results["top1"]), "top5": float(results["top5"]),
        "epochs": epochs_of(rows, stages_done(restart, recipe)),
        "stages": [s["name"] for s in recipe["stages"]], "logged_epochs": len(rows),
        "images_per_epoch": inputs.images_per_epoch, "train_time_s": round(train_seconds, 1),
        "paused_s": None if paused is None else round(paused, 1),
        "img_per_s": round(images_seen / train_seconds, 1) if train_seconds and images_seen else None,
        "config": {"input_shape": [recipe["image_size"]] * 2 + [3], "classes": len(inputs.classes),
                   "width_multiplier": recipe["width_multiplier"], "stem": recipe["stem"]},
        "classes": list(inputs.classes), "seed": args.seed, "strategy": args.strategy,
        "teacher": args.teacher, "train_limit": args.train_limit, "tfds": args.tfds,
        "recipe_config": recipe,
        "restart": restart and restart.record, "segments": segment.records(),
        **run_info(started, commit),
    }
    metrics["command"] = documented_command(args)
    if rows:
        metrics["wall_time_s"] = wall_time_of(rows)
    return metrics


def summary(metrics):
    """One line: the model, recipe, top-1/top-5 and epochs of a finished run."""
    return (f"{metrics['model']} ({metrics['recipe']}): top-1 {metrics['top1']:.4f}, top-5 "
            f"{metrics['top5']:.4f} on {metrics['dataset']} {metrics['eval_split']} after "
            f"{metrics['epochs']} epochs")


def check_segment_limit(args):
    """Refuses --segment-minutes under --strategy multiworker, before anything starts.

    Why: each worker would judge the time on its own clock; one stopping while another
    trains on would hang in the collectives.
    """
    if args.segment_minutes is not None and args.strategy == "multiworker":
        raise ValueError("--segment-minutes does not work with --strategy multiworker (the "
                         "workers would not stop at the same epoch); end a segment by "
                         "stopping every worker, then rerun every worker's command.")


def this_segment(args, output, recipe, restart, resuming, commit, started):
    """This invocation's ``Segment``, after the segments the run's newest checkpoint
    records (a resume) or its restart's source carries (a restart's start)."""
    if resuming:
        earlier, began_as = recorded_segments(output, recipe), "resume"
    elif restart is not None:
        earlier, began_as = restart.segments, "restart"
    else:
        earlier, began_as = [], "start"
    return Segment(earlier, began_as, documented_command(args), commit, started,
                   args.segment_minutes, stages_done(restart, recipe))


def segment_end_message(args, rows):
    """The line a segment ended by --segment-minutes prints: where it stopped, and the
    command that continues the run."""
    last = rows[-1]
    return (f"segment ended: {args.segment_minutes:g} min (--segment-minutes) passed; "
            f"stopped after {last['stage']} epoch {last['epoch']} with its checkpoint "
            f"written. Continue the run with the same command: {documented_command(args)}")


def train(args):
    """Trains, resumes or finishes the run ``args`` describe; returns its metrics, or None
    when the segment ended (``--segment-minutes``) before the run did."""
    started, commit = time.time(), git_commit()
    check_segment_limit(args)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    strategy = make_strategy(args.strategy)
    is_chief, worker = worker_role(strategy)
    recipe = run_recipe(args)
    output = Path(args.output_dir)  # the run's state, which every worker resumes from
    check_output_folder(output)
    check_output_outside_data(output, args, recipe)
    folders = RunFolders(output, output if is_chief else output / f"worker-{worker}")
    check_workers_resume_alike(strategy, output, recipe)
    if not is_chief:  # made first, so that a failing worker removes nothing of the chief's
        folders.own.mkdir(parents=True, exist_ok=True)
    # one process at a time, from before the folder's state is read to metrics.json
    with removed_if_failing_before_a_checkpoint(folders.own), trained_alone(folders.own):
        return train_alone(args, recipe, strategy, is_chief, folders, started, commit)


def train_alone(args, recipe, strategy, is_chief, folders, started, commit):
    """``train`` once this process holds the run folder (``trained_alone``); a failure
    before the run's first checkpoint leaves nothing (``removed_if_failing_...``)."""
    output = folders.run
    restart = planned_restart(args, recipe, output)  # the source read and checked
    record = run_record(args, recipe, restart and restart.record)
    resuming = check_resumable(output, record)  # before anything is written
    if args.teacher:
        check_teacher_spec(args.teacher)  # before the data loads
    if (output / METRICS_FILE).exists():
        metrics = read_run_file(output / METRICS_FILE, "it marks the run complete: remove it "
                                "and rerun this command, which evaluates the run's final "
                                "weights again and writes it anew.")
        print(f"{output} is already complete: {summary(metrics)}; nothing to do "
              "(choose a new --output-dir to train another run).", flush=True)
        return metrics
    segment = this_segment(args, output, recipe, restart, resuming, commit, started)
    tf.keras.utils.set_random_seed(args.seed)
    inputs = prepare_inputs(recipe, args, data_seed(args, output, recipe, restart))
    where = f"{recipe['dataset']}/{recipe['train_split']}"
    classes = None if args.tfds else list(inputs.classes)  # TFDS: no folders to name
    if restart is not None and restart.classes is not None and classes is not None:
        check_same_classes(args.restart_from, restart.classes, classes, where)
    if resuming and classes is not None:
        check_resumed_classes(output, classes, f"{where} in {data.data_root(args.data_dir)}")
    folders.own.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folders.own)
    if is_chief and not resuming:  # the record of what this folder trains, from its start
        write_text_atomically(output / RECIPE_FILE,
                              json.dumps({**record, "classes": classes}, indent=1))
    model, rows = train_stages(args, recipe, strategy, is_chief, folders, inputs, segment,
                               restart)
    if segment.ended_by == "segment limit":
        print(segment_end_message(args, rows), flush=True)
        return None
    model, results = evaluate_final(args, recipe, strategy, model, folders, inputs)
    segment.end("finished", rows, float(results["top1"]))
    names = data.readable_class_names(inputs.classes) if inputs.classes else None  # TFDS: None
    save_weights_atomically(model, folders.own / WEIGHTS_FILE, names)
    metrics = run_metrics(args, recipe, results, rows, inputs, started, commit, segment,
                          restart)
    if is_chief:
        try:
            plot_curves(output / LOG_FILE, output / CURVES_FILE)
        except ImportError:
            print(f"matplotlib is not installed: no {CURVES_FILE} "
                  "(pip install 'el_zoo[plot]')", flush=True)
    # written last: a run folder with metrics.json is complete
    write_text_atomically(folders.own / METRICS_FILE, json.dumps(metrics, indent=1))
    print(f"{summary(metrics)}; wrote {folders.own}", flush=True)
    return metrics


def check_output_outside_data(output, args, recipe):
    """Refuses an --output-dir inside the folder of the data set the run trains on, before
    anything is written. Why: the run's folders (checkpoints/, logs/) and its curves
    (training_curves.png) became class folders and images of that data: a rerun was
    refused as "no training image of class folder(s) 'checkpoints', 'logs'", which said to
    remove the folders that hold the run. A data set read from an archive (extracted into
    el_zoo's cache) or from TFDS is not checked."""
    if args.tfds:
        return
    try:
        folder = data.data_root(args.data_dir) / recipe["dataset"]
    except (ValueError, OSError):
        return  # no data folder: loading the data says so
    inside = output.resolve()
    if folder.is_dir() and folder.resolve() in (inside, *inside.parents):
        raise ValueError(f"--output-dir {output} is inside the folder of the data set the run "
                         f"trains on, {folder}: the run's files (checkpoints/, logs/, "
                         f"{CURVES_FILE}) would become class folders and images of its "
                         "data. Give an --output-dir outside it.")


def main(argv=None):
    """``python -m training.train ARGUMENTS``, the same as ``el-zoo train ARGUMENTS``: expected
    errors (bad input, missing files or packages) print as one line; returns the exit code."""
    return run_command(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
