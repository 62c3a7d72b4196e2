"""Names, tags and weight files: what load() accepts and the errors it gives."""

import functools
import json
import re
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import el_zoo
from el_zoo import builder, hub, pretrained
from el_zoo.cli import main
from el_zoo.model_record import built_config
from tests.conftest import SMALL, link_positions


def test_list_models_filters_by_pattern():
    assert el_zoo.list_models("*_el") == [
        "mobilenet_v1_el", "reactnet_a_el", "resnet18_el", "resnet26_el", "resnet26p_el",
        "resnet26s_el",
    ]
    assert el_zoo.list_models("resnet18*") == ["resnet18", "resnet18_el"]


def test_unknown_name_suggests_the_closest_registered_names():
    with pytest.raises(ValueError, match="Unknown model 'resnet28_el'. Did you mean resnet26_el"):
        el_zoo.load("resnet28_el")


@pytest.mark.parametrize("name, meant", [("ResNet18_EL.cifar10", "resnet18_el.cifar10"),
                                         ("RESNET26", "resnet26")])
def test_a_name_in_other_case_is_suggested_in_lower_case_not_taken(name, meant, capsys):
    # an all-caps name got no suggestion at all (the closest names by spelling missed it),
    # a mixed-case one only the model without its tag
    message = rf"Unknown model '{name.split('.')[0]}'. Did you mean '{meant}'\? Model names " \
              r"are lower case\."
    with pytest.raises(ValueError, match=message):
        el_zoo.load(name)
    assert main(["info", name]) == 2
    assert f"Did you mean '{meant}'? Model names are lower case." in capsys.readouterr().err


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="registered already"):
        el_zoo.register_model(el_zoo.registry.get_builder("resnet18"))


def test_unpublished_tag_is_a_clear_error():
    with pytest.raises(ValueError, match="no published weights 'mars' for resnet18"):
        el_zoo.load("resnet18.mars")


def test_tag_in_name_and_other_weights_is_an_error():
    with pytest.raises(ValueError, match="give the weights once"):
        el_zoo.load("resnet18.cifar10", weights="imagenette")


def test_missing_weights_path_is_an_error_never_a_random_init(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        el_zoo.load("resnet18", weights=str(tmp_path / "nope.h5"), **SMALL)


def saved_weights(tmp_path, name="resnet18_el", **overrides):
    """A SMALL model and its weights saved by Keras' ``model.save_weights`` (no config) as
    ``tmp_path / "weights.h5"``; a test that needs only the file takes ``weights_file``."""
    model = el_zoo.load(name, **{**SMALL, **overrides})
    path = tmp_path / "weights.h5"
    model.save_weights(str(path))
    return model, path


@functools.lru_cache(maxsize=None)
def _weights_bytes(name, overrides_json, with_config):
    """The bytes of ``weights_file``'s file, built and saved once per process."""
    model = el_zoo.load(name, **{**SMALL, **json.loads(overrides_json)})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.h5"
        if with_config:
            el_zoo.save_weights(model, path)
        else:
            model.save_weights(str(path))
        return path.read_bytes()


def weights_file(tmp_path, name="resnet18_el", with_config=False, **overrides):
    """The weights file ``saved_weights`` (``with_config``: ``saved_with_config``) writes
    for ``el_zoo.load(name, **SMALL, **overrides)``, at the same path in ``tmp_path``,
    without its model.

    Why: the tests of what loading a file accepts or refuses built a SMALL model only to
    save it (a build each); they read nothing of its weights' values, so its bytes are made
    once per process and written into each test's own folder (a test that changes its file
    changes its own copy). ``overrides`` are JSON values (e.g. an ``elastic_link`` dict).

    Example:
        ```python
        path = weights_file(tmp_path, name="resnet18")
        ```
    """
    path = tmp_path / (f"{name}.h5" if with_config else "weights.h5")
    path.write_bytes(_weights_bytes(name, json.dumps(overrides, sort_keys=True), with_config))
    return path


def test_weights_file_loads_into_the_same_architecture(tmp_path):
    model, path = saved_weights(tmp_path)
    loaded = el_zoo.load("resnet18_el", weights=str(path), **SMALL)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_backbone_loads_from_a_full_weights_file(tmp_path):
    model, path = saved_weights(tmp_path)
    backbone = el_zoo.load("resnet18_el", weights=str(path), include_top=False,
                           input_shape=(48, 48, 3), stem="cifar", width_multiplier=0.25)
    stem_kernel = backbone.get_layer("stem_conv").get_weights()[0]
    np.testing.assert_array_equal(stem_kernel, model.get_layer("stem_conv").get_weights()[0])


def test_classes_mismatch_with_top_weights_is_a_clear_error(tmp_path):
    path = weights_file(tmp_path)
    # Keras' own file: classes=10 alone would build mobilenet_v1_el's or reactnet_a_el's
    # imagenet stem, whose weights have the cifar stem's shapes, so the rest is named too
    with pytest.raises(ValueError, match=r"classifier of shape .* pass classes=10, or "
                                         r"include_top=False to load the backbone only. The "
                                         r"file records no el_zoo configuration .* pass the "
                                         r"stem, width_multiplier, input_shape and "
                                         r"elastic_link options"):
        el_zoo.load("resnet18_el", weights=str(path), **{**SMALL, "classes": 5})
    recorded = weights_file(tmp_path, with_config=True)  # one that records them: no more
    with pytest.raises(ValueError, match=r"classifier of shape .* pass classes=10, or "
                                         r"include_top=False to load the backbone only.$"):
        el_zoo.nets.resnet.resnet18_el(weights=str(recorded), **{**SMALL, "classes": 5})


def test_weights_of_another_width_are_a_clear_error(tmp_path):
    path = weights_file(tmp_path)
    with pytest.raises(ValueError, match="another width_multiplier or architecture"):
        el_zoo.load("resnet18_el", weights=str(path), **{**SMALL, "width_multiplier": 0.5})


def test_weights_of_another_architecture_are_a_clear_error(tmp_path):
    path = weights_file(tmp_path, name="resnet18")
    with pytest.raises(ValueError, match="has no weights for"):
        el_zoo.load("resnet18_el", weights=str(path), **SMALL)


def test_a_file_that_is_not_hdf5_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 weights file"):
        el_zoo.load("resnet18_el", weights=str(path), **SMALL)


def publish(tmp_path, model_path, name="resnet18_el.toy", config=None):
    """A models/ folder with one published entry, as the publishing step writes it."""
    models = tmp_path / "models"
    folder = models / name
    folder.mkdir(parents=True)
    target = folder / "weights.h5"
    target.write_bytes(model_path.read_bytes())
    relative = f"{name}/weights.h5"
    manifest = {
        "models": {name: {"weights": relative, "config": config or {
            "input_shape": [32, 32, 3], "classes": 10, "width_multiplier": 0.25,
            "stem": "cifar"}}},
        "files": {relative: {"sha256": hub.sha256_of(target),
                             "size": target.stat().st_size}},
    }
    (models / "manifest.json").write_text(json.dumps(manifest))
    return models


def test_published_tag_resolves_config_and_verified_file(tmp_path, monkeypatch):
    path = weights_file(tmp_path)
    models = publish(tmp_path, path)
    monkeypatch.setattr(pretrained, "MODELS_DIR", models)
    assert el_zoo.list_models(pretrained=True) == ["resnet18_el.toy"]
    model = el_zoo.load("resnet18_el.toy")
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    backbone = el_zoo.load("resnet18_el", weights="toy", include_top=False, classes=3)
    assert backbone.output_shape[-1] == 128
    with pytest.raises(ValueError, match="10-class head but classes=3"):
        el_zoo.load("resnet18_el.toy", classes=3)
    with pytest.raises(ValueError, match="trained with width_multiplier=0.25"):
        el_zoo.load("resnet18_el.toy", width_multiplier=1.0)
    # a classifier at another input size than its weights' is refused, as keras.applications
    # do; the backbone takes any size
    with pytest.raises(ValueError, match=r"trained on 32x32 images; input_shape=\(64, 64, 3\)"):
        el_zoo.load("resnet18_el.toy", input_shape=(64, 64, 3))
    backbone = el_zoo.load("resnet18_el.toy", include_top=False, input_shape=(64, 64, 3))
    assert backbone.output_shape == (None, 8, 8, 128)
    assert el_zoo.load("resnet18_el.toy", input_shape=[32, 32, 3]).output_shape == (None, 10)


def test_weights_none_with_a_tagged_name_is_refused_not_the_published_weights(
        tmp_path, monkeypatch):
    """weights=None asks for a random initialisation (keras.applications); next to a tag it
    loaded the tag's weights without a word, so a "from scratch" baseline was pretrained."""
    models = publish(tmp_path, weights_file(tmp_path))
    monkeypatch.setattr(pretrained, "MODELS_DIR", models)
    untrained = ("el_zoo.load('resnet18_el', input_shape=(32, 32, 3), classes=10, "
                 "width_multiplier=0.25, stem='cifar')")
    with pytest.raises(ValueError, match="names published weights but weights=None .* "
                       + re.escape(untrained) + " builds their configuration untrained"):
        el_zoo.load("resnet18_el.toy", weights=None)
    assert el_zoo.load("resnet18_el.toy").published_name == "resnet18_el.toy"
    model = el_zoo.load("resnet18_el", input_shape=(32, 32, 3), classes=10,
                        width_multiplier=0.25, stem="cifar")
    assert model.output_shape == (None, 10) and not hasattr(model, "published_name")
    with pytest.raises(ValueError, match="no published weights 'mars'"):
        el_zoo.load("resnet18_el.mars", weights=None)


def test_a_misspelt_keyword_names_the_model_and_the_nearest_keyword():
    with pytest.raises(TypeError, match="load\\('resnet18_el'\\) got an unexpected keyword "
                       "argument 'widht_multiplier' \\(did you mean 'width_multiplier'\\?\\)"):
        el_zoo.load("resnet18_el", widht_multiplier=0.5)
    with pytest.raises(TypeError, match="'colour'; it takes weights, input_shape"):
        el_zoo.load("resnet18", colour="red")


def test_published_file_with_a_wrong_hash_is_refused(tmp_path, monkeypatch):
    path = weights_file(tmp_path)
    models = publish(tmp_path, path)
    with open(models / "resnet18_el.toy" / "weights.h5", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setattr(pretrained, "MODELS_DIR", models)
    with pytest.raises(ValueError, match="sha256 .* but the manifest records"):
        el_zoo.load("resnet18_el.toy")


def test_empty_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="non-empty string"):
        el_zoo.load("")


def test_published_elastic_link_options_build_the_model_the_weights_were_trained_in(
        tmp_path, monkeypatch):
    # Elastic-Link options change no weight shape: loading the weights into a model built
    # with other options would succeed silently. A tag never changes the architecture, so
    # weights trained with options other than the model's defaults are refused, naming the
    # options that build the model they fit (behaviour change: the manifest's options were
    # applied at load time before each family declared its own defaults).
    variant, path = saved_weights(tmp_path, elastic_link={"position": "after_bn"})
    config = {"input_shape": [32, 32, 3], "classes": 10, "width_multiplier": 0.25,
              "stem": "cifar", "elastic_link": {"position": "after_bn"}}
    monkeypatch.setattr(pretrained, "MODELS_DIR", publish(tmp_path, path, config=config))
    assert link_positions(el_zoo.load("resnet18_el", **SMALL)) == {"before_bn"}
    with pytest.raises(ValueError, match=r"resnet18_el.toy was trained with Elastic-Link "
                                         r"options \{'position': 'after_bn'\}, not with "
                                         r"resnet18_el's defaults, and a tag never changes the "
                                         r"architecture: pass elastic_link=\{'position': "
                                         r"'after_bn'\}"):
        el_zoo.load("resnet18_el.toy")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for loaded in (el_zoo.load("resnet18_el.toy", elastic_link={"position": "after_bn"}),
                   el_zoo.load("resnet18_el.toy",
                               elastic_link=el_zoo.ElasticLinkOptions(position="after_bn"))):
        assert link_positions(loaded) == {"after_bn"}
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), variant.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"trained with Elastic-Link options \{'position': "
                                         r"'after_bn'\}; elastic_link=True cannot use"):
        el_zoo.load("resnet18_el.toy", elastic_link=True)


def test_default_elastic_link_weights_refuse_other_options(tmp_path, monkeypatch):
    path = weights_file(tmp_path)
    monkeypatch.setattr(pretrained, "MODELS_DIR", publish(tmp_path, path))
    assert el_zoo.load("resnet18_el.toy", elastic_link=True).output_shape == (None, 10)
    with pytest.raises(ValueError, match="trained with Elastic-Link options defaults; "
                                         "elastic_link=.*gamma_scale.* cannot use"):
        el_zoo.load("resnet18_el.toy", elastic_link={"gamma_scale": "fan_in"})


def test_research_variants_are_tagged_and_bad_tags_are_refused():
    assert el_zoo.registry.model_tags("resnet26p_el.cifar10") == {"research"}
    assert el_zoo.registry.model_tags("resnet26") == frozenset()
    assert el_zoo.registry.model_tags("resnet26s_el") == frozenset()  # no longer research
    with pytest.raises(ValueError, match="unknown model tags \\['beta'\\]"):
        el_zoo.register_model(tags=("beta",))


def saved_with_config(tmp_path, name="resnet18_el", **overrides):
    """A model and its weights saved by el_zoo.save_weights (with its config)."""
    model = el_zoo.load(name, **{**SMALL, **overrides})
    path = el_zoo.save_weights(model, tmp_path / f"{name}.h5")
    return model, path


def test_saved_weights_carry_their_config_and_load_with_it(tmp_path):
    # The file alone rebuilds the model it was saved from: after_bn links, cifar stem,
    # quarter width and ten classes, without repeating any of them.
    model, path = saved_with_config(tmp_path, elastic_link={"position": "after_bn"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet18_el.h5"]  # no leftovers
    loaded = el_zoo.load("resnet18_el", weights=str(path))
    assert link_positions(loaded) == {"after_bn"}
    assert built_config(loaded) == built_config(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))


def test_a_whole_model_file_loads_with_the_configuration_it_was_saved_with(tmp_path):
    # model.save("model.h5") keeps el_zoo's record in its model_config, which load did not
    # read: mobilenet_v1_el's stem weights have one shape at either stride, so this file,
    # loaded with the classes the error asked for, went into the imagenet stem silently
    model = el_zoo.load("mobilenet_v1_el", **SMALL, elastic_link={"position": "before_bn"})
    model.save(tmp_path / "model.h5")
    loaded = el_zoo.load("mobilenet_v1_el", weights=str(tmp_path / "model.h5"))
    assert built_config(loaded) == built_config(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))
    with pytest.raises(ValueError, match=r"model.h5 \(saved from mobilenet_v1_el\(width_"
                                         r"multiplier=0.25, stem='cifar', .*\) was trained "
                                         r"with stem='cifar'; stem='imagenet' cannot use"):
        el_zoo.load("mobilenet_v1_el", weights=str(tmp_path / "model.h5"), stem="imagenet",
                    input_shape=(32, 32, 3), classes=10)


def test_a_whole_model_file_of_a_new_head_named_as_el_zoos_own_keeps_no_configuration(
        tmp_path):
    # the head of 3 classes on the layers of a 10-class model: its record is the base's
    model = el_zoo.load("mobilenet_v1_el", **SMALL)
    features = model.get_layer("avg_pool").output
    head = el_zoo.keras.layers.Dense(3, name="predictions_3")(features)
    outputs = el_zoo.keras.layers.Activation("softmax", name="probabilities_3")(head)
    el_zoo.keras.Model(model.input, outputs).save(tmp_path / "other.h5")
    assert builder.stored_config(tmp_path / "other.h5") == (None, None)
    model.save(tmp_path / "model.h5")  # the model itself, with its 10 classes
    with h5py.File(tmp_path / "model.h5", "r+") as f:  # its classifier replaced by 3 classes
        del f["model_weights/predictions"]
        group = f["model_weights"].create_group("predictions/predictions")
        group.create_dataset("kernel:0", data=np.zeros((256, 3), np.float32))
        group.create_dataset("bias:0", data=np.zeros(3, np.float32))
        f["model_weights/predictions"].attrs["weight_names"] = [
            b"predictions/kernel:0", b"predictions/bias:0"]
    assert builder.stored_config(tmp_path / "model.h5") == (None, None)


@pytest.mark.parametrize("reloaded", [False, True])
def test_numpy_numbers_in_a_models_configuration_are_saved_as_numbers(tmp_path, reloaded):
    # a width from an array of candidates (np.float32, which json cannot write) was saved as
    # its repr, "0.25": the file, or a model saved whole and reloaded, then refused to load,
    # "width_multiplier must be a positive number ...; got '0.25'"
    model = el_zoo.load("resnet18_el", **{**SMALL, "width_multiplier": np.float32(0.25)})
    assert built_config(model)["width_multiplier"] == 0.25
    assert type(built_config(model)["width_multiplier"]) is float
    if reloaded:
        model.save(tmp_path / "model.keras")
        model = el_zoo.keras.models.load_model(tmp_path / "model.keras")
    path = el_zoo.save_weights(model, tmp_path / "weights.h5")
    loaded = el_zoo.load("resnet18_el", weights=str(path))
    assert built_config(loaded) == built_config(model) == \
        built_config(el_zoo.load("resnet18_el", **SMALL))


def test_a_configuration_is_recorded_in_json_types_or_refused():
    # options given as ElasticLinkOptions were saved as their repr, which a file's reader
    # refused ("Elastic-Link options must be a mapping ..."); other objects as theirs
    from el_zoo.model_record import record_config

    model = el_zoo.load("resnet18_el", **SMALL)
    config = built_config(model)
    options = el_zoo.ElasticLinkOptions.from_record(config["elastic_link"])
    record_config(model, {**config, "elastic_link": options, "input_shape": (32, 32, 3)})
    assert built_config(model) == config
    with pytest.raises(TypeError, match=r"el_zoo records .* as JSON, .*: <object object at "
                                        r"\w+> \(object\) is not a number, string, list"):
        record_config(model, {**config, "stem": object()})


def test_weights_saved_with_other_elastic_link_options_are_refused(tmp_path):
    path = weights_file(tmp_path, with_config=True, elastic_link={"position": "after_bn"})
    with pytest.raises(ValueError, match=r"was trained with Elastic-Link options \{'position': "
                                         r"'after_bn'\}; elastic_link=True cannot use"):
        el_zoo.load("resnet18_el", weights=str(path), elastic_link=True)
    # a builder called directly takes its defaults: the file's config is checked anyway
    with pytest.raises(ValueError, match=(
            r"holds weights of resnet18_el\(width_multiplier=0.25, stem='cifar', "
            r"elastic_link=\{'position': 'after_bn'\}\), but the model is resnet18_el\("
            r"width_multiplier=0.25, stem='cifar', elastic_link=True\) \(another "
            r"elastic_link\).*load it with el_zoo.load\('resnet18_el', weights=")):
        el_zoo.nets.resnet.resnet18_el(weights=str(path), **SMALL)


def test_saved_weights_refuse_another_width_or_stem(tmp_path):
    path = weights_file(tmp_path, with_config=True)
    with pytest.raises(ValueError, match=r"\(saved from resnet18_el\(width_multiplier=0.25, "
                                         r".*trained with width_multiplier=0.25; "
                                         r"width_multiplier=0.5 cannot use"):
        el_zoo.load("resnet18_el", weights=str(path), width_multiplier=0.5)
    with pytest.raises(ValueError, match="trained with stem='cifar'; stem='imagenet' cannot"):
        el_zoo.load("resnet18_el", weights=str(path), stem="imagenet")


@pytest.mark.parametrize("saved_as, loaded_as", [("resnet18_el", "resnet18"),
                                                 ("resnet18", "resnet18_el")])
def test_weights_never_load_into_the_elastic_link_twin(tmp_path, saved_as, loaded_as):
    path = weights_file(tmp_path, name=saved_as, with_config=True)
    with pytest.raises(ValueError, match=rf"holds weights of {saved_as}\(.*but the model is "
                                         rf"{loaded_as} \(another model\).*el_zoo.load\("
                                         rf"'{saved_as}', weights="):
        el_zoo.load(loaded_as, weights=str(path), **SMALL)


def test_weights_without_a_config_never_load_into_the_elastic_link_twin(tmp_path):
    # model.save_weights files (users' own) carry no config: their layer names tell
    path = weights_file(tmp_path)
    with pytest.raises(ValueError, match=r"holds weights for \d+ Elastic-Link layer\(s\) the "
                                         r"model has not.*load it with resnet18_el\."):
        el_zoo.load("resnet18", weights=str(path), **SMALL)
    path.unlink()
    weights_file(tmp_path, name="resnet18")
    with pytest.raises(ValueError, match=r"has no weights for \d+ Elastic-Link layer\(s\).*"
                                         r"without Elastic-Link; load it with resnet18\."):
        el_zoo.load("resnet18_el", weights=str(path), **SMALL)


def test_weights_without_a_config_refuse_a_smaller_architecture(tmp_path):
    # resnet26's downsampling convs have no place in resnet26p (weight-free shortcuts)
    path = weights_file(tmp_path, name="resnet26")
    with pytest.raises(ValueError, match=r"holds weights for \d+ layer\(s\) the model has "
                                         r"not, e.g. \['stage1_block1_down_bn'"):
        el_zoo.load("resnet26p", weights=str(path), **SMALL)


def test_a_plain_model_refuses_elastic_link_options_and_an_el_model_needs_them():
    with pytest.raises(ValueError, match="resnet26 has no Elastic-Link; use resnet26_el"):
        el_zoo.load("resnet26", elastic_link={"position": "after_bn"}, **SMALL)
    with pytest.raises(ValueError, match="elastic_link=None or False would build resnet26 "
                                         "under its name: use resnet26"):
        el_zoo.nets.resnet.resnet26_el(elastic_link=False, **SMALL)


@pytest.mark.parametrize("width", [0, -0.25, float("nan"), "wide", True])
def test_width_multiplier_must_be_a_positive_number(width):
    with pytest.raises(ValueError, match=rf"mobilenet_v1: width_multiplier must be a positive "
                                         rf"number .*; got {width!r}"):
        el_zoo.load("mobilenet_v1", **{**SMALL, "width_multiplier": width})


# ----------------------------------------------------------------------------- metadata
@pytest.mark.parametrize("name", el_zoo.list_models())
def test_every_model_names_its_family_its_twin_and_valid_elastic_link_defaults(name):
    info = el_zoo.registry.model_info(name)
    assert info.name == name and info.family in el_zoo.registry.families()
    assert info.tags <= set(el_zoo.registry.MODEL_TAGS)
    twin = el_zoo.registry.model_info(info.twin)  # each twin exists ...
    assert twin.twin == name and twin.family == info.family  # ... and points back
    assert twin.has_elastic_link != info.has_elastic_link
    assert el_zoo.registry.elastic_link_twin(f"{name}.cifar10") == f"{info.twin}.cifar10"
    if info.has_elastic_link:
        assert isinstance(info.elastic_link, el_zoo.ElasticLinkOptions)
        assert el_zoo.ElasticLinkOptions.from_record(info.elastic_link.as_dict()) == \
            info.elastic_link


def test_a_published_name_is_the_model_and_its_tag_joined_by_a_dot():
    from el_zoo.registry import join_name, split_name

    assert join_name("resnet26_el", "cifar10") == "resnet26_el.cifar10"
    assert split_name(join_name("resnet26_el", "cifar10")) == ("resnet26_el", "cifar10")
    assert join_name("resnet26_el", None) == "resnet26_el"
    assert split_name(join_name("resnet26_el", None)) == ("resnet26_el", None)


def test_every_family_holds_one_model_with_elastic_link_and_one_without():
    families = el_zoo.registry.families()
    assert set(families) == {el_zoo.registry.model_info(name).family
                             for name in el_zoo.list_models()}
    for family in families:
        assert [el_zoo.registry.has_elastic_link(name)
                for name in el_zoo.registry.family_models(family)] == [False, True], family
    research = set(families) - set(el_zoo.registry.families(include_research=False))
    assert research and all("research" in el_zoo.registry.model_tags(name)
                            for family in research for name in el_zoo.list_models(family=family))


def test_list_models_filters_by_family_elastic_link_tags_and_weights():
    assert el_zoo.list_models(family="resnet26") == ["resnet26", "resnet26_el"]
    linked = el_zoo.list_models(elastic_link=True)
    plain = el_zoo.list_models(elastic_link=False)
    assert sorted(linked + plain) == el_zoo.list_models() and linked and plain
    assert [el_zoo.registry.elastic_link_twin(name) for name in plain] == linked
    research = el_zoo.list_models(tags=("research",))
    assert research and set(research).isdisjoint(el_zoo.list_models(include_research=False))
    assert el_zoo.list_models("resnet26*", elastic_link=True, include_research=False) == [
        "resnet26_el", "resnet26s_el"]
    published_el = el_zoo.list_models(pretrained=True, elastic_link=True)
    assert "mobilenet_v1_el.cifar10" in published_el and "resnet26.cifar10" not in published_el


def test_published_weights_were_trained_with_their_models_elastic_link_defaults():
    # so that load("X.tag") is load("X") plus weights: a tag never changes the architecture
    manifest = pretrained.read_manifest()
    for name in el_zoo.list_models(pretrained=True, elastic_link=True):
        recorded = manifest.models[name].config.elastic_link
        assert el_zoo.ElasticLinkOptions.from_record(recorded) == \
            el_zoo.registry.model_info(name).elastic_link, name


def test_elastic_link_options_given_replace_only_those_options():
    # the rest keep the model's registered defaults (that every _el model's own links sit
    # where its registration says: tests/test_models.py's
    # test_small_cifar_model_links_predicts_round_trips_and_trains, which builds each one)
    model = el_zoo.load("mobilenet_v1_el", elastic_link={"gamma": "scalar"}, **SMALL)
    assert link_positions(model) == {"after_bn"}
    assert built_config(model)["elastic_link"] == el_zoo.ElasticLinkOptions(
        position="after_bn", gamma="scalar").as_dict()  # the full options, as records keep them


def test_a_family_registers_one_twin_of_each_kind_and_needs_no_suffix(monkeypatch):
    registry = el_zoo.registry
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))

    @registry.register_model(family="toynet", tags=("research",))
    def toynet(**kwargs):
        return el_zoo.load("resnet18", **kwargs)

    @registry.register_model(family="toynet", elastic_link=el_zoo.ElasticLinkOptions(
        position="after_bn"), tags=("research",))
    def toynet_linked(elastic_link=True, **kwargs):
        return el_zoo.load("resnet18_el", elastic_link=elastic_link, **kwargs)

    assert registry.elastic_link_twin("toynet") == "toynet_linked"
    assert registry.elastic_link_twin("toynet_linked.mars") == "toynet.mars"
    assert el_zoo.list_models(family="toynet", elastic_link=True) == ["toynet_linked"]
    with pytest.raises(ValueError, match="family 'toynet' has a model with Elastic-Link "
                                         "already \\(toynet, toynet_linked\\)"):
        registry.register_model(family="toynet", elastic_link=True)(lambda: None)

    @registry.register_model(tags=("research",))
    def lonely(**kwargs):
        return None

    assert registry.model_info("lonely").family == "lonely"
    with pytest.raises(ValueError, match="lonely has no twin with Elastic-Link registered"):
        registry.elastic_link_twin("lonely")
    with pytest.raises(TypeError, match="elastic_link must be None, True or an "
                                        "ElasticLinkOptions; got"):
        registry.register_model(family="toynet", elastic_link={"position": "after_bn"})


@pytest.mark.parametrize("name", ["runs/resnet18_el/weights.h5", "weights.h5"])
def test_a_weights_file_given_as_a_model_name_says_how_to_load_it(name, capsys, tmp_path,
                                                                  monkeypatch):
    # said "Unknown model 'runs/resnet18_el/weights'. Registered models: ...", as if a
    # model name were misspelt, to a user who had just trained one
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # "to no file" wherever pytest runs
    message = rf"'{name}' is a path \(to no file\), not a model name: load a weights file " \
              rf"with el_zoo.load\(MODEL, weights='{name}'\)"
    with pytest.raises(ValueError, match=message):
        el_zoo.load(name)
    with pytest.raises(ValueError, match=message):
        el_zoo.predict(name, ["cat.png"])
    assert main(["predict", name, __file__]) == 2
    assert f"el-zoo predict: error: '{name}' is a path (to no file), not a model name" in \
        capsys.readouterr().err
    weights = tmp_path / name
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"'{weights}' is a file path, not a model name"):
        el_zoo.load(str(weights))
    with pytest.raises(ValueError, match=r"'tuned.keras' is a path \(to no file\), not a "
                                         r"model name: load a saved model with "
                                         r"el_zoo.keras.models.load_model\('tuned.keras'\)"):
        el_zoo.load("tuned.keras")  # was "Unknown model 'tuned'. Did you mean ...?"


def test_a_tflite_file_given_as_a_model_name_says_it_runs_in_an_interpreter(capsys, tmp_path,
                                                                            monkeypatch):
    # el_zoo.load("m.tflite") said "Unknown model 'm'", as if a model name were misspelt
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.tflite").write_bytes(b"")
    message = (r"'m.tflite' is a file path of a converted TFLite model, not a model name: "
               r"el_zoo.load builds Keras models and cannot load a .tflite file back into "
               r"Keras. Run it with interpreter_outputs\('m.tflite', images\), from "
               r"el_zoo.convert .* or LCE's larq_compute_engine.tflite.python.interpreter."
               r"Interpreter, time it with el-zoo benchmark m.tflite")
    with pytest.raises(ValueError, match=message):
        el_zoo.load("m.tflite")
    with pytest.raises(ValueError, match=r"'gone.tflite' is a path \(to no file\) of a "
                                         r"converted TFLite model"):
        el_zoo.load("gone.tflite")
    assert main(["predict", "m.tflite", __file__]) == 2
    assert "el-zoo predict: error: 'm.tflite' is a file path of a converted TFLite model" in \
        capsys.readouterr().err


def test_a_saved_model_given_to_a_command_says_how_to_load_and_convert_it(capsys, tmp_path):
    # `el-zoo convert tuned.h5` (a fine-tuned model saved whole) was told to load it as a
    # weights file, which el_zoo.load refuses, and to give it to el_zoo.predict or evaluate
    saved = tmp_path / "tuned.h5"
    saved.write_bytes(b"")
    assert main(["convert", str(saved), "-o", str(tmp_path / "tuned.tflite")]) == 2
    error = capsys.readouterr().err
    assert f"or a model saved whole (model.save) with el_zoo.keras.models.load_model(" \
           f"'{saved}'), and give that model to el_zoo's functions (el_zoo.predict, " \
           "evaluate, convert, profile)" in error
    folder = tmp_path / "tuned_savedmodel"
    folder.mkdir()
    assert main(["info", str(folder)]) == 2
    assert f"load a saved model with el_zoo.keras.models.load_model('{folder}')" in \
        capsys.readouterr().err


@pytest.mark.parametrize("filters, error", [
    ({"tags": "research"}, "tags must be a tuple of tags, e.g. \\('research',\\)"),
    ({"tags": ("reserch",)}, "unknown model tags \\['reserch'\\]"),
    ({"elastic_link": "no"}, "elastic_link must be True, False or None; got 'no'"),
    ({"family": "resnet99"}, "unknown family 'resnet99'. Did you mean .*resnet18"),
])
def test_list_models_refuses_filters_that_match_nothing_or_everything_by_mistake(filters, error):
    with pytest.raises((TypeError, ValueError), match=error):
        el_zoo.list_models(**filters)


def test_a_tags_classifier_refuses_an_input_tensor_of_another_size(tmp_path, monkeypatch):
    path = weights_file(tmp_path)
    monkeypatch.setattr(pretrained, "MODELS_DIR", publish(tmp_path, path))
    with pytest.raises(ValueError, match=r"trained on 32x32 images; input_shape=\(64, 64, 3\)"):
        el_zoo.load("resnet18_el.toy", input_tensor=el_zoo.keras.Input((64, 64, 3)))
    model = el_zoo.load("resnet18_el.toy", input_tensor=el_zoo.keras.Input((32, 32, 3)))
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("shape, hint", [
    ((32, 32, 1), r".*repeat a grayscale channel, np.repeat\(images, 3, axis=-1\), or drop an "
                  r"alpha channel"),
    ((32, 32, 4), r".*repeat a grayscale channel"),
    ((3, 32, 32), r"channels last: input_shape=\(32, 32, 3\), not channels first as PyTorch "
                  r"orders them"),
])
def test_a_shape_that_is_not_rgb_is_named_so_with_or_without_weights(shape, hint, tmp_path,
                                                                     monkeypatch):
    # with a tag's classifier, a grayscale (32, 32, 1) or channels-first (3, 32, 32) shape
    # was "trained on 32x32 images; input_shape=(32, 32, 1) with its classifier ... would
    # score images at a size it never saw", of a 32x32 shape
    monkeypatch.setattr(pretrained, "MODELS_DIR", publish(tmp_path, weights_file(tmp_path)))
    refused = rf"resnet18_el: input_shape must be \(height, width, 3\) RGB; got " \
              rf"{re.escape(str(shape))} \({hint}"
    for kwargs in ({"include_top": True}, {"include_top": False, "pooling": "avg"}):
        with pytest.raises(ValueError, match=refused):
            el_zoo.load("resnet18_el.toy", input_shape=shape, **kwargs)
    with pytest.raises(ValueError, match=refused):
        el_zoo.load("resnet18_el", **{**SMALL, "input_shape": shape})


@pytest.mark.parametrize("weights", [False, 123])
def test_weights_of_another_type_than_a_tag_or_path_is_a_clear_error(weights):
    with pytest.raises(TypeError, match=f"weights must be None, a published tag .* got {weights}"):
        el_zoo.load("resnet18_el", weights=weights, **SMALL)
