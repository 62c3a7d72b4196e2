"""evaluate and predict on bad input: class folders matched by name, limits and top-k
checked early, class names of a model loaded from a published tag."""

import importlib
import json
import shutil
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import el_zoo
from el_zoo import data, hub, pretrained
from el_zoo.cli import main
from el_zoo.layers import check_pixels_reach_standardize
from el_zoo.model_record import built_config, class_names_of
from tests.conftest import SMALL, SubclassedHead, small_backbone

evaluate_module = importlib.import_module("el_zoo.evaluate")  # el_zoo.evaluate is the function
PUBLISHED = "resnet26_el.cifar10"
PUBLISHED_WIDTH = pretrained.published_model(PUBLISHED).config.width_multiplier
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
# The warning about class names recorded for a classifier that has been trained since.
TRAINED = r"resnet26_el's classifier has been trained since el_zoo.load recorded its " \
          r"class names \(airplane, automobile, bird, \.\.\.\).*unless class_names= names them"


@pytest.fixture(scope="module")
def model():
    return el_zoo.load(PUBLISHED)


@pytest.fixture(scope="module")
def test_images(data_dir):
    """Forty real CIFAR-10 test images (four per class) and their labels."""
    images, labels, classes = data.load_split("cifar10", "test", data_dir=data_dir, limit=40)
    assert classes == CIFAR10
    return images, labels


def write_image_folder(root, images, labels, folder_names):
    """``root/cifar10/test/<folder name of the label>/<i>.png``."""
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / "cifar10" / "test" / folder_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    return root


def test_a_folder_of_some_classes_is_scored_by_class_name(model, test_images, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    images, labels = test_images
    keep = np.isin(labels, [CIFAR10.index("cat"), CIFAR10.index("dog")])
    root = write_image_folder(tmp_path / "data", images[keep], labels[keep], CIFAR10)
    assert sorted(p.name for p in (root / "cifar10" / "test").iterdir()) == ["cat", "dog"]
    predicted = model.predict(images[keep].astype(np.float32), verbose=0).argmax(-1)
    expected = float(np.mean(predicted == labels[keep]))
    result = el_zoo.evaluate(PUBLISHED, data_dir=root)
    assert result["images"] == 8 and result["top1"] == expected
    assert expected >= 0.5  # by folder position (0 = airplane, 1 = automobile) it was 0


def test_a_class_folder_the_model_does_not_know_is_a_clear_error(test_images, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    images, labels = test_images
    names = {**dict(enumerate(CIFAR10)), 3: "kitten"}
    root = write_image_folder(tmp_path / "data", images[:4], labels[:4], names)
    with pytest.raises(ValueError, match=r"cifar10/test has class folder\(s\) 'kitten' that "
                                         r"name no class of the model\. Name each class folder "
                                         r"after one of its classes \(any subset of them\): "
                                         r"airplane, automobile, bird, cat, deer, dog"):
        el_zoo.evaluate(PUBLISHED, data_dir=root)


@pytest.mark.parametrize("limit", [-5, 0])
def test_evaluate_checks_the_limit_before_loading_the_model(limit, monkeypatch):
    def no_load(name_or_model):
        raise AssertionError("the model was loaded before the limit was checked")

    monkeypatch.setattr(evaluate_module, "_load", no_load)
    with pytest.raises(ValueError, match=f"limit must be a positive whole number of images "
                                         f"\\(leave it out for all of them\\); got {limit}\\."):
        el_zoo.evaluate(PUBLISHED, limit=limit)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_evaluate_checks_the_batch_size_before_loading_the_model(batch_size, monkeypatch):
    # 0 or -1 failed in tf.data's "Batch size must be greater than zero" (2.5 in its
    # conversion to int64), in a traceback, once the whole split had been decoded
    def no_load(name_or_model, use, class_names):
        raise AssertionError("the model was loaded before the batch size was checked")

    monkeypatch.setattr(evaluate_module, "_load", no_load)
    with pytest.raises(ValueError, match=f"batch_size must be a positive whole number; "
                                         f"got {batch_size}\."):
        el_zoo.evaluate(PUBLISHED, limit=5, batch_size=batch_size)


def test_evaluate_cli_refuses_a_negative_limit(capsys):
    # the command line refuses it while parsing, before the library's own check
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", PUBLISHED, "--limit", "-5"])
    assert exit_info.value.code == 2
    assert "el-zoo evaluate: error: argument --limit: must be a whole number above 0; " \
        "got '-5'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def image_paths(test_images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(3):
        paths.append(folder / f"{i}.png")
        Image.fromarray(test_images[0][i]).save(paths[-1])
    return paths


def test_predict_names_the_classes_of_a_model_loaded_from_a_tag(model, image_paths):
    assert model.published_name == PUBLISHED
    by_object = el_zoo.predict(model, image_paths, top=3)
    assert by_object == el_zoo.predict(PUBLISHED, image_paths, top=3)
    assert all(name in CIFAR10 for row in by_object for name, _ in row)


def test_predict_takes_class_names_for_any_model(model, image_paths):
    shouted = [name.upper() for name in CIFAR10]
    rows = el_zoo.predict(model, image_paths[0], top=2, class_names=shouted)
    assert len(rows) == 1 and all(name in shouted for name, _ in rows[0])
    with pytest.raises(ValueError, match="2 class names for resnet26_el, which has 10 outputs"):
        el_zoo.predict(model, image_paths, class_names=["cat", "dog"])
    # ten letters were ten "names" ('a', 'i', ...), as save_weights already refused them
    with pytest.raises(ValueError, match="class names must be a list of names; got the string "
                                         "'airplanes!'"):
        el_zoo.predict(model, image_paths, class_names="airplanes!")


def test_only_models_with_the_published_head_record_their_name(model, tmp_path):
    assert not hasattr(el_zoo.load(PUBLISHED, include_top=False), "published_name")
    weights = tmp_path / "weights.h5"
    shutil.copyfile(pretrained.published_weights(PUBLISHED), weights)  # the published bytes
    same_config = {"input_shape": (32, 32, 3), "stem": "cifar",
                   "width_multiplier": PUBLISHED_WIDTH,
                   "classes": 10}
    assert el_zoo.load("resnet26_el", weights=str(weights),
                       **same_config).published_name == PUBLISHED
    head = model.get_layer("predictions")
    head.set_weights([w * 2 for w in head.get_weights()])
    try:
        model.save_weights(weights)  # other weights: not the published model
    finally:
        head.set_weights([w / 2 for w in head.get_weights()])
    assert not hasattr(el_zoo.load("resnet26_el", weights=str(weights), **same_config),
                       "published_name")
    assert el_zoo.load("resnet26_el", weights="cifar10").published_name == PUBLISHED


def test_a_published_file_loaded_by_path_is_preprocessed_and_named_as_its_tag():
    # decoded at 128 without the centre crop and numbered, where the tag is decoded at 146,
    # centre-cropped to 128 and named
    path = str(pretrained.published_file("resnet18_el.imagenette", "weights.h5"))
    by_path = el_zoo.load("resnet18_el", weights=path)
    assert by_path.published_name == "resnet18_el.imagenette"
    published = evaluate_module.preprocessing_of("resnet18_el.imagenette")
    assert evaluate_module._model_preprocessing(by_path) == \
        {**published, "class_names": list(published["class_names"])}


def test_a_published_model_trained_in_place_no_longer_gets_the_published_classes(
        image_paths, data_dir):
    # fit in place on other classes (the head kept its shape) kept the published names: a
    # flower was printed as an "airplane", and evaluate matched folders to CIFAR-10's names
    model = el_zoo.load(PUBLISHED)
    stem, published_stem = model.get_layer("stem_conv"), model.get_layer("stem_conv").get_weights()
    stem.set_weights([w * 1.5 for w in published_stem])  # the backbone trained, not the head
    assert el_zoo.predict(model, image_paths[0])[0][0][0] in CIFAR10
    stem.set_weights(published_stem)
    head = model.get_layer("predictions")
    kernel, bias = head.get_weights()
    head.set_weights([kernel[:, ::-1], bias[::-1]])  # what training on other classes leaves
    with pytest.warns(UserWarning, match=TRAINED):
        rows = el_zoo.predict(model, image_paths, top=10)
    assert all(sorted(name for name, _ in row) == sorted(map(str, range(10))) for row in rows)
    assert el_zoo.predict(model, image_paths[0], top=1, class_names=CIFAR10[::-1])[0][0][0] \
        == el_zoo.predict(PUBLISHED, image_paths[0], top=1)[0][0][0]
    with pytest.warns(UserWarning, match=TRAINED), \
            pytest.raises(ValueError, match="evaluate needs dataset= and split="):
        el_zoo.evaluate(model, data_dir=data_dir, limit=8)


def test_a_model_loaded_from_weights_saved_with_class_names_is_named_by_them(
        model, image_paths, tmp_path):
    # el-zoo train saves them: its weights loaded with el_zoo.load were numbered '2', '0', ...
    config = {"input_shape": (32, 32, 3), "stem": "cifar", "width_multiplier": PUBLISHED_WIDTH}
    shouted = [name.upper() for name in CIFAR10]
    el_zoo.save_weights(model, tmp_path / "named.h5", class_names=shouted)
    named = el_zoo.load("resnet26_el", weights=str(tmp_path / "named.h5"), **config)
    assert named.class_names == tuple(shouted) and not hasattr(named, "published_name")
    assert [[n.lower() for n, _ in row] for row in el_zoo.predict(named, image_paths)] == \
        [[n for n, _ in row] for row in el_zoo.predict(model, image_paths)]
    el_zoo.save_weights(model, tmp_path / "default.h5")  # the names el_zoo.load gave it
    assert el_zoo.load("resnet26_el", weights=str(tmp_path / "default.h5"),
                       **config).class_names == tuple(CIFAR10)
    shutil.copyfile(pretrained.published_weights(PUBLISHED), tmp_path / "copy.h5")
    assert el_zoo.load("resnet26_el", weights=str(tmp_path / "copy.h5"),
                       classes=10, **config).class_names == tuple(CIFAR10)
    with pytest.raises(ValueError, match="2 class names for resnet26_el, which has 10 outputs"):
        el_zoo.save_weights(model, tmp_path / "wrong.h5", class_names=["cat", "dog"])
    with pytest.raises(ValueError, match="class names must be a list of names; got the string "
                                         "'airplanes!'"):  # ten letters, ten "names"
        el_zoo.save_weights(model, tmp_path / "wrong.h5", class_names="airplanes!")
    assert not (tmp_path / "wrong.h5").exists()


def test_a_model_loaded_from_a_tag_still_saves_and_reloads(model, tmp_path, image_paths):
    import tensorflow as tf

    model.save(tmp_path / "model.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "model.keras")
    x = data.read_image(image_paths[0])[None].astype(np.float32)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


def saved_and_reloaded(model, how, folder):
    """``model`` saved whole with ``model.save`` and reloaded (``how``: "keras", "h5"), or
    rebuilt from its layers ("rebuilt")."""
    if how == "rebuilt":
        return el_zoo.keras.Model(model.inputs, model.outputs)
    model.save(folder / f"model.{how}")
    return el_zoo.keras.models.load_model(folder / f"model.{how}")


@pytest.fixture(scope="module")
def imagenette():
    return el_zoo.load("resnet18_el.imagenette")


@pytest.mark.parametrize("how", ["keras", "h5", "rebuilt"])
def test_a_published_model_saved_whole_or_rebuilt_is_named_and_preprocessed_as_its_tag(
        imagenette, how, image_paths, tmp_path):
    # it no longer knew its tag: its classes were numbered, and resnet18_el.imagenette's
    # images were decoded at 128 instead of 146 with a centre crop of 128
    again = saved_and_reloaded(imagenette, how, tmp_path)
    published = evaluate_module.preprocessing_of("resnet18_el.imagenette")
    assert evaluate_module._model_preprocessing(again) == \
        {**published, "class_names": list(published["class_names"])}
    assert el_zoo.predict(again, image_paths, top=3) == \
        el_zoo.predict(imagenette, image_paths, top=3)


@pytest.mark.parametrize("how", ["keras", "h5"])
def test_a_published_model_saved_whole_is_evaluated_as_its_tag(model, how, tmp_path, data_dir):
    # evaluate asked for dataset= and split=, and its save_weights kept no configuration
    again = saved_and_reloaded(model, how, tmp_path)
    scored, expected = (el_zoo.evaluate(m, data_dir=data_dir, limit=8) for m in (again, model))
    assert {**scored, "seconds": None} == {**expected, "seconds": None}
    assert scored["dataset"] == "cifar10"
    assert built_config(again) == built_config(model)


def test_a_model_file_saved_without_the_record_loads_as_before(model, image_paths, tmp_path):
    # files saved before el_zoo kept its record in the input layer's config, from Keras'
    # HDF5 format: the same model, numbered, el_zoo's configuration unknown
    import h5py

    model.save(tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r+") as f:
        config = json.loads(f.attrs["model_config"])
        records = [layer["config"].pop("el_zoo_record", None)
                   for layer in config["config"]["layers"]]
        f.attrs["model_config"] = json.dumps(config)
    assert sum(record is not None for record in records) == 1
    old = el_zoo.keras.models.load_model(tmp_path / "old.h5")
    assert built_config(old) is None and class_names_of(old) is None
    rows = el_zoo.predict(old, image_paths, top=10)
    assert all(sorted(name for name, _ in row) == sorted(map(str, range(10))) for row in rows)


def test_a_published_model_trained_in_place_and_reloaded_is_numbered_with_a_warning(
        image_paths, tmp_path):
    # the fingerprint of the classifier its names were recorded for is saved with them
    trained = el_zoo.load(PUBLISHED)
    head = trained.get_layer("predictions")
    kernel, bias = head.get_weights()
    head.set_weights([kernel[:, ::-1], bias[::-1]])  # what training on other classes leaves
    again = saved_and_reloaded(trained, "keras", tmp_path)
    assert class_names_of(again) is None
    with pytest.warns(UserWarning, match=TRAINED):
        rows = el_zoo.predict(again, image_paths, top=10)
    assert all(sorted(name for name, _ in row) == sorted(map(str, range(10))) for row in rows)


@pytest.mark.parametrize("include_top", [False, True])
def test_a_published_backbone_under_a_new_head_saved_and_reloaded_keeps_only_its_decode_size(
        include_top, tmp_path):
    # reloaded, it was decoded at 128; the class names and data set of the published model
    # called as a layer (include_top=True: its head too) are not the new head's
    backbone = el_zoo.load("resnet18_el.imagenette", include_top=include_top, pooling="avg")
    inputs = el_zoo.keras.Input((128, 128, 3))
    tuned = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(3)(backbone(inputs)))
    again = saved_and_reloaded(tuned, "keras", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning about the published model's names
        assert evaluate_module._model_preprocessing(again) == {
            "dataset": None, "split": None, "resize": 146, "crop": 128, "class_names": None}


@pytest.mark.parametrize("include_top", [True, False])
def test_a_new_head_on_the_layers_of_a_published_model_is_another_model(include_top):
    # it shares the published model's input layer, which carries the record a saved model
    # keeps: that record names the published model's outputs, so this model is neither
    # named nor preprocessed as resnet26_el.cifar10, nor refused as its backbone
    published = el_zoo.load(PUBLISHED, include_top=include_top, pooling="avg")
    features = published.get_layer("avg_pool").output
    extended = el_zoo.keras.Model(published.input, el_zoo.keras.layers.Dense(3)(features))
    assert built_config(extended) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate_module._model_preprocessing(extended) == {
            "dataset": None, "split": None, "resize": 32, "crop": None, "class_names": None}


def test_a_new_head_named_as_the_published_models_own_is_another_model():
    # the same output name, 3 classes instead of 10: it was taken for resnet26_el.cifar10,
    # recorded with 10 classes (el_zoo.save_weights wrote classes=10, refused on loading) and
    # warned of as a head "trained since el_zoo.load recorded its class names"
    published = el_zoo.load(PUBLISHED)
    logits = el_zoo.keras.layers.Dense(3, name="predictions")(
        published.get_layer("avg_pool").output)
    scores = el_zoo.keras.layers.Activation("softmax", name="probabilities")(logits)
    extended = el_zoo.keras.Model(published.input, scores)
    assert extended.output_names == published.output_names
    assert built_config(extended) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate_module._model_preprocessing(extended) == {
            "dataset": None, "split": None, "resize": 32, "crop": None, "class_names": None}


@pytest.mark.parametrize("top", [0, -2, 11, True, 2.0])
def test_predict_top_must_be_between_one_and_the_classes(model, image_paths, top):
    with pytest.raises(ValueError, match=rf"top must be a whole number from 1 to 10 "
                                         rf"\(the model's classes\); got {top!r}\."):
        el_zoo.predict(model, image_paths, top=top)


def test_predict_cli_refuses_top_zero(image_paths, capsys):
    # the command line refuses it while parsing; --top above the classes is the library's
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", PUBLISHED, str(image_paths[0]), "--top", "0"])
    assert exit_info.value.code == 2
    assert "el-zoo predict: error: argument --top: must be a whole number above 0; got '0'" \
        in capsys.readouterr().err
    assert main(["predict", PUBLISHED, str(image_paths[0]), "--top", "11"]) == 2
    assert "el-zoo predict: error: top must be a whole number from 1 to 10" in \
        capsys.readouterr().err


def test_predict_needs_an_image(model):
    with pytest.raises(ValueError, match="predict needs at least one image file"):
        el_zoo.predict(model, [])


def test_evaluate_and_predict_refuse_a_backbone(test_images, image_paths, data_dir):
    # its features' arg-max was scored as a class (top-1 0 %), feature indices as classes
    backbone = el_zoo.load(PUBLISHED, include_top=False, pooling="avg")
    refused = r"needs a classifier, but resnet26_el was built with include_top=False: its " \
              r"\d+ outputs are features, not class scores"
    with pytest.raises(ValueError, match="evaluate " + refused):
        el_zoo.evaluate(backbone, dataset="cifar10", split="test", data_dir=data_dir, limit=8)
    with pytest.raises(ValueError, match="predict " + refused):
        el_zoo.predict(backbone, image_paths)
    rebuilt = el_zoo.keras.Model(backbone.inputs, backbone.outputs)  # it keeps its record
    with pytest.raises(ValueError, match=r"predict needs a classifier, but model\w* was built "
                                         r"with include_top=False"):
        el_zoo.predict(rebuilt, image_paths)
    feature_map = el_zoo.load(PUBLISHED, include_top=False)  # pooling=None: (batch, h, w, c)
    unknown = el_zoo.keras.layers.Activation("linear")(feature_map.output)  # not el_zoo's
    with pytest.raises(ValueError, match=r"one output of shape \(batch, classes\)"):
        el_zoo.evaluate(el_zoo.keras.Model(feature_map.inputs, unknown),
                        dataset="cifar10", split="test", data_dir=data_dir, limit=8)


def test_predict_gives_probabilities_of_a_model_with_a_linear_head(model, image_paths):
    # classifier_activation=None: its logits were given as probabilities (5.89: "589.5%")
    logits = el_zoo.load(PUBLISHED, classifier_activation=None)
    for row, expected in zip(el_zoo.predict(logits, image_paths),
                             el_zoo.predict(model, image_paths)):
        assert [name for name, _ in row] == [name for name, _ in expected]
        np.testing.assert_allclose([p for _, p in row], [p for _, p in expected], atol=1e-5)
    relu = el_zoo.load(PUBLISHED, classifier_activation="relu")
    with pytest.raises(ValueError, match="predict reports probabilities, but resnet26_el's "
                                         "outputs are not"):
        el_zoo.predict(relu, image_paths)


def test_evaluate_needs_class_names_to_score_some_classes_of_an_unnamed_model(
        model, test_images, tmp_path):
    # a model whose class names el_zoo does not know (no published head): a folder with
    # only cat/ and dog/ was scored as classes 0 and 1 (airplane, automobile) by position
    unnamed = el_zoo.load("resnet26_el", **{**SMALL, "width_multiplier": PUBLISHED_WIDTH})
    unnamed.set_weights(model.get_weights())  # the same outputs; no names recorded
    images, labels = test_images
    keep = np.isin(labels, [CIFAR10.index("cat"), CIFAR10.index("dog")])
    root = write_image_folder(tmp_path / "data", images[keep], labels[keep], CIFAR10)
    split = {"dataset": "cifar10", "split": "test", "data_dir": root}
    with pytest.raises(ValueError, match=r"cifar10/test has 2 class folders but the model has "
                                         r"10 classes, and its class names are not known.*"
                                         r"Pass class_names="):
        el_zoo.evaluate(unnamed, **split)
    predicted = model.predict(images[keep].astype(np.float32), verbose=0).argmax(-1)
    named = el_zoo.evaluate(unnamed, class_names=CIFAR10, **split)
    assert named["top1"] == float(np.mean(predicted == labels[keep])) >= 0.5
    with pytest.raises(ValueError, match="2 class names for resnet26_el, which has 10 outputs"):
        el_zoo.evaluate(unnamed, class_names=["cat", "dog"], **split)
    with pytest.raises(ValueError, match="class names must be a list of names; got the string"):
        el_zoo.evaluate(unnamed, class_names="airplanes!", **split)


@pytest.mark.parametrize("sizes, message", [
    ({"resize": 64}, r"resnet26_el takes 32x32 images but resize=64, crop=None give 64x64"),
    ({"resize": 32, "crop": 40}, r"crop=40 is larger than resize=32"),
    ({"crop": 24}, r"resnet26_el takes 32x32 images but resize=32, crop=24 give 24x24"),
])
def test_evaluate_refuses_sizes_that_do_not_give_the_models_input(sizes, message, monkeypatch):
    # these failed only after the split was decoded, in TensorFlow's crop or Keras' input
    # check, each with a trace of TensorFlow's graph
    def no_data(*args, **kwargs):
        raise AssertionError("the data were loaded before the sizes were checked")

    monkeypatch.setattr(data, "load_split", no_data)
    with pytest.raises(ValueError, match=message):
        el_zoo.evaluate(PUBLISHED, **sizes)


def test_evaluate_and_predict_of_a_model_of_any_input_size_say_what_to_pass(
        model, test_images, image_paths, data_dir):
    # a backbone built for any size under a new head: both failed with KeyError: 'resize'
    backbone = el_zoo.load(PUBLISHED, include_top=False, pooling="avg",
                           input_shape=(None, None, 3))
    inputs = el_zoo.keras.Input((None, None, 3))
    head = model.get_layer("predictions")  # the published classifier, on the pooled features
    any_size = el_zoo.keras.Model(inputs, head(backbone(inputs, training=False)))
    message = r"{} resizes images to the model's input size, but .* takes images of any " \
              r"size \(input shape \(None, None, None, 3\)\): {}"
    with pytest.raises(ValueError, match=message.format("evaluate", r"pass resize= \(and crop=\)")):
        el_zoo.evaluate(any_size, dataset="cifar10", split="test", data_dir=data_dir, limit=8)
    with pytest.raises(ValueError, match=message.format("predict", "call model.predict")):
        el_zoo.predict(any_size, image_paths)
    images, labels = test_images
    resized = el_zoo.evaluate(any_size, dataset="cifar10", split="test", data_dir=data_dir,
                              limit=40, resize=32, class_names=CIFAR10)
    expected = model.predict(images.astype(np.float32), verbose=0).argmax(-1)
    assert resized["top1"] == float(np.mean(expected == labels))


def test_a_published_backbone_under_a_new_head_keeps_its_decode_size_and_crop():
    # resnet18_el.imagenette is decoded at 146 and centre-cropped to 128; under a new head
    # its images were squashed to 128, a preprocessing it never saw
    backbone = el_zoo.load("resnet18_el.imagenette", include_top=False, pooling="avg")
    inputs = el_zoo.keras.Input((128, 128, 3))
    tuned = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(3)(backbone(inputs)))
    assert evaluate_module._model_preprocessing(tuned) == {
        "dataset": None, "split": None, "resize": 146, "crop": 128, "class_names": None}
    inputs = el_zoo.keras.Input((96, 96, 3))  # another size: its own, as for any model
    smaller = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(3)(
        el_zoo.load("resnet18_el.imagenette", include_top=False, pooling="avg",
                    input_shape=(96, 96, 3))(inputs)))
    assert evaluate_module._model_preprocessing(smaller)["resize"] == 96
    assert evaluate_module._model_preprocessing(smaller)["crop"] is None


@pytest.mark.parametrize("include_top", [True, False])
def test_published_weights_saved_with_save_weights_and_reloaded_keep_their_decode_size(
        imagenette, include_top, tmp_path):
    # el_zoo.save_weights kept the configuration but not where the weights came from: the
    # reloaded resnet18_el.imagenette was fed images squashed to 128 instead of decoded at
    # 146 and centre-cropped to 128 (top-1 82.5 % instead of 85.0 % on evaluate's limit=400
    # validation images), and a new head on its reloaded backbone too
    model = imagenette if include_top else \
        el_zoo.load("resnet18_el.imagenette", include_top=False, pooling="avg")
    el_zoo.save_weights(model, tmp_path / "weights.h5")
    again = el_zoo.load("resnet18_el", weights=str(tmp_path / "weights.h5"),
                        include_top=include_top, pooling="avg")
    assert again.published_weights == "resnet18_el.imagenette"
    assert not hasattr(again, "published_name")  # the weights' origin, not the tag
    if not include_top:
        inputs = el_zoo.keras.Input((128, 128, 3))
        again = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(3)(again(inputs)))
    preprocessing = evaluate_module._model_preprocessing(again)
    assert (preprocessing["resize"], preprocessing["crop"]) == (146, 128)


def test_a_published_model_saved_whole_and_loaded_as_weights_keeps_its_origin_and_classes(
        imagenette, tmp_path):
    # a whole-model .h5 given as weights was built with the configuration recorded in it,
    # but without the rest of that record: resnet18_el.imagenette saved whole and loaded so
    # was fed images squashed to 128, not decoded at 146 and centre-cropped, its classes
    # numbered
    import h5py

    imagenette.save(tmp_path / "model.h5")
    again = el_zoo.load("resnet18_el", weights=str(tmp_path / "model.h5"))
    assert again.published_weights == "resnet18_el.imagenette"
    assert not hasattr(again, "published_name")  # the weights' origin, not the tag
    preprocessing = evaluate_module._model_preprocessing(again)
    assert (preprocessing["resize"], preprocessing["crop"]) == (146, 128)
    assert class_names_of(again) == class_names_of(imagenette)
    with h5py.File(tmp_path / "model.h5", "r+") as f:  # its head trained since it was named
        f["model_weights/predictions/predictions/bias:0"][0] += 1.0
    assert class_names_of(el_zoo.load("resnet18_el", weights=str(tmp_path / "model.h5"))) \
        is None


def test_a_saved_weights_origin_that_is_not_published_for_the_model_is_left_out(
        model, tmp_path):
    import h5py

    path = tmp_path / "weights.h5"
    el_zoo.save_weights(model, path)
    for origin in ("resnet26_el.imagenet", "resnet18_el.imagenette", "../x.h5"):
        with h5py.File(path, "r+") as f:
            f.attrs["el_zoo_published_weights"] = json.dumps(origin)
        assert not hasattr(el_zoo.load("resnet26_el", weights=str(path)), "published_weights")


@pytest.mark.parametrize("shape", [(32, 48, 3), (48, 32, 3)])
def test_evaluate_and_predict_refuse_a_model_of_non_square_input(shape, image_paths,
                                                                 monkeypatch):
    # images are decoded to squares: predict fed 32x32 images to a 32x48 model (Keras'
    # input error in a trace of its graph); evaluate's error asked for a square crop
    def no_data(*args, **kwargs):
        raise AssertionError("the data were loaded before the input shape was checked")

    monkeypatch.setattr(data, "load_split", no_data)
    model = el_zoo.load("resnet18_el", **{**SMALL, "input_shape": shape})
    height, width = shape[:2]
    message = rf"{{}} decodes images to squares, but resnet18_el takes {height}x{width} " \
              r"images \(input shape .*\): build it with a square input_shape=\(S, S, 3\)"
    with pytest.raises(ValueError, match=message.format("evaluate")):
        el_zoo.evaluate(model, dataset="cifar10", split="test", limit=8)
    with pytest.raises(ValueError, match=message.format("predict")):
        el_zoo.predict(model, image_paths, class_names=CIFAR10)


def test_predict_lists_every_class_of_a_model_with_fewer_than_five(image_paths):
    # the default top=5 refused a model of 3 classes ("top must be ... from 1 to 3; got 5")
    model = el_zoo.load("resnet18_el", **{**SMALL, "classes": 3})
    rows = el_zoo.predict(model, image_paths, class_names=["a", "b", "c"])
    assert [sorted(name for name, _ in row) for row in rows] == [["a", "b", "c"]] * 3
    assert [len(row) for row in el_zoo.predict(PUBLISHED, image_paths)] == [5] * 3


def _binary_classifier(activation, images, logits):
    """A seeded ``resnet18_el`` backbone (``SMALL``) under ``Dense(1, activation=activation)``
    (a sigmoid's probability, or with None a logit; "tf.nn.sigmoid(x)": that op on
    ``Dense(1)``'s logit), as one fine-tunes in Keras, the head fitted (least squares on the
    backbone's features) so that its logit on ``images[i]`` is about ``logits[i]``: the
    decisions a test wants, none near the threshold."""
    backbone = small_backbone()
    inputs = el_zoo.keras.Input((32, 32, 3))
    features = backbone(inputs, training=False)
    op = activation == "tf.nn.sigmoid(x)"  # Keras keeps the op as a TFOpLambda layer
    head = el_zoo.keras.layers.Dense(1, activation=None if op else activation)
    outputs = tf.nn.sigmoid(head(features)) if op else head(features)
    model = el_zoo.keras.Model(inputs, outputs, name="binary")
    pooled = el_zoo.keras.Model(inputs, features).predict(images.astype(np.float32), verbose=0)
    design = np.c_[pooled, np.ones(len(pooled))].astype(np.float64)  # kernel, then bias
    fitted = np.linalg.lstsq(design, np.asarray(logits, np.float64), rcond=None)[0]
    np.testing.assert_allclose(design @ fitted, logits, atol=0.1)  # features that differ
    head.set_weights([fitted[:-1, None].astype(np.float32), fitted[-1:].astype(np.float32)])
    return model


@pytest.mark.parametrize("activation, threshold", [("sigmoid", 0.5), (None, 0.0),
                                                   ("tf.nn.sigmoid(x)", 0.5)])
def test_predict_gives_a_binary_classifiers_two_classes(activation, threshold, test_images,
                                                        image_paths):
    # before: refused, "predict needs one score per class, but M has a single output";
    # earlier, a logit was printed as class 0 at 100 % (the softmax of one score). The op
    # tf.nn.sigmoid(x) was refused still: "its last layer 'tf.math.sigmoid' has no activation"
    images = test_images[0][:len(image_paths)]
    model = _binary_classifier(activation, images, [2.0, -2.0, 1.0])
    outputs = model.predict(images.astype(np.float32), verbose=0)[:, 0]
    positive = outputs if threshold else 1 / (1 + np.exp(-outputs.astype(np.float64)))
    rows = el_zoo.predict(model, image_paths, class_names=["cat", "dog"])
    for row, p in zip(rows, positive):
        assert sorted(name for name, _ in row) == ["cat", "dog"]
        assert row[0][0] == ("dog" if p > 0.5 else "cat")  # most likely first
        np.testing.assert_allclose(dict(row)["dog"], p, atol=1e-6)
        np.testing.assert_allclose(dict(row)["cat"], 1 - p, atol=1e-6)
    assert {p > 0.5 for p in positive} == {True, False}  # both classes were listed first
    unnamed = el_zoo.predict(model, image_paths, top=1)  # numbered as other models' classes
    assert [row[0][0] for row in unnamed] == ["1" if p > 0.5 else "0" for p in positive]


@pytest.mark.parametrize("activation, threshold", [("sigmoid", 0.5), (None, 0.0)])
def test_evaluate_scores_a_binary_classifiers_decisions(activation, threshold, test_images,
                                                        tmp_path):
    # before: refused, "evaluate needs one score per class, but M has a single output"
    images, labels = test_images
    keep = np.isin(labels, [CIFAR10.index("cat"), CIFAR10.index("dog")])
    is_dog = labels[keep] == CIFAR10.index("dog")  # Keras' label 1: the second folder, sorted
    wanted = np.where(is_dog, 2.0, -2.0)
    wanted[np.flatnonzero(is_dog)[0]] = -2.0  # a dog taken for a cat
    model = _binary_classifier(activation, images[keep], wanted)
    root = write_image_folder(tmp_path / "data", images[keep], labels[keep], CIFAR10)
    decisions = model.predict(images[keep].astype(np.float32), verbose=0)[:, 0] > threshold
    expected = float(np.mean(decisions == is_dog))
    assert 0.5 < expected < 1  # the fitted head: not every decision right, most of them
    split = {"dataset": "cifar10", "split": "test", "data_dir": root}
    named = el_zoo.evaluate(model, class_names=["cat", "dog"], predictions=True, **split)
    assert named["images"] == 8 and named["top1"] == expected and named["top5"] == 1.0
    # in load_split's order: the classes taken in turn (cat/, dog/, cat/, ...), four each
    order = np.stack([np.flatnonzero(~is_dog), np.flatnonzero(is_dog)], axis=-1).ravel()
    assert named["predictions"].tolist() == decisions[order].astype(int).tolist()
    assert el_zoo.evaluate(model, **split)["top1"] == expected  # folders in sorted order
    swapped = el_zoo.evaluate(model, class_names=["dog", "cat"], **split)  # matched by name
    assert swapped["top1"] == 1 - expected


@pytest.mark.parametrize("last, says", [
    ("tanh", "last layer 'tanh_head' has activation 'tanh'"),
    ("Lambda", r"last layer 'doubled' has no activation \(Lambda\)")])
def test_evaluate_and_predict_refuse_a_single_output_of_unknown_activation(
        last, says, image_paths, monkeypatch):
    # a single output whose decision threshold el_zoo cannot tell; before, every single
    # output was refused, "needs one score per class ... give it a head of one output per
    # class (Dense(2) for two classes), or call model.predict and threshold its score"
    monkeypatch.setattr(data, "load_split", lambda *args, **kwargs: pytest.fail("decoded"))
    inputs = el_zoo.keras.Input((32, 32, 3))
    x = el_zoo.keras.layers.GlobalAveragePooling2D()(el_zoo.keras.layers.Conv2D(4, 3)(inputs))
    if last == "tanh":
        x = el_zoo.keras.layers.Dense(1, activation="tanh", name="tanh_head")(x)
    else:
        x = el_zoo.keras.layers.Lambda(lambda t: 2 * t, name="doubled")(
            el_zoo.keras.layers.Dense(1)(x))
    single = el_zoo.keras.Model(inputs, x, name="single")
    refused = rf"{{}} takes a single output as a binary classifier's score \(a logit, or a " \
              rf"sigmoid's probability\), but single's {says}, which tells neither: end it in " \
              r"Dense\(1\) or Dense\(1, activation='sigmoid'\), or give it a head of one " \
              r"output per class"
    with pytest.raises(ValueError, match=refused.format("predict")):
        el_zoo.predict(single, image_paths, class_names=["cat", "dog"])
    with pytest.raises(ValueError, match=refused.format("evaluate")):
        el_zoo.evaluate(single, dataset="cifar10", split="test", class_names=["cat", "dog"])


def test_a_binary_classifiers_class_names_are_two(image_paths, monkeypatch):
    # before: every single output was refused, whatever its class names
    monkeypatch.setattr(data, "load_split", lambda *args, **kwargs: pytest.fail("decoded"))
    backbone = small_backbone()
    inputs = el_zoo.keras.Input((32, 32, 3))
    binary = el_zoo.keras.Model(inputs, el_zoo.keras.layers.Dense(1, activation="sigmoid")(
        backbone(inputs)), name="binary")
    refused = r"binary has a single output \(a binary classifier: the score of its positive " \
              r"class\), so class_names takes two names, the negative class then the " \
              r"positive one, e\.g\. \['cat', 'dog'\]; got {}"
    with pytest.raises(ValueError, match=refused.format(r"1: \['dog'\]")):
        el_zoo.predict(binary, image_paths, class_names=["dog"])
    with pytest.raises(ValueError, match=refused.format(r"3: \['cat', 'dog', 'bird'\]")):
        el_zoo.evaluate(binary, dataset="cifar10", split="test",
                        class_names=["cat", "dog", "bird"])
    with pytest.raises(ValueError, match=r"top must be a whole number from 1 to 2"):
        el_zoo.predict(binary, image_paths, top=3)


def test_evaluate_leaves_out_unreadable_images_when_asked(test_images, tmp_path, monkeypatch,
                                                          capsys):
    # its error said "(pass --skip-bad-images to leave it out)", an option only el-zoo
    # train had
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    images, labels = test_images
    root = write_image_folder(tmp_path / "data", images[:4], labels[:4], CIFAR10)
    bad = root / "cifar10" / "test" / CIFAR10[labels[0]] / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"broken.png: .*\(pass --skip-bad-images to leave it"):
        el_zoo.evaluate(PUBLISHED, data_dir=root)
    with pytest.warns(UserWarning, match="skipping cannot read image .*broken.png"):
        assert el_zoo.evaluate(PUBLISHED, data_dir=root, skip_bad_images=True)["images"] == 4
    with pytest.warns(UserWarning, match="broken.png"):
        assert main(["evaluate", PUBLISHED, "--data-dir", str(root), "--skip-bad-images"]) == 0
    assert "on 4 images of cifar10 test" in capsys.readouterr().out


def test_a_model_takes_uint8_images_through_an_input_tensor(model, test_images):
    uint8 = el_zoo.load(PUBLISHED, input_tensor=el_zoo.keras.Input((32, 32, 3), dtype="uint8"))
    images = test_images[0][:4]
    assert np.array_equal(uint8.predict(images.astype(np.uint8), verbose=0),
                          model.predict(images.astype(np.float32), verbose=0))


def test_predict_of_an_image_array_says_it_takes_files(model, test_images):
    with pytest.raises(TypeError, match="predict takes image files \\(paths\\); got a ndarray"):
        el_zoo.predict(model, test_images[0][:2])


@pytest.mark.parametrize("paths", [b"images/cat.jpg", [b"images/cat.jpg"],
                                   bytearray(b"images/cat.jpg")])
def test_predict_of_bytes_names_them_and_says_to_give_a_str(model, paths):
    # a path as bytes (read from a binary file, a subprocess) was taken a byte at a time:
    # "predict takes image files (paths); got a int"
    with pytest.raises(TypeError, match=r"predict takes image files as paths \(str or "
                                        r"pathlib.Path\); got (bytes|bytearray) "
                                        r"b'images/cat.jpg': give a path as a str \(decode "
                                        r"it: path.decode\(\)\)"):
        el_zoo.predict(model, paths)


def head_on_backbone(*preprocessing, shape=(32, 32, 3), dtype="float32"):
    """A two-class head on a quarter-width resnet18_el backbone, called on the model's
    input through ``preprocessing`` layers, as Keras' transfer-learning guide writes it."""
    keras = el_zoo.keras
    backbone = small_backbone()
    backbone.trainable = False
    inputs = x = keras.Input(shape, dtype=dtype)
    for layer in preprocessing:
        x = layer(x)
    outputs = keras.layers.Dense(2, activation="softmax")(backbone(x, training=False))
    return keras.Model(inputs, outputs)


RESCALINGS = {
    "Rescaling(1/255)": lambda: el_zoo.keras.layers.Rescaling(1 / 255),
    "Rescaling to [-1, 1]": lambda: el_zoo.keras.layers.Rescaling(1 / 127.5, offset=-1),
    "preprocess_input": lambda: el_zoo.keras.layers.Lambda(
        el_zoo.keras.applications.resnet.preprocess_input),
    "Normalization": lambda: el_zoo.keras.layers.Normalization(mean=[120] * 3,
                                                               variance=[3600] * 3),
    "a model that takes [0, 1]": lambda: el_zoo.keras.layers.Rescaling(255),
    # each image standardised on its own, a CIFAR habit: both uniform images reach it as 0
    # (passed before, when any value near 0 or 255 counted as a pixel kept)
    "per_image_standardization": lambda: el_zoo.keras.layers.Lambda(
        tf.image.per_image_standardization),
    "255 - x": lambda: el_zoo.keras.layers.Lambda(lambda x: 255 - x),  # passed before too
    "Rescaling(0)": lambda: el_zoo.keras.layers.Rescaling(0),  # and this one
}


@pytest.mark.parametrize("rescaling", RESCALINGS.values(), ids=RESCALINGS)
def test_evaluate_and_predict_refuse_a_head_that_rescales_pixels_before_the_backbone(
        rescaling, image_paths, monkeypatch):
    # Keras' transfer-learning habit (Rescaling before the base model): the backbone, which
    # standardises [0, 255] pixels itself, saw nearly uniform images, and a head trained on
    # them scored 16 % instead of 69 % on CIFAR-10 test images, without a word
    monkeypatch.setattr(data, "load_split", lambda *args, **kwargs: pytest.fail("decoded"))
    model = head_on_backbone(rescaling())
    refused = r"{}: model.* rescales its input pixels before el_zoo's model 'resnet18_el', " \
              r"in layer\(s\) '\w+': pixels 0 and 255 reach it as .*Remove those layers"
    with pytest.raises(ValueError, match=refused.format("predict")):
        el_zoo.predict(model, image_paths, class_names=["cat", "dog"])
    with pytest.raises(ValueError, match=refused.format("evaluate")):
        el_zoo.evaluate(model, dataset="cifar10", split="test", class_names=["cat", "dog"])
    inputs = el_zoo.keras.Input((32, 32, 3))  # the same model inside another one
    with pytest.raises(ValueError, match=refused.format("predict")):
        el_zoo.predict(el_zoo.keras.Model(inputs, model(inputs)), image_paths)


def test_layers_that_keep_pixels_as_they_are_may_come_before_the_backbone(image_paths):
    keras = el_zoo.keras
    kept = [head_on_backbone(),
            head_on_backbone(keras.layers.RandomFlip(), keras.layers.RandomRotation(0.1)),
            head_on_backbone(keras.layers.Resizing(32, 32), shape=(48, 48, 3)),
            head_on_backbone(dtype="uint8"),
            keras.Sequential([head_on_backbone().layers[1], keras.layers.Dense(2)])]
    for model in kept:
        assert len(el_zoo.predict(model, image_paths[:1])[0]) == 2


def test_padding_before_the_backbone_keeps_pixels_and_passes_the_probe(image_paths):
    # padding adds pixels 0 around the image of 255s: refused as rescaling ("pixels 0 and 255
    # reach it as 0 and 195.2") while the probe's images had to arrive uniform
    keras = el_zoo.keras
    padded = head_on_backbone(keras.layers.ZeroPadding2D(2), shape=(28, 28, 3))
    assert len(el_zoo.predict(padded, image_paths[:1])[0]) == 2
    letterboxed = head_on_backbone(keras.layers.Lambda(  # predict takes squares only
        lambda x: tf.image.resize_with_pad(x, 32, 32)), shape=(16, 32, 3))
    check_pixels_reach_standardize(letterboxed, "predict")
    rescaled = head_on_backbone(keras.layers.ZeroPadding2D(2), keras.layers.Rescaling(1 / 255),
                                shape=(28, 28, 3))  # padded, then rescaled: still refused
    with pytest.raises(ValueError, match=r"predict: .* rescales its input pixels .*in "
                                         r"layer\(s\) 'zero_padding2d\w*', 'rescaling"):
        el_zoo.predict(rescaled, image_paths[:1])


@pytest.mark.parametrize("include_top", [True, False])
def test_a_new_head_on_the_layers_of_a_published_backbone_keeps_its_decode_size_and_crop(
        include_top, tmp_path):
    # keras.applications' idiom, keras.Model(base.input, Dense(n)(base.output)): its images
    # were squashed to 128, where the same head called on the backbone as a layer got them
    # decoded at 146 and centre-cropped to 128 (a copy of the published head scored 82.5 %
    # instead of 85.0 % on evaluate's limit=400 validation images)
    published = el_zoo.load("resnet18_el.imagenette", include_top=include_top, pooling="avg")
    features = published.get_layer("avg_pool").output
    extended = el_zoo.keras.Model(published.input, el_zoo.keras.layers.Dense(3)(features))
    expected = {"dataset": None, "split": None, "resize": 146, "crop": 128, "class_names": None}
    again = saved_and_reloaded(extended, "keras", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning about the published model's names
        assert evaluate_module._model_preprocessing(extended) == expected
        assert evaluate_module._model_preprocessing(again) == expected
    assert built_config(extended) is None and class_names_of(extended) is None


def test_a_model_built_on_an_input_tensor_of_rescaled_pixels_is_refused(image_paths):
    # keras.applications' input_tensor= idiom: el_zoo.load(TAG, input_tensor=Rescaling(1/255)
    # (inputs)) was recorded, named and scored as the published model, on [0, 1] pixels
    inputs = el_zoo.keras.Input((32, 32, 3))
    model = el_zoo.load(PUBLISHED, input_tensor=el_zoo.keras.layers.Rescaling(1 / 255)(inputs))
    with pytest.raises(ValueError, match=r"predict: resnet26_el rescales its input pixels "
                                         r"before el_zoo's layer 'standardize', in layer\(s\) "
                                         r"'rescaling\w*': pixels 0 and 255 reach it as 0 and 1"):
        el_zoo.predict(model, image_paths)


def subclassed_head_as(form, preprocess):
    """``SubclassedHead`` (or ``head``, a subclass) with ``preprocess()`` in ``form``:
    "subclassed", called on ``keras.Input`` (its shapes, which predict reads); "wrapped",
    inside a ``Sequential``. Returns the model and the name of the one whose call()
    preprocesses."""
    keras = el_zoo.keras
    if form == "subclassed":
        model = SubclassedHead(small_backbone(), preprocess(), name="subclassed")
        model(keras.Input((32, 32, 3)))
        return model, "subclassed"
    inner = SubclassedHead(small_backbone(), preprocess(), name="inner")
    return keras.Sequential([keras.Input((32, 32, 3)), inner], name="wrapped"), "inner"


# What a call() does to the pixels before the backbone, and what pixels 0 and 255 reach it as
CALL_RESCALINGS = {
    "x / 255": (lambda: lambda x: x / 255.0, "0 and 1"),
    "Rescaling(1/255) as an attribute": (lambda: el_zoo.keras.layers.Rescaling(1 / 255),
                                         "0 and 1"),
    # both images reach it as 0 (passed before, when any value near 0 or 255 counted)
    "per_image_standardization": (lambda: tf.image.per_image_standardization, "0 and 0"),
}


@pytest.mark.parametrize("preprocess, reached", CALL_RESCALINGS.values(), ids=CALL_RESCALINGS)
def test_evaluate_and_predict_refuse_a_subclassed_model_that_rescales_pixels_in_its_call(
        preprocess, reached, image_paths, monkeypatch):
    # its call() fed the backbone [0, 1] pixels, which no graph shows: scored without a word
    monkeypatch.setattr(data, "load_split", lambda *args, **kwargs: pytest.fail("decoded"))
    refused = r"{}: {} rescales its input pixels before el_zoo's model 'resnet18_el', in " \
              r"the call\(\) of '{}': pixels 0 and 255 reach it as {}\. .*Remove that " \
              r"rescaling \(no x / 255, Rescaling\(1/255\) nor preprocess_input"
    for form in ("subclassed", "wrapped"):
        model, code = subclassed_head_as(form, preprocess)
        with pytest.raises(ValueError, match=refused.format("predict", form, code, reached)):
            el_zoo.predict(model, image_paths, class_names=["cat", "dog"])
        with pytest.raises(ValueError, match=refused.format("evaluate", form, code, reached)):
            el_zoo.evaluate(model, dataset="cifar10", split="test", class_names=["cat", "dog"])


class TracedHead(SubclassedHead):
    """``SubclassedHead`` whose call() is a ``tf.function`` of its own, as one writes it
    for speed."""

    @tf.function
    def call(self, images, training=None):
        return SubclassedHead.call(self, images, training)


def test_predict_refuses_a_subclassed_model_whose_traced_call_rescales_pixels(image_paths):
    # a traced call() gives the probe's hook tensors without values: nothing was recorded,
    # which passed (and a trace made before the probe would not even run the hook)
    model = TracedHead(small_backbone(), lambda x: x / 255.0, name="traced")
    model(el_zoo.keras.Input((32, 32, 3)))
    with pytest.raises(ValueError, match=r"predict: traced rescales its input pixels before "
                                         r"el_zoo's model 'resnet18_el', in the call\(\) of "
                                         r"'traced': pixels 0 and 255 reach it as 0 and 1\."):
        el_zoo.predict(model, image_paths, class_names=["cat", "dog"])
    assert not tf.config.functions_run_eagerly()  # as it was


@pytest.mark.parametrize("preprocess, form", [(lambda: None, "subclassed"),
                                              (el_zoo.keras.layers.RandomFlip, "wrapped")],
                         ids=["as it is", "RandomFlip in a Sequential"])
def test_a_subclassed_model_that_keeps_pixels_as_they_are_is_used(preprocess, form,
                                                                  image_paths):
    model, _ = subclassed_head_as(form, preprocess)
    rows = el_zoo.predict(model, image_paths, class_names=["cat", "dog"])
    assert [sorted(name for name, _ in row) for row in rows] == [["cat", "dog"]] * 3


def test_predict_gives_probabilities_of_a_linear_head_nested_in_another_model(model,
                                                                               image_paths):
    # the last of model.layers was the nested model, of no activation: refused, "predict
    # reports probabilities, but sequential's outputs are not ... or a linear one"
    logits = el_zoo.load(PUBLISHED, classifier_activation=None)
    inputs = el_zoo.keras.Input((32, 32, 3))
    expected = el_zoo.predict(model, image_paths)
    for nested in (el_zoo.keras.Sequential([logits]),
                   el_zoo.keras.Model(inputs, logits(inputs))):
        rows = el_zoo.predict(nested, image_paths, class_names=CIFAR10)
        for row, want in zip(rows, expected):
            assert [name for name, _ in row] == [name for name, _ in want]
            np.testing.assert_allclose([p for _, p in row], [p for _, p in want], atol=1e-5)


def test_predict_reads_the_output_layers_activation_not_the_last_listed(test_images,
                                                                       image_paths):
    # a Dense called twice, around a softmax: Keras lists it by its call farthest from the
    # output, before the softmax, and its logits were printed as probabilities, the softmax's
    keras = el_zoo.keras
    inputs = keras.Input((32, 32, 3))
    mix = keras.layers.Dense(3)
    softmax = keras.layers.Activation("softmax")
    outputs = mix(softmax(mix(keras.layers.GlobalAveragePooling2D()(inputs))))
    model = keras.Model(inputs, outputs)
    assert model.layers[-1] is softmax
    logits = model.predict(test_images[0][:len(image_paths)].astype(np.float32), verbose=0)
    exp = np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True))
    expected = exp / exp.sum(-1, keepdims=True)
    for row, want in zip(el_zoo.predict(model, image_paths, class_names=["a", "b", "c"]),
                         expected):
        np.testing.assert_allclose([dict(row)[name] for name in "abc"], want, atol=1e-6)
