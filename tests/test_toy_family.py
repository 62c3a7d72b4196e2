"""A new family, registered here and nowhere else, is listed, built, profiled, converted and
taken up by the benchmarks' family lists like the zoo's own: what CONTRIBUTING.md promises
a maintainer who adds one. (A toy family, ``tests/toy.py``: a stem and two binary convs,
registered for one test by the ``toy_family`` fixture.)"""

import numpy as np
import pytest

import el_zoo
from el_zoo import registry
from el_zoo.cli import main as el_zoo_command
from el_zoo.convert import OUTPUT_TOLERANCE, interpreter_outputs, tflite_op_names
from el_zoo.layers import ElasticLink
from tests.conftest import SMALL, benchmark_script, clear_binarizations_of_zero
from tests.test_registry import link_positions
from tests.toy import FAMILY, TOY_ELASTIC_LINK, toy_net


def test_the_toy_family_is_listed_with_its_metadata(toy_family, capsys):
    assert toy_family in registry.families(include_research=False)
    assert el_zoo.list_models(family=toy_family) == ["toy_net", "toy_net_el"]
    assert el_zoo.list_models("toy*", elastic_link=True) == ["toy_net_el"]
    info = registry.model_info("toy_net_el")
    assert (info.family, info.elastic_link, info.twin) == (FAMILY, TOY_ELASTIC_LINK, "toy_net")
    assert registry.elastic_link_twin("toy_net") == "toy_net_el"
    assert el_zoo_command(["list", "toy*"]) == 0
    assert capsys.readouterr().out.split() == ["toy_net", "toy_net_el"]


def test_the_registry_forgets_the_toy_family_after_the_block():
    families, models = registry.families(), el_zoo.list_models()
    with registry.temporary_models():
        registry.register_model(toy_net, family=FAMILY)
        assert registry.families() == families + [FAMILY]
    assert (registry.families(), el_zoo.list_models()) == (families, models)
    with pytest.raises(ValueError, match="Unknown model 'toy_net'"):
        registry.model_info("toy_net")


def test_the_toy_family_builds_with_its_defaults_and_is_profiled(toy_family):
    plain, linked = (el_zoo.load(name, **SMALL) for name in ("toy_net", "toy_net_el"))
    links = [layer for layer in linked.layers if isinstance(layer, ElasticLink)]
    assert [layer.name for layer in links] == ["unit1_el", "unit2_el"]
    assert not any(isinstance(layer, ElasticLink) for layer in plain.layers)
    assert link_positions(linked) == {"after_bn"}  # the family's default, not the global one
    plain_cost, linked_cost = el_zoo.profile(plain), el_zoo.profile(linked)
    assert plain_cost["el_params"] == 0 < linked_cost["el_params"]
    assert linked_cost["params"] - plain_cost["params"] == linked_cost["el_params"]
    assert 0 < plain_cost["ops"] < linked_cost["ops"]


@pytest.mark.parametrize("name", ["toy_net", "toy_net_el"])
def test_the_toy_family_converts_and_matches_keras(toy_family, name, cifar_images,
                                                    calibrate_batch_norm):
    images, _ = cifar_images
    el_zoo.keras.utils.set_random_seed(0)
    model = el_zoo.load(name, **SMALL, classifier_activation=None)  # compare logits
    calibrate_batch_norm(model)
    clear_binarizations_of_zero(model, images)  # the same signs in Keras and LCE on any CPU
    flatbuffer = el_zoo.convert(model, verify_images=images, fold=False)  # as test_convert
    assert tflite_op_names(flatbuffer).count("LceBconv2d") == 2
    expected = model.predict(images, verbose=0)
    actual = interpreter_outputs(flatbuffer, images)
    assert np.array_equal(actual.argmax(-1), expected.argmax(-1))
    assert np.abs(actual - expected).max() <= OUTPUT_TOLERANCE * np.abs(expected).max()


def test_the_benchmarks_take_the_toy_family_from_the_registry(toy_family, monkeypatch):
    assert toy_family in benchmark_script("deploy").FAMILIES
    el_cost = benchmark_script("el_cost")
    assert toy_family in el_cost.FAMILIES
    monkeypatch.setattr(el_cost, "FAMILIES", (toy_family,))  # measure the toy family only
    rows = el_cost.cost_table().splitlines()[2:]
    assert [row.split(" | ")[:2] for row in rows] == [
        [f"| {toy_family}", "224x224"], [f"| {toy_family}", "32x32 cifar"]]
