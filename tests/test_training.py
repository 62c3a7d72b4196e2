"""Training: recipes, checkpoints and resume, distribution, and tiny real trainings through
the CLI (a few steps on a few hundred real images; never to convergence)."""

import csv
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from el_zoo.builder import stored_class_names
from el_zoo.elastic_link import ElasticLinkOptions
from tests.conftest import REPO
from training import recipes

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
# `el-zoo` in a fresh process with the toy family (tests/toy.py) registered: for the tests of
# the training machinery (kills, resumes, workers), which hold whatever the model, and
# which a zoo family only makes slower to build and trace
TOY_CLI = [sys.executable, "-m", "tests.toy_cli"]


def log_rows(output):
    with open(output / "training_log.csv") as f:
        return list(csv.DictReader(f))


def test_recipes_are_documented_and_overridable():
    for name in recipes.RECIPES:
        assert f"    {name}:" in recipes.__doc__, f"recipe {name} is not documented"
    recipe = recipes.get_recipe("imagenet_paper", epochs=3, lr=1e-3, batch_size=8)
    assert [s["epochs"] for s in recipe["stages"]] == [3, 3]
    assert [s["binary_weights"] for s in recipe["stages"]] == [False, True]
    assert recipe["stages"][0]["weight_decay"] > 0 and recipe["stages"][1]["weight_decay"] == 0
    assert recipes.RECIPES["imagenet_paper"]["stages"][0]["epochs"] == 256  # not mutated
    with pytest.raises(ValueError, match="unknown recipe 'cifar100'"):
        recipes.get_recipe("cifar100")
    with pytest.raises(ValueError, match="--epochs must be a whole number above 0"):
        recipes.get_recipe("cifar10", epochs=0)


# bad values of the recipe's numbers, as typed on the command line and as Python values
BAD_OVERRIDES = {"epochs": ["0", "-1", "2.5"], "batch_size": ["0", "-8"],
                 "image_size": ["0", "-32", "32.5"], "width_multiplier": ["0", "-1", "inf", "nan"],
                 "lr": ["0", "-0.1", "inf", "nan"]}


@pytest.mark.parametrize("key", recipes.OVERRIDABLE)
def test_el_zoo_train_and_get_recipe_refuse_the_same_overrides(key, capsys):
    """The command line (el-zoo's positive_int / positive_float, as every el-zoo command) and
    get_recipe (for callers from Python) refuse alike: before, --width-multiplier inf and
    --lr inf passed, and --image-size 0 was never checked."""
    from el_zoo.cli import main
    from training.command import build_parser

    whole = key in recipes.WHOLE_OVERRIDES
    option = "--" + key.replace("_", "-")
    for text in BAD_OVERRIDES[key]:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["resnet18", "--recipe", "cifar10", "--output-dir", "x",
                                       option, text])
        train_error = capsys.readouterr().err.splitlines()[-1]
        assert f"must be {'a whole number' if whole else 'a number'} above 0" in train_error
        if key in ("width_multiplier", "image_size"):  # el-zoo info's --input-size: the same
            el_zoo_option = "--width-multiplier" if key == "width_multiplier" else "--input-size"
            with pytest.raises(SystemExit):
                main(["info", "resnet18", el_zoo_option, text])
            assert capsys.readouterr().err.splitlines()[-1].split(": ", 2)[-1] == \
                train_error.split(": ", 2)[-1].replace(option, el_zoo_option)
        value = int(text) if whole and text.lstrip("-").isdigit() else float(text)
        with pytest.raises(ValueError, match=f"{option} must be .* above 0"):
            recipes.get_recipe("cifar10", **{key: value})
    assert recipes.get_recipe("cifar10", **{key: 2 if whole else 0.5})


def test_a_recipe_stored_larger_than_it_trains_is_evaluated_centre_cropped():
    """What publishing records in the manifest and what training decodes at, from one rule."""
    assert recipes.recipe_preprocessing(recipes.get_recipe("cifar10")) == \
        {"resize": 32, "crop": None}
    assert recipes.recipe_preprocessing(recipes.get_recipe("imagenette")) == \
        {"resize": 146, "crop": 128}
    assert recipes.recipe_preprocessing(recipes.get_recipe("imagenette", image_size=160)) == \
        {"resize": 182, "crop": 160}


@pytest.mark.parametrize("name", [name for name, recipe in recipes.RECIPES.items()
                                  if "stored_size" in recipe])
def test_an_image_size_override_scales_the_stored_size_by_the_recipes_own_ratio(name):
    """The table's stored sizes and an --image-size override follow one rule: before, the
    override used a ratio of its own (1.14), and --image-size 224, imagenet_paper's own size,
    decoded at 255 where the recipe says 256."""
    recipe = recipes.get_recipe(name)
    assert recipes.get_recipe(name, image_size=recipe["image_size"]) == recipe
    doubled = recipes.get_recipe(name, image_size=2 * recipe["image_size"])
    assert doubled["stored_size"] == 2 * recipe["stored_size"]


def test_stage_one_model_has_real_weights_and_binary_activations():
    import el_zoo
    from el_zoo.binarization import strip_binarization

    model = el_zoo.load("resnet18_el", input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    real = strip_binarization(model, activations=False)
    convs = [layer for layer in real.layers if type(layer).__name__ == "QuantConv2D"]
    assert convs and all(layer.kernel_quantizer is None for layer in convs)
    assert all(layer.input_quantizer is not None for layer in convs)
    assert [w.shape for w in real.weights] == [w.shape for w in model.weights]


@pytest.mark.parametrize("family", ["reactnet_a_el", "resnet18_el"])
def test_a_float_stage_initialises_the_binary_stage_by_layer_name(family, tmp_path):
    # reactnet's float twin has a weight-free hard_tanh where the binary net's RSign has a
    # learnable threshold: that layer keeps its initial weights, every other layer is copied
    from training.train import build_model, save_weights_atomically, stage_model

    recipe = recipes.get_recipe("cifar10_float_init")
    float_stage, main_stage = recipe["stages"]
    classes = [str(i) for i in range(10)]
    teacher = build_model(family, recipe, float_stage, classes)
    for weight in teacher.weights:
        weight.assign(np.random.default_rng(0).standard_normal(weight.shape).astype("float32"))
    save_weights_atomically(teacher, tmp_path / "float-weights.h5")
    model = stage_model(family, recipe, main_stage, classes, tmp_path / "float-weights.h5")
    copied = {layer.name: layer for layer in teacher.layers if layer.weights}
    kept = [layer for layer in model.layers if layer.weights and layer.name not in copied]
    assert all(type(layer).__name__ == "RSign" for layer in kept)
    assert bool(kept) == (family == "reactnet_a_el")
    for layer in model.layers:
        for value, source in zip(layer.get_weights(), copied.get(layer.name, layer).get_weights()):
            np.testing.assert_array_equal(value, source)


def test_recipe_study_arms_are_cifar10_with_earlier_stages():
    base = recipes.get_recipe("cifar10")
    for name in ("cifar10_float_init", "cifar10_kd", "cifar10_float_init_kd",
                 "cifar10_two_stage"):
        recipe = recipes.get_recipe(name)
        assert {k: v for k, v in recipe.items() if k not in ("name", "stages")} == \
            {k: v for k, v in base.items() if k not in ("name", "stages")}
        assert recipe["stages"][-1]["name"] == "main" and recipe["stages"][-1]["binary_weights"]
    kd = recipes.get_recipe("cifar10_kd", stage_epochs={"float": 2}, epochs=5)
    assert [(s["name"], s["epochs"], s["init"], s["teacher"]) for s in kd["stages"]] == \
        [("float", 2, "previous", None), ("main", 5, "fresh", "float")]
    assert not kd["stages"][0]["binary_activations"] and kd["stages"][0]["label_smoothing"]
    with pytest.raises(ValueError, match="has no stage 'stage1'; its stages are float, main"):
        recipes.get_recipe("cifar10_kd", stage_epochs={"stage1": 2})
    with pytest.raises(ValueError, match="--stage-epochs float must be a whole number above 0"):
        recipes.get_recipe("cifar10_kd", stage_epochs={"float": 0})


@pytest.mark.parametrize("epochs, got", [
    (True, "True"), (4.0, "4.0 (a float: give the int 4)"), (2.5, "2.5"), (-3, "-3"),
    ("4", "'4' (a string: give the int 4)"), (math.inf, "inf")])
def test_stage_epochs_are_whole_numbers_above_0(epochs, got):
    # isinstance(epochs, int) took True (one epoch, recorded as true), and said of 4.0 (a
    # JSON number) only "must be a positive integer; got 4.0"
    with pytest.raises(ValueError, match=f"^--stage-epochs float must be a whole number above "
                                         f"0; got {re.escape(got)}[.]$"):
        recipes.get_recipe("cifar10_kd", stage_epochs={"float": epochs})
    recipe = recipes.get_recipe("cifar10_kd", stage_epochs={"float": np.int64(3)})
    assert recipe["stages"][0]["epochs"] == 3  # a count taken from an array, as for --epochs
    with pytest.raises(ValueError, match=r"^--epochs must be a whole number above 0; got 4[.]0 "
                                         r"\(a float: give the int 4\)[.]$"):
        recipes.get_recipe("cifar10_kd", epochs=4.0)
    with pytest.raises(ValueError, match=r"^stage_epochs must be a dict \{stage name: epochs\}"):
        recipes.get_recipe("cifar10_kd", stage_epochs=["float=4"])


@pytest.mark.parametrize("pair", ["float", "float=", "float=two", "=4", "float=4.0",
                                  "float=\u00b2"])
def test_stage_epochs_option_must_be_name_equals_count(pair):
    from training.train import stage_epochs

    assert stage_epochs(["float=4", "main=9"]) == {"float": 4, "main": 9}
    with pytest.raises(ValueError, match=f"--stage-epochs '{pair}' is not NAME=N"):
        stage_epochs([pair])
    assert stage_epochs(["main=15"]) == {"main": 15}


def test_a_stage_init_must_be_known(monkeypatch):
    bad = {**recipes.RECIPES["cifar10"], "stages": [{**recipes.CIFAR10_MAIN, "init": "random"}]}
    monkeypatch.setitem(recipes.RECIPES, "bad", bad)
    with pytest.raises(ValueError, match="stage main has init='random'; use one of"):
        recipes.get_recipe("bad")


def test_a_stage_teacher_must_be_an_earlier_stage(monkeypatch):
    bad = {**recipes.RECIPES["cifar10"], "stages": [
        {**recipes.CIFAR10_MAIN, "teacher": "float"}, recipes.FLOAT_STAGE]}
    monkeypatch.setitem(recipes.RECIPES, "bad", bad)
    with pytest.raises(ValueError, match="stage main's teacher 'float' is not an earlier stage"):
        recipes.get_recipe("bad")


def test_distillation_logs_its_loss_in_every_epoch():
    # once validation had built the compiled loss's mean, fit logged that mean (never fed
    # in training) instead of the distillation loss: 0.0 from the second epoch on
    from el_zoo import keras
    from training.train import Distiller

    def net():
        inputs = keras.Input((8,))
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))

    keras.utils.set_random_seed(0)
    teacher = net()
    teacher.trainable = False
    trainer = Distiller(net(), teacher)
    trainer.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 8), np.float32), rng.integers(0, 3, 128)
    losses = trainer.fit(x, y, batch_size=32, epochs=3, verbose=0,
                         validation_data=(x[:32], y[:32])).history["loss"]
    assert all(loss > 1e-4 for loss in losses), losses


def test_a_teacher_path_to_no_file_is_named(tmp_path):
    # was el_zoo.load's advice for a weights file given as a model name
    from training.train import load_teacher

    with pytest.raises(FileNotFoundError, match=r"--teacher .*t\.keras: no such file or folder"):
        load_teacher(str(tmp_path / "t.keras"))


def test_a_teacher_tag_beside_a_folder_of_its_name_is_the_published_model(tmp_path,
                                                                           monkeypatch):
    # --teacher is told apart as el_zoo.load's weights= are: a folder in the working
    # directory named as the teacher (a run's --output-dir resnet18.cifar10, a copy of
    # models/resnet18.cifar10/) was read as a saved Keras model: "SavedModel file does not
    # exist at: resnet18.cifar10/{saved_model.pbtxt|saved_model.pb}"; a file named as its
    # tag was read as its weights ("cifar10 is not an HDF5 weights file")
    from training.train import load_teacher

    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18.cifar10").mkdir()
    (tmp_path / "cifar10").write_text("notes on the data set")
    # the warning says what loads: it said "loads resnet18 with weights='cifar10'"
    with pytest.warns(UserWarning, match=r"--teacher resnet18.cifar10 loads the published "
                                         r"weights resnet18.cifar10, not the folder"):
        teacher = load_teacher("resnet18.cifar10")
    assert teacher.published_name == "resnet18.cifar10" and not teacher.trainable


def test_a_teacher_tag_beside_a_folder_of_its_name_is_warned_of_as_a_teacher_value(
        tmp_path, monkeypatch):
    # the warning was el_zoo.load's, worded for it: "el_zoo.load('resnet18.cifar10') loads
    # ... give its file as a path: el_zoo.load('resnet18', weights='./resnet18.cifar10/
    # weights.h5')", no --teacher value; and --teacher takes a model saved whole, which a
    # run's weights.h5 is not
    import warnings

    import el_zoo
    from training.train import load_teacher

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "resnet18.cifar10"
    run.mkdir()
    with pytest.warns(UserWarning) as caught:
        load_teacher("resnet18.cifar10")  # an empty folder
    (message,) = [str(w.message) for w in caught if "not the folder" in str(w.message)]
    assert message == (
        "--teacher resnet18.cifar10 loads the published weights resnet18.cifar10, not the "
        "folder resnet18.cifar10 in the working directory: a bare name is a model name. To "
        "distil from a model saved in that folder, give its file as a path: --teacher "
        "./resnet18.cifar10/MODEL.keras.")
    model = el_zoo.load("resnet18", input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    el_zoo.save_weights(model, run / "weights.h5")
    with pytest.warns(UserWarning, match=r"--teacher takes a model saved whole, and "
                                         r"\./resnet18\.cifar10/weights\.h5 holds weights "
                                         r"only: save el_zoo\.load\('resnet18', weights="
                                         r"'\./resnet18\.cifar10/weights\.h5'\) as a model"):
        load_teacher("resnet18.cifar10")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(run / "whole.h5")
    with pytest.warns(UserWarning) as caught:
        load_teacher("resnet18.cifar10")
    hint = "give its file as a path: --teacher ./resnet18.cifar10/whole.h5."
    assert [w for w in caught if str(w.message).endswith(hint)]
    assert not [w for w in caught if "el_zoo.load('resnet18.cifar10')" in str(w.message)]
    load_teacher("./resnet18.cifar10/whole.h5")  # the value it gives loads


def test_a_teacher_folder_without_a_path_is_told_how_to_give_it(tmp_path, monkeypatch):
    # a bare folder name reads as a zoo NAME.TAG, as it does for el_zoo.load's weights=
    from training.train import load_teacher

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_teacher").mkdir()
    with pytest.raises(ValueError, match=r"--teacher my_teacher: Unknown model 'my_teacher'.* "
                                         r"folder my_teacher in the working directory.*"
                                         r"--teacher \./my_teacher"):
        load_teacher("my_teacher")


@pytest.mark.parametrize("spec, message", [
    ("resnet18", "--teacher resnet18 names an architecture without trained weights"),
    ("resnet18.nosuchtag", "'resnet18.nosuchtag' is not published"),
    ("./missing.keras", "--teacher ./missing.keras: no such file or folder")],
    ids=["no tag", "unpublished tag", "missing file"])
def test_a_teacher_without_trained_weights_is_refused_before_the_data_loads(
        tmp_path, capsys, spec, message):
    # --teacher resnet18 built a teacher of random weights, which the student was distilled
    # towards without a word when its class count matched the data's; the other two were
    # found only when the stage started, after the data had loaded
    from training import train

    output = tmp_path / "run"
    code = train.main(["resnet18", "--recipe", "cifar10", "--output-dir", str(output),
                       "--data-dir", str(tmp_path / "no data"), "--teacher", spec])
    assert code == 2 and message in capsys.readouterr().err
    assert not output.exists()


def test_a_teacher_must_score_the_training_datas_classes_in_their_order(tmp_path):
    # distillation pairs outputs by position: cifar10's teacher would have trained an
    # imagenette student towards other classes' scores without a word; 3 classes against 10
    # failed in the first training step, with a 20-line trace of TensorFlow's graph
    from types import SimpleNamespace

    from el_zoo import data
    from el_zoo._keras import keras
    from training import train

    cifar10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
    imagenette = sorted(data.IMAGENETTE_NAMES)  # its class folders: WordNet ids
    stage = {"teacher": None}

    def teacher_of(spec, classes, tfds=False):
        args = SimpleNamespace(teacher=str(spec), tfds=tfds)
        return train.stage_teacher(args, None, stage, classes, None)

    # the published model quickest to load (61 layers; reactnet_a.cifar10, 158): the
    # check is of the classes a teacher scores, whatever the model
    teacher = teacher_of("resnet18.cifar10", cifar10)
    assert teacher.published_name == "resnet18.cifar10"
    with pytest.raises(ValueError, match=r"--teacher resnet18.cifar10 scores the classes "
                                         r"airplane, .*, but the training data's class folders "
                                         r"are tench, .*the same classes, in the same order"):
        teacher_of("resnet18.cifar10", imagenette)
    teacher.save(tmp_path / "teacher.keras")  # names kept
    with pytest.raises(ValueError, match=r"--teacher .*teacher.keras scores the classes "
                                         r"airplane, .*, but the training data's class folders "
                                         r"are tench, "):
        teacher_of(tmp_path / "teacher.keras", imagenette)
    teacher_of("resnet18.cifar10", [str(i) for i in range(10)], tfds=True)  # names unknown
    three = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    three.save(tmp_path / "teacher.h5")
    with pytest.raises(ValueError, match=r"teacher.h5 has outputs of shape \(None, 3\), but "
                                         r"the training data has 10 classes"):
        teacher_of(tmp_path / "teacher.h5", cifar10)


def test_float_twin_for_training_uses_hard_tanh_and_keeps_weight_names():
    import el_zoo
    from el_zoo.binarization import strip_binarization
    from el_zoo.model_record import built_config

    model = el_zoo.load("reactnet_a_el", input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=0.25)
    twin = strip_binarization(model, activation="hard_tanh")
    assert built_config(model) is not None and built_config(twin) is None  # another model
    quantized = [layer for layer in twin.layers if hasattr(layer, "input_quantizer")]
    assert quantized and all(layer.kernel_quantizer is None for layer in quantized)
    assert all(layer.input_quantizer is None for layer in quantized)  # RSign binarizes
    resnet = strip_binarization(el_zoo.load("resnet18", input_shape=(32, 32, 3), stem="cifar",
                                            classes=10, width_multiplier=0.25),
                                activation="hard_tanh")
    assert {type(layer.input_quantizer).__name__ for layer in resnet.layers
            if getattr(layer, "input_quantizer", None)} == {"HardTanh"}
    assert not any(type(layer).__name__ == "RSign" for layer in twin.layers)
    assert any(type(layer).__name__ == "HardTanh" for layer in twin.layers)
    names = {layer.name for layer in model.layers if layer.weights}
    assert names - {layer.name for layer in twin.layers if layer.weights} == \
        {layer.name for layer in model.layers if type(layer).__name__ == "RSign"}
    images = np.linspace(0, 255, 2 * 32 * 32 * 3, dtype="float32").reshape(2, 32, 32, 3)
    assert np.isfinite(twin(images)).all()
    with pytest.raises(ValueError, match="activation='relu' is not supported"):
        strip_binarization(model, activation="relu")


def el_zoo_train_here(capsys, *arguments):
    """Runs `el-zoo train ...` through the CLI in this process (no TensorFlow start-up of
    its own) and returns what it printed; it must succeed."""
    from el_zoo.cli import main

    code = main(["train", *map(str, arguments)])
    out, err = capsys.readouterr()
    assert code == 0, f"el-zoo train {arguments} failed:\n{out[-3000:]}\n{err[-3000:]}"
    return out


def test_float_teacher_stage_distils_into_the_binary_stage(data_dir, tmp_path, capsys):
    """The real family's float stage and distillation (resnet18_el), in this process: its
    two invocations share one TensorFlow start-up."""
    output = tmp_path / "run"
    # --segment-minutes 0: the first invocation ends at the stage boundary, the float
    # stage's weights saved; the rerun trains the main stage with the float twin as teacher
    command = ["resnet18_el", "--recipe", "cifar10_float_init_kd", "--data-dir", data_dir,
               "--output-dir", output, "--epochs", 1, "--train-limit", 256,
               "--eval-limit", 100, "--batch-size", 64, "--width-multiplier", 0.125,
               "--verbose", 2, "--segment-minutes", 0]
    assert "stopped after float epoch 1 with its checkpoint written" in \
        el_zoo_train_here(capsys, *command)
    assert (output / "float-weights.h5").exists() and not (output / "metrics.json").exists()
    el_zoo_train_here(capsys, *command)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["stages"] == ["float", "main"] and metrics["epochs"] == 2
    # the run's weights name its classes, for el_zoo.load(..., weights=) and predict
    assert stored_class_names(output / "weights.h5") == tuple(metrics["classes"])
    assert [(s["began_as"], s["epochs"], s["ended_by"]) for s in metrics["segments"]] == [
        ("start", [1, 1], "segment limit"), ("resume", [2, 2], "finished")]
    rows = log_rows(output)
    assert [r["stage"] for r in rows] == ["float", "main"]
    # the main stage started from the float twin's latent weights (kept by layer name)
    with h5py.File(output / "float-weights.h5") as one, h5py.File(output / "weights.h5") as two:
        layer = "stage2_block1_unit1_conv"
        first, second = dataset_values(one[layer]), dataset_values(two[layer])
        assert np.corrcoef(first[0].ravel(), second[0].ravel())[0, 1] > 0.9


def test_a_stage_traces_its_train_step_once():
    # the optimizer's slots exist before fit: a train step that made them in its first
    # trace was traced twice (behaviour change: about 3 s of CPU less per stage)
    from tests.conftest import tiny_binary_model
    from training import train

    stage = {**recipes.STAGE_DEFAULTS, **recipes.CIFAR10_MAIN, "epochs": 2}
    trainer = train.stage_trainer(tiny_binary_model(), stage, steps_per_epoch=2)
    images = np.linspace(0, 255, 8 * 32 * 32 * 3, dtype="float32").reshape(8, 32, 32, 3)
    trainer.fit(images, np.arange(8) % 10, batch_size=4, epochs=2, verbose=0)
    assert int(trainer.optimizer.iterations) == 4
    assert trainer.train_function.experimental_get_tracing_count() == 1


class ScriptedStopped:
    """A ``training.pauses.StoppedTime`` whose stopped seconds a test sets."""

    def __init__(self):
        self.total = 0.0

    def seconds(self):
        return self.total


class NoSegmentLimit:
    def epoch_done(self, rows):
        pass

    def limit_passed(self):
        return False

    def records(self):
        return []


def test_an_epochs_times_and_the_runs_elapsed_time_leave_out_its_pauses(tmp_path,
                                                                         monkeypatch):
    """A stage that began 1000 s ago, stopped for 100 s before its epoch (a checkpoint
    write: no epoch's time) and for 300 s of the epoch, which began 500 s ago: 200 s of
    training, and the run's elapsed time is its wall time less the epoch's 300 s (the real
    seconds the test takes are in the tolerance)."""
    import time
    from types import SimpleNamespace

    import tensorflow as tf

    from training import pauses
    from training.checkpoints import EpochCheckpoint
    from training.logs import read_rows, wall_time_of

    stopped = ScriptedStopped()
    monkeypatch.setattr(pauses, "process_stopped_time", lambda: stopped)
    run = {"stage": "main", "output_dir": tmp_path, "earlier_rows": [],
           "started": time.time() - 1000.0, "segment": NoSegmentLimit(), "last_stage": True,
           "elapsed_before": 40.0}
    callback = EpochCheckpoint(tmp_path / "checkpoints", tf.train.Checkpoint(), [], 50_000, run)
    callback.set_model(SimpleNamespace(optimizer=SimpleNamespace(
        learning_rate=0.1, iterations=tf.Variable(391, dtype=tf.int64))))
    callback.set_params({"epochs": 1})
    stopped.total = 100.0  # before the epoch: not its pause
    callback.on_epoch_begin(0)
    callback.epoch_time.started -= 500.0
    stopped.total += 300.0
    callback.on_epoch_end(0)
    row, = read_rows(tmp_path / "training_log.csv")
    assert row["paused_s"] == 300.0
    assert row["epoch_time_s"] == pytest.approx(200.0, abs=10)
    assert row["img_per_s"] == pytest.approx(50_000 / row["epoch_time_s"], abs=0.1)
    assert row["elapsed_s"] == pytest.approx(40.0 + 1000.0 - 300.0, abs=10)
    assert wall_time_of([row]) == pytest.approx(40.0 + 1000.0, abs=10)


def test_cifar10_recipe_trains_through_the_cli_and_beats_chance(data_dir, tmp_path, capsys):
    """Through el_zoo.cli.main in this process: a fresh `python -m el_zoo.cli train` only
    added a TensorFlow start-up (the toy family's runs through `python -m tests.toy_cli
    train` are the trainings in fresh processes)."""
    output = tmp_path / "run"
    el_zoo_train_here(capsys, "resnet18_el", "--recipe", "cifar10", "--data-dir", data_dir,
                      "--output-dir", output, "--epochs", 2, "--train-limit", 2000,
                      "--eval-limit", 1000, "--batch-size", 64, "--verbose", 2)
    metrics = json.loads((output / "metrics.json").read_text())
    # chance is 10 %; 2 epochs on 2000 images reach 28.6 % to 30.1 % (--seed 0 to 4; the
    # test's is 0): 3 epochs on 3000 images (34.6 % to 35.5 %, seeds 0 to 2) took about 1.6
    # times as long
    assert metrics["top1"] > 0.2, metrics
    assert metrics["epochs"] == 2 and metrics["img_per_s"] > 0
    assert metrics["command"].startswith("el-zoo train resnet18_el --recipe cifar10")
    assert metrics["config"] == {"input_shape": [32, 32, 3], "classes": 10,
                                 "width_multiplier": 0.25, "stem": "cifar"}
    assert [int(r["epoch"]) for r in log_rows(output)] == [1, 2]
    assert all(float(r["epoch_cpu_s"]) > 0 for r in log_rows(output))  # the study's clock
    # every epoch logs the time its process sat stopped, left out of its times
    assert metrics["paused_s"] is not None and all(r["paused_s"] for r in log_rows(output))
    assert (output / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert list((output / "logs").rglob("events.out.tfevents.*"))
    import el_zoo

    model = el_zoo.load("resnet18_el", weights=str(output / "weights.h5"),
                        **{k: tuple(v) if k == "input_shape" else v
                           for k, v in metrics["config"].items()})
    assert model.get_layer("standardize").get_weights()[0].tolist() == pytest.approx(
        [0.4913, 0.4821, 0.4465])


def test_imagenette_recipe_trains_through_the_cli(data_dir, tmp_path, capsys):
    # what the run records, not how well it learns: two steps of 16 images
    output = tmp_path / "run"
    el_zoo_train_here(capsys, "mobilenet_v1_el", "--recipe", "imagenette", "--data-dir",
                      data_dir, "--output-dir", output, "--epochs", 1, "--train-limit", 32,
                      "--eval-limit", 16, "--batch-size", 16, "--image-size", 64,
                      "--width-multiplier", 0.25, "--elastic-link", "gamma_scale=fan_in",
                      "--elastic-link", "gamma_initializer=0.5")
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["dataset"] == "imagenette" and metrics["config"]["input_shape"] == [64, 64, 3]
    assert metrics["epochs"] == 1 and 0 <= metrics["top1"] <= 1
    # the run records every Elastic-Link option it trained with: the model's defaults (links
    # after BN for mobilenet_v1_el) with --elastic-link's replaced (behaviour change: only
    # the options given were recorded before)
    options = ElasticLinkOptions(position="after_bn", gamma_scale="fan_in",
                                 gamma_initializer=0.5).as_dict()
    assert metrics["recipe_config"]["elastic_link"] == options
    assert json.loads((output / "recipe.json").read_text())["recipe"]["elastic_link"] == options


@pytest.mark.parametrize("model, option, message", [
    ("resnet26", "position=after_bn", "resnet26 has no Elastic-Link: train resnet26_el"),
    ("resnet26_el", "position", "'position' is not KEY=VALUE"),
    ("resnet26_el", "postion=after_bn", "'postion' is not an Elastic-Link option"),
    ("resnet26_el", "position=middle", "position='middle' is not supported"),
    ("resnet26_el", "gamma_initializer=onez", "gamma_initializer='onez' is not a Keras "
     "initializer; use a number"),
])
def test_bad_elastic_link_options_stop_training_before_anything_is_written(
        tmp_path, capsys, model, option, message):
    from training import train

    output = tmp_path / "run"
    code = train.main([model, "--recipe", "cifar10", "--output-dir", str(output),
                       "--elastic-link", option])
    assert code == 2 and message in capsys.readouterr().err
    assert not output.exists()


def make_image_folder(root, classes=3, per_class=8, size=40, corrupt=None):
    """A tiny ImageNet-like ImageFolder: real-looking JPEGs of random pixels."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / "imagenet" / split / f"n0000000{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (size, size + 7, 3), dtype=np.uint8)
                pixels[..., c] = 255  # a learnable colour cue
                image = Image.fromarray(pixels)
                if i == 0:
                    image = image.convert("L")  # grayscale JPEGs must become RGB
                image.save(folder / f"{i}.JPEG")
    if corrupt:
        (root / "imagenet" / "train" / "n00000000" / corrupt).write_bytes(b"not an image")


def test_imagenet_paper_recipe_two_stages_with_distillation_from_a_folder(tmp_path, toy_family,
                                                                          capsys):
    """The two-stage recipe on a folder with a corrupt image: refused in one line, then
    trained past it (--skip-bad-images), stage 2 starting from stage 1's weights and
    distilled from a saved Keras teacher. The toy family trains, in this process: the
    stages, the hand-over of weights and the teacher are training.train's, whatever the
    model (a zoo family's stage 1 model: test_stage_one_model_has_real_weights_and_binary_
    activations)."""
    from el_zoo._keras import keras
    from tests.toy import BINARY_CONVS
    from training import train

    make_image_folder(tmp_path / "data", corrupt="broken.JPEG")
    teacher = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(3, activation="softmax")])
    teacher.save(tmp_path / "teacher.h5")
    arguments = list(map(str, [
        "toy_net_el", "--recipe", "imagenet_paper", "--data-dir", tmp_path / "data",
        "--output-dir", tmp_path / "run", "--epochs", 1, "--batch-size", 8, "--image-size", 64,
        "--width-multiplier", 0.25, "--teacher", tmp_path / "teacher.h5"]))
    assert train.main(arguments) == 2
    failed = capsys.readouterr().err
    assert "Traceback" not in failed  # one line, not TF's
    assert failed.splitlines()[-1].startswith("el-zoo train: error: cannot read image ")
    assert "broken.JPEG: cannot identify image file" in failed
    assert failed.endswith("(pass --skip-bad-images to leave it out)\n")
    assert not (tmp_path / "run").exists()  # failed in its first epoch: nothing left
    with pytest.warns(UserWarning, match=r"skipping cannot read image .*broken\.JPEG"):
        assert train.main([*arguments, "--skip-bad-images"]) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["stages"] == ["stage1", "stage2"] and metrics["epochs"] == 2
    assert metrics["teacher"].endswith("teacher.h5")
    assert [r["stage"] for r in log_rows(tmp_path / "run")] == ["stage1", "stage2"]
    # stage 2 started from stage 1's weights: its kernels moved a little, not from scratch
    with h5py.File(tmp_path / "run" / "stage1-weights.h5") as one, \
            h5py.File(tmp_path / "run" / "weights.h5") as two:
        compared = []
        for layer in two:  # weight paths inside a layer's group differ; their order does not
            if not layer.endswith("_conv") or layer.startswith("stem"):
                continue
            first, second = dataset_values(one[layer]), dataset_values(two[layer])
            assert len(first) == len(second) == 1, layer
            assert not np.array_equal(first[0], second[0]), layer
            assert np.corrcoef(first[0].ravel(), second[0].ravel())[0, 1] > 0.9, layer
            compared.append(layer)
        assert compared == BINARY_CONVS  # every binary conv of the model


def dataset_values(group):
    values = []
    group.visititems(lambda name, obj: values.append(obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return values


def test_run_killed_at_every_phase_is_finished_by_rerunning_the_same_command(
        data_dir, tmp_path, toy_family, capsys):
    """SIGKILL (as a crash or kill -9) at each phase, then the same command again: mid-epoch
    before any checkpoint, between epochs, during the final evaluation (the stage's weights
    written, the final ones not), and after the run finished. The kills happen at named
    points of training.train ($EL_ZOO_TRAIN_KILL_AT), so the test does not depend on timing.
    The toy family trains: the kill points, checkpoints and records are training.train's,
    whatever the model. Each killed run is a fresh process (the CLI, as users run it); the
    two reruns that are not killed run in this process (a TensorFlow start-up less each)."""
    from training import train

    output = tmp_path / "run"
    arguments = ["toy_net", "--recipe", "cifar10", "--data-dir", str(data_dir),
                 "--output-dir", str(output), "--epochs", "2", "--train-limit", "128",
                 "--eval-limit", "64", "--batch-size", "32", "--width-multiplier", "0.125",
                 "--verbose", "0"]
    latest = output / "checkpoints" / "main" / "latest"

    def run(kill_at=None):
        """The command killed at ``kill_at`` (a fresh process), or run to its end in this
        one; its standard output."""
        if not kill_at:
            assert train.main(arguments) == 0, capsys.readouterr().err[-3000:]
            return capsys.readouterr().out
        process = subprocess.run([*TOY_CLI, "train", *arguments], cwd=REPO,
                                 env={**ENV, "EL_ZOO_TRAIN_KILL_AT": kill_at},
                                 capture_output=True, text=True)
        assert process.returncode != 0, f"the run was not killed at {kill_at!r}"
        assert not (output / "metrics.json").exists()
        return process.stdout

    run("main epoch 1 batch 2")  # mid-epoch, nothing to resume yet
    assert not latest.exists()
    run("main epoch 1 saved")  # between epochs
    assert latest.read_text() == "epoch-0001"
    # what a kill while writing leaves: a checkpoint not yet renamed, an atomic temporary
    (latest.parent / ".epoch-0002-x1y2").mkdir()
    (output / ".main-weights.h5.x1y2.tmp").write_bytes(b"half")
    resumed = run("final evaluation batch 1")  # the bug of issue #21: 'teacher' unbound
    assert "resuming main after epoch 1" in resumed
    assert (output / "main-weights.h5").exists() and not (output / "weights.h5").exists()
    finished = run()
    assert "resuming" not in finished and "top-1" in finished

    rows = log_rows(output)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    # the optimizer state came back: its step count continued instead of restarting
    assert [int(r["iterations"]) for r in rows] == [4, 8]
    # and the learning rate is what an uninterrupted run's schedule gives
    assert [float(r["lr"]) for r in rows] == pytest.approx(
        [cosine_lr(3, 8), cosine_lr(7, 8)], rel=1e-4)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["top1"] <= 1 and metrics["eval_images"] == 64
    # each invocation that kept a checkpoint is a segment; a killed one shows as a resume
    # without a clean end (the first kill, before any checkpoint, left nothing to record)
    segments = metrics["segments"]
    assert [(s["segment"], s["began_as"], s["epochs"], s["ended_by"]) for s in segments] == [
        (1, "start", [1, 1], "interrupted"), (2, "resume", [2, 2], "interrupted"),
        (3, "resume", None, "finished")]
    assert segments[-1]["top1"] == metrics["top1"]
    assert segments[0]["top1"] == float(rows[0]["val_top1"])  # its last epoch's evaluation
    assert all(s["command"] == metrics["command"] and s["git_commit"] and s["machine"]
               and s["start"].endswith(" UTC") and s["cpu_s"] > 0 for s in segments)
    assert metrics["command"] == json.loads((output / "recipe.json").read_text())["command"]
    assert (output / "weights.h5").exists() and (output / "training_curves.png").exists()
    leftovers = [p for p in [*output.iterdir(), *latest.parent.iterdir()]
                 if p.name.startswith(".")]
    assert not leftovers

    record = (output / "metrics.json").read_bytes()
    again = run()  # after it finished: says so, trains nothing, rewrites nothing
    assert "is already complete" in again and "nothing to do" in again
    assert (output / "metrics.json").read_bytes() == record


MODELS = REPO / "models"


def cosine_lr(step, steps):
    """The cifar10 recipe's learning rate at ``step`` (counted from 0) of ``steps``: cosine
    decay from 2e-3. A log row's is that of its epoch's last step."""
    return 1e-3 * (1 + math.cos(math.pi * step / steps))


def test_a_lost_run_restarts_from_published_weights_in_segments(data_dir, tmp_path, capsys):
    """The run folder of resnet18.cifar10 (18 epochs) is lost; its chain to 20 epochs
    restarts from the published folder with a fresh optimizer, and --segment-minutes 0 ends
    each invocation after one epoch; the rerun resumes without the source. In this process
    (two trainings of 4 steps: the TensorFlow start-up once)."""
    from el_zoo.hub import sha256_of
    from training import cards, train
    from training.logs import read_rows, wall_time_of
    from training.restart import OPTIMIZER_LOST

    source = tmp_path / "models" / "resnet18.cifar10"  # a copy, deleted below
    shutil.copytree(MODELS / "resnet18.cifar10", source)
    # the copy stands for a run on the test's subsets and batch: a restart continues the
    # same run
    copied = json.loads((source / "metrics.json").read_text())
    copied["training"].update(train_limit=128, eval_images=64)
    copied["training"]["recipe_config"]["batch_size"] = 32
    (source / "metrics.json").write_text(json.dumps(copied))
    published = json.loads((source / "metrics.json").read_text())["training"]
    output = tmp_path / "run"
    command = ["resnet18", "--recipe", "cifar10", "--width-multiplier", "0.5", "--epochs",
               "20", "--train-limit", "128", "--eval-limit", "64", "--batch-size", "32",
               "--verbose", "0", "--data-dir", str(data_dir), "--output-dir", str(output),
               "--segment-minutes", "0", "--restart-from", str(source)]
    assert train.main(command) == 0
    out = capsys.readouterr().out
    assert f"restarting main after epoch 18 from {source / 'weights.h5'} with a fresh " \
           "optimizer" in out
    assert ("segment ended: 0 min (--segment-minutes) passed; stopped after main epoch 19 "
            "with its checkpoint written. Continue the run with the same command: "
            f"{train.documented_command(train.parse_args(command))}") in out
    assert (output / "checkpoints" / "main" / "latest").read_text() == "epoch-0019"
    assert not (output / "main-weights.h5").exists() and not (output / "metrics.json").exists()
    sha256 = sha256_of(source / "weights.h5")
    shutil.rmtree(source)  # a rerun resumes from its own checkpoint, without the source
    assert train.main(command) == 0
    assert "resuming main after epoch 19" in capsys.readouterr().out

    rows = log_rows(output)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 21))  # the source's log first
    source_rows = log_rows(MODELS / "resnet18.cifar10")
    assert [{k: r[k] for k in source_rows[0]} for r in rows[:18]] == source_rows
    assert [int(r["iterations"]) for r in rows[18:]] == [4, 8]  # a fresh optimizer
    # the source's epochs were logged before their pauses were: their times include them
    paused = [r["paused_s"] for r in rows]
    assert paused[:18] == [""] * 18 and "" not in paused[18:]
    # the schedule of 20 epochs continued after epoch 18 (step 72 of 80)
    assert [float(r["lr"]) for r in rows[18:]] == pytest.approx(
        [cosine_lr(75, 80), cosine_lr(79, 80)], rel=1e-4)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["epochs"] == 20
    assert metrics["paused_s"] is None and metrics["wall_time_s"] == wall_time_of(
        read_rows(output / "training_log.csv"))
    # the source's schedule (18 epochs) had ended at lr 0; this one's of 20 goes on at
    # epoch 18's rate: a warm restart, recorded
    schedule = {"source_epochs": 18, "source_end_lr": 0.0, "epochs": 20,
                "lr": pytest.approx(cosine_lr(18, 20), rel=1e-4)}
    assert metrics["restart"] == {
        "from": str(source), "weights": str(source / "weights.h5"), "sha256": sha256,
        "stage": "main", "epoch": 18, "optimizer": OPTIMIZER_LOST,
        "source": {key: published[key] for key in ("model", "recipe", "epochs", "top1",
                                                   "command", "git_commit", "date")},
        "schedule": schedule}
    assert (metrics["logged_epochs"], metrics["images_per_epoch"]) == (20, 128)
    segments = metrics["segments"]
    assert [(s["segment"], s["began_as"], s["epochs"], s["ended_by"]) for s in segments] == [
        (1, "start", [1, 18], "finished"), (2, "restart", [19, 19], "segment limit"),
        (3, "resume", [20, 20], "finished")]
    # the published run was recorded before segments were: one for it, its CPU unknown
    assert segments[0]["recorded"] is False and segments[0]["cpu_s"] is None
    assert segments[0]["top1"] == published["top1"] and segments[-1]["top1"] == metrics["top1"]

    # the card's table covers every segment and states the restart
    lines = cards.chain_lines(metrics)
    cells = [line.strip("| ").split(" | ") for line in lines
             if line.startswith("| ") and line[2].isdigit()]
    assert [[c[0], c[1], c[3], c[4], c[6]] for c in cells] == [
        ["1", "start", "1-18", "finished", "not recorded"],
        ["2", "restart (fresh optimizer)", "19", "segment limit",
         cards.hours(segments[1]["cpu_s"])],
        ["3", "resume", "20", "finished", cards.hours(segments[1]["cpu_s"] + segments[2]["cpu_s"])]]
    assert cells[0][7] == f"{published['top1']:.2%}" and cells[2][7] == f"{metrics['top1']:.2%}"
    assert lines[-1].startswith(
        f"- Restarted from committed weights: `{source}` (`{source / 'weights.h5'}`, sha256 "
        f"`{sha256}`) after epoch 18 of stage main, with a fresh optimizer")
    assert lines[-1].endswith(
        "a warm restart: the source's schedule of 18 epochs had ended at lr 0; this run's "
        f"schedule of 20 epochs continued from epoch 18 at lr {cosine_lr(18, 20):.3g}.")
    # the card's wall time sums the segments (the first one's carried from the source)
    assert cards.wall_time_text(metrics) == (
        f"wall time {sum(s['wall_time_s'] for s in segments) / 60:.0f} min over its 3 segments")

    assert train.main(command) == 0  # finished: the source is not needed to say so
    assert "is already complete" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--restart-from", "{tmp}/missing"], "--restart-from {tmp}/missing: no such file or "
     "folder; give a published models/NAME.TAG folder, a finished run folder, or a weights "
     ".h5 file with --restart-epoch."),
    (["--width-multiplier", "0.125", "--restart-from", f"{MODELS}/resnet18_el.cifar10"],
     "holds another run than this command's (model: recorded resnet18_el, now resnet18; "
     "--width-multiplier: recorded 0.5, now 0.125; --elastic-link: recorded the global "
     "defaults, now not given): a restart continues that run and may change only --epochs "
     "(of the stage it continues) and --seed; give its other options as recorded, or train "
     "a new run without --restart-from."),
    (["--width-multiplier", "0.5", "--epochs", "30", "--lr", "0.001", "--batch-size", "64",
      "--image-size", "40", "--train-limit", "100", "--restart-from",
      f"{MODELS}/resnet18.cifar10"],
     "holds another run than this command's (--batch-size: recorded 128, now 64; --lr: "
     "recorded 0.002, now 0.001; --image-size: recorded 32, now 40; --train-limit: recorded "
     "not given, now 100): a restart continues that run"),
    (["--width-multiplier", "0.125", "--restart-epoch", "5", "--restart-from",
      f"{MODELS}/resnet18.cifar10/weights.h5"],
     "width_multiplier=0.5; width_multiplier=0.125 cannot use those weights"),
    (["--width-multiplier", "0.5", "--restart-from", f"{MODELS}/resnet18.cifar10/weights.h5"],
     "is a weights file: give --restart-epoch N, the epochs of stage main those weights "
     "were trained."),
    (["--width-multiplier", "0.5", "--epochs", "18", "--restart-from",
      f"{MODELS}/resnet18.cifar10"], "the weights have 18 epochs of stage main, which has 18 "
     "in this recipe: nothing is left to train; raise --epochs"),
    (["--recipe", "cifar10_kd", "--restart-from", f"{MODELS}/resnet18.cifar10"],
     "continues recipe cifar10_kd's last stage, main, whose teacher is stage float: its "
     "weights were lost with the run folder, so this recipe cannot be restarted."),
    (["--restart-epoch", "3"], "--restart-epoch goes with --restart-from (a weights file)."),
    (["--segment-minutes", "150", "--strategy", "multiworker"],
     "--segment-minutes does not work with --strategy multiworker"),
], ids=["missing", "other model and width", "other options", "file of another width",
        "file without epoch",
        "nothing left to train", "teacher stage lost", "epoch without source",
        "segments of several workers"])
def test_restart_and_segment_options_are_checked_before_anything_is_written(
        tmp_path, capsys, arguments, message):
    from training import train

    output = tmp_path / "run"
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    code = train.main(["resnet18", "--recipe", "cifar10", "--output-dir", str(output),
                       *arguments])
    assert code == 2 and message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not output.exists()


def restart_source(tmp_path, metrics_text):
    """A copy of the published resnet18.cifar10 folder whose metrics.json is ``metrics_text``."""
    source = tmp_path / "source"
    shutil.copytree(MODELS / "resnet18.cifar10", source)
    (source / "metrics.json").write_text(metrics_text)
    return source


@pytest.mark.parametrize("metrics_text", ["{not json", "[1, 2]", '{"top1": 0.5}',
                                          '{"training": {"model": "resnet18"}, "publish": {}}'],
                         ids=["not json", "a list", "no training record", "a partial record"])
def test_a_restart_from_a_folder_with_an_unreadable_record_says_so_in_one_line(
        tmp_path, capsys, metrics_text):
    from training import train

    source = restart_source(tmp_path, metrics_text)
    code = train.main(["resnet18", "--recipe", "cifar10", "--output-dir", str(tmp_path / "run"),
                       "--restart-from", str(source)])
    error = capsys.readouterr().err
    assert code == 2 and (f"--restart-from {source}: {source / 'metrics.json'} is not a training "
                          "record (JSON with model, seed, epochs, recipe_config and the "
                          "recipe's stages); give a finished run folder") in error
    assert "Traceback" not in error and not (tmp_path / "run").exists()


def test_a_restart_keeps_the_epochs_of_the_stages_its_source_did(tmp_path, capsys):
    """--epochs sets every stage; the stages before the last are the source's, done."""
    from training import train

    published = json.loads((MODELS / "resnet18.cifar10" / "metrics.json").read_text())
    recipe = recipes.get_recipe("cifar10_two_stage", width_multiplier=0.5)
    published["training"].update(recipe=recipe["name"], recipe_config=recipe)
    source = restart_source(tmp_path, json.dumps(published))
    code = train.main(["resnet18", "--recipe", "cifar10_two_stage", "--width-multiplier", "0.5",
                       "--epochs", "30", "--output-dir", str(tmp_path / "run"),
                       "--restart-from", str(source)])
    assert code == 2 and (f"--restart-from {source} holds another run than this command's "
                          "(--stage-epochs stage1: recorded 6, now 30): a restart continues "
                          "that run") in capsys.readouterr().err


def test_a_restart_from_a_weights_file_counts_the_epochs_it_did_not_log(data_dir, tmp_path,
                                                                      capsys):
    """A two-stage recipe restarted from a bare weights file after epoch 10 of its last stage:
    the run's epochs count stage 1's (6) and main's 11, though only one epoch is logged;
    time and speed cover that one, and the card says so."""
    from training import cards, train

    output = tmp_path / "run"
    assert train.main([
        "resnet18", "--recipe", "cifar10_two_stage", "--width-multiplier", "0.5",
        "--stage-epochs", "main=11", "--train-limit", "64", "--eval-limit", "32",
        "--batch-size", "32", "--verbose", "0", "--data-dir", str(data_dir), "--output-dir",
        str(output), "--restart-from", str(MODELS / "resnet18.cifar10" / "weights.h5"),
        "--restart-epoch", "10"]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["logged_epochs"], metrics["images_per_epoch"]) == (
        17, 1, 64)
    assert [(s["began_as"], s["epochs"], s["ended_by"]) for s in metrics["segments"]] == [
        ("restart", [17, 17], "finished")]
    assert metrics["restart"]["schedule"] == {
        "source_epochs": None, "source_end_lr": None, "epochs": 11,
        "lr": pytest.approx(cosine_lr(10, 11), rel=1e-4)}
    assert cards.train_time_text(metrics).startswith(
        f"{metrics['train_time_s'] / 60:.0f} min of training in the 1 epoch logged (")
    assert cards.wall_time_text(metrics) == (
        f"wall time {metrics['segments'][0]['wall_time_s'] / 60:.0f} min (the weights file's "
        "own training not included)")
    assert cards.restart_line(metrics["restart"]).endswith(
        f"this run's schedule of 11 epochs continued from epoch 10 at lr "
        f"{cosine_lr(10, 11):.3g}; the weights file records no schedule of its own.")


@pytest.mark.parametrize("classes, trained", [
    (["cat", "dog"], "10 classes (airplane, automobile, bird, cat, deer, dog, frog, horse, "
     "ship, truck), but cifar10/train has 2 class folders (cat, dog)"),
    ([f"kind{i}" for i in range(10)], "10 classes (airplane, automobile, bird, cat, deer, "
     "dog, frog, horse, ship, truck), but cifar10/train has 10 class folders (kind0, kind1"),
], ids=["fewer classes", "as many other classes"])
def test_a_restart_on_a_users_folder_of_other_classes_is_refused(tmp_path, monkeypatch, capsys,
                                                                 classes, trained):
    """--restart-from published weights on a user's own class folders (a fine-tuning the
    command does not do): as many classes trained the old head on without a word, recorded
    as the same run; two failed after the data had loaded in the weights' loader, "pass
    classes=10, or include_top=False", options el-zoo train has not."""
    from el_zoo import hub
    from training import train

    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    sizes = {name: [(32, 32)] for name in classes}
    data_dir = make_user_folder(tmp_path / "data", sizes, sizes)
    output = tmp_path / "run"
    code = train.main(["resnet18", "--recipe", "cifar10", "--width-multiplier", "0.5",
                       "--epochs", "19", "--batch-size", "2", "--verbose", "0",
                       "--data-dir", str(data_dir), "--output-dir", str(output),
                       "--restart-from", f"{MODELS}/resnet18.cifar10/weights.h5",
                       "--restart-epoch", "18"])
    error = capsys.readouterr().err
    assert code == 2 and (f"--restart-from {MODELS}/resnet18.cifar10/weights.h5 holds weights "
                          f"trained on {trained}") in error
    assert "fine-tune them under a new head in Keras (README: Fine-tuning)" in error
    assert not output.exists()


def test_a_restart_refuses_a_run_folder_with_checkpoints(tmp_path, capsys):
    from training import train

    output = tmp_path / "run"
    (output / "checkpoints" / "main").mkdir(parents=True)
    (output / "checkpoints" / "main" / "latest").write_text("epoch-0001")
    (output / "recipe.json").write_text(json.dumps({"model": "resnet18"}))
    code = train.main(["resnet18", "--recipe", "cifar10", "--output-dir", str(output),
                       "--restart-from", f"{MODELS}/resnet18.cifar10"])
    assert code == 2 and (f"--restart-from starts a new run folder, but {output} already "
                          "holds checkpoints of a run not restarted: to continue that run, "
                          "rerun its own command; to restart, give a new --output-dir."
                          ) in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: exit 2, naming the option
        train.main(["resnet18", "--recipe", "cifar10", "--output-dir", str(output),
                    "--segment-minutes", "-1"])
    assert "--segment-minutes: '-1' is not a number of minutes (0 or more)" in \
        capsys.readouterr().err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_workers(data_dir, output_dirs, env=None):
    """Runs `el-zoo train toy_net_el` (the toy family: tests/toy.py) as two workers on
    loopback (worker 0 is the chief), each with its --output-dir from ``output_dirs``;
    returns [(exit code, output)] of both."""
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index, output_dir in enumerate(output_dirs):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        command = [*TOY_CLI, "train", "toy_net_el", "--recipe", "cifar10", "--data-dir",
                   str(data_dir), "--output-dir", str(output_dir), "--strategy",
                   "multiworker", "--epochs", "2", "--train-limit", "128", "--eval-limit",
                   "64", "--batch-size", "32", "--verbose", "0", "--threads", "1"]
        processes.append(subprocess.Popen(
            command, env={**ENV, **(env or {}), "TF_CONFIG": json.dumps(tf_config)}, cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    return [(p.returncode, output) for p, output in zip(processes, outputs)]


def test_two_workers_killed_and_rerun_resume_alike_with_identical_weights(data_dir, tmp_path,
                                                                          toy_family):
    """Both workers killed after epoch 1, then both commands rerun: every worker resumes
    from the chief's checkpoint (a non-chief starting again from epoch 0 would train other
    weights, or hang); a worker that cannot see that checkpoint is refused on both. The
    toy family trains: resuming alike holds whatever the model, and the toy has every kind
    of variable the strategy mirrors (kernels, BN statistics, Elastic-Link scales)."""
    import el_zoo
    from tests.conftest import SMALL

    run = tmp_path / "run"
    for code, output in run_two_workers(data_dir, [run, run],
                                        {"EL_ZOO_TRAIN_KILL_AT": "main epoch 1 saved"}):
        assert code != 0 and "epoch 2" not in output, output[-3000:]  # killed where asked
    assert (run / "checkpoints" / "main" / "latest").read_text() == "epoch-0001"

    # worker 1 sees no run folder (as on a host without the shared file system)
    for code, output in run_two_workers(data_dir, [run, tmp_path / "elsewhere"]):
        assert code == 2, output[-3000:]
        assert (f"el-zoo train: error: the workers see different runs in --output-dir" in output
                and "(chief: main after epoch 1; worker 1: no checkpoint)" in output
                and "it must be one folder all workers share" in output), output[-3000:]
    assert not (tmp_path / "elsewhere").exists()

    for code, output in run_two_workers(data_dir, [run, run]):
        assert code == 0, output[-3000:]
        assert f"resuming main after epoch 1 from {run / 'checkpoints' / 'main'}" in output
    rows = log_rows(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [int(r["iterations"]) for r in rows] == [4, 8]  # the optimizer state came back
    chief, other = run / "weights.h5", run / "worker-1" / "weights.h5"
    with h5py.File(chief) as a, h5py.File(other) as b:
        names = []
        a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        # every weight compared: the file holds one dataset per weight of the model
        assert len(names) == len(el_zoo.load("toy_net_el", **SMALL).weights)
        for name in names:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path, monkeypatch, capsys):
    # in this process: the strategy is refused before TensorFlow runs anything
    from el_zoo.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", "resnet18", "--recipe", "cifar10", "--output-dir", str(tmp_path),
                 "--strategy", "multiworker"])
    assert code == 2 and "needs TF_CONFIG" in capsys.readouterr().err


def test_weight_decay_spares_the_elastic_link_scales_found_by_their_layer():
    import el_zoo
    from tests.conftest import SMALL
    from training import train

    model = el_zoo.load("resnet18_el", **SMALL)
    stage = {"epochs": 1, "lr": 1e-3, "schedule": "cosine", "warmup_epochs": 0,
             "weight_decay": 5e-5}
    optimizer = train.make_optimizer(stage, 10, model)
    links = [layer for layer in model.layers if isinstance(layer, el_zoo.ElasticLink)]
    assert links and not any(optimizer._use_weight_decay(link.gamma) for link in links)
    assert optimizer._use_weight_decay(model.get_layer("stage1_block1_unit1_conv").kernel)


def make_user_folder(root, train, test):
    """A user's own data as recipe cifar10 reads it, ``root/cifar10/<split>/<class>/``:
    ``train`` and ``test`` map class folders to image sizes (width, height); the second
    image of a class is grayscale, the third RGBA, and stray files lie beside them."""
    rng = np.random.default_rng(0)
    for split, classes in (("train", train), ("test", test)):
        for name, sizes in classes.items():
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i, size in enumerate(sizes):
                image = Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8))
                image.convert(("RGB", "L", "RGBA")[i % 3]).save(folder / f"{i}.png")
            (folder / "notes.txt").write_text("not an image")
        (root / "cifar10" / split / ".DS_Store").write_bytes(b"\0")
    return root


def user_data(tmp_path, monkeypatch, stream, train, test):
    from types import SimpleNamespace

    from el_zoo import hub
    from training import train as trainer

    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    args = SimpleNamespace(tfds=False, stream=stream, skip_bad_images=False, train_limit=None,
                           eval_limit=None, data_dir=make_user_folder(tmp_path, train, test))
    return trainer.load_data(recipes.get_recipe("cifar10"), args, seed=0)


def pipelines_of(recipe, monkeypatch):
    """{"decode": size, "train": ..., "eval": ...}: the decode size and the options the
    trainer's ``load_data`` gives its two data pipelines for ``recipe`` (nothing loaded)."""
    from types import SimpleNamespace

    from el_zoo import data
    from training import train as trainer

    seen = {}

    def split(name, split, image_size=None, **_):
        seen.update({"decode": image_size} if image_size else {})  # load_split decodes
        return ["a.png", "b.png"], np.array([0, 1]), ["a", "b"]

    def pipeline(items, labels, *, training, image_size=None, **options):
        seen.update({"decode": image_size} if image_size else {})  # file_dataset decodes
        seen["train" if training else "eval"] = options

    for name in ("load_split", "split_files"):
        monkeypatch.setattr(data, name, split)
    for name in ("array_dataset", "file_dataset"):
        monkeypatch.setattr(data, name, pipeline)
    args = SimpleNamespace(tfds=False, stream=False, skip_bad_images=False, train_limit=None,
                           eval_limit=None, data_dir=None)
    trainer.load_data(recipe, args, seed=0)
    return seen


@pytest.mark.parametrize("name", sorted(recipes.RECIPES) + ["stored larger, cifar augment"])
def test_training_evaluates_as_the_published_model_is_evaluated(name, monkeypatch):
    # the trainer centre-cropped when augment was "imagenet", publishing (and el_zoo.evaluate)
    # when the recipe stores its images larger: one rule now, recipe_preprocessing's
    recipe = (recipes.get_recipe(name) if name in recipes.RECIPES else
              {**recipes.get_recipe("imagenette"), "augment": "cifar"})
    seen = pipelines_of(recipe, monkeypatch)
    published = recipes.recipe_preprocessing(recipe)
    assert (seen["decode"], seen["eval"]["crop_size"]) == (published["resize"],
                                                          published["crop"])
    if name in recipes.RECIPES:  # as before for every recipe: crop to the training size
        crop = recipe["image_size"] if recipe["augment"] == "imagenet" else None
        assert seen["eval"]["crop_size"] == seen["train"]["crop_size"] == crop
        assert seen["train"]["augment"] == recipe["augment"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_users_folder_of_mixed_sizes_and_fewer_test_classes_trains_on_its_classes(
        tmp_path, monkeypatch, stream):
    # images of mixed sizes failed with "all input arrays must have the same shape"; a test
    # split without one of the training classes was labelled by its own folder positions
    # (cat scored as café), or, streamed, the model was built for the test split's classes
    # and the first step failed in TensorFlow's loss
    sizes = [(32, 32), (40, 30), (64, 64)]
    train, evaluation, classes, images = user_data(
        tmp_path, monkeypatch, stream, {"café": sizes, "cat": sizes, "dog house": sizes},
        {"cat": sizes[:1], "dog house": sizes[:2]})
    assert classes == ["café", "cat", "dog house"] and images == 9
    assert tuple(train.element_spec[0].shape) == (128, 32, 32, 3)  # the recipe's batch
    (pixels, labels), = list(evaluation)  # resized like the training images
    assert pixels.shape == (3, 32, 32, 3) and sorted(labels.numpy().tolist()) == [1, 2, 2]


@pytest.mark.parametrize("train, test, message", [
    ({"cat": [(32, 32)], "empty": []}, {"cat": [(32, 32)]},
     r"cifar10/train gives no training image of class folder\(s\) 'empty': the model would "
     r"have an output for a class it never sees\. Remove the empty class folder"),
    ({"cat": [(32, 32), (32, 32)]}, {"cat": [(32, 32)]},
     r"cifar10/train has one class folder, 'cat': a classifier needs two or more"),
    ({"cat": [(32, 32)], "dog": [(32, 32)]}, {"cat": [(32, 32)], "bird": [(32, 32)]},
     r"cifar10/test has class folder\(s\) 'bird' that name no class of the model\. .*: "
     r"cat, dog"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_a_users_folder_with_an_empty_or_unknown_class_is_refused(tmp_path, monkeypatch,
                                                                  stream, train, test,
                                                                  message):
    # an empty class folder trained a model with an output for a class it never saw; one
    # class folder, a softmax of one output (1.0): loss 0 and a top-1 of 100 %
    with pytest.raises(ValueError, match=message):
        user_data(tmp_path, monkeypatch, stream, train, test)
