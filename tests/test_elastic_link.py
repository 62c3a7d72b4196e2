"""ElasticLinkOptions: defaults, validation, KEY=VALUE parsing, records (no TensorFlow)."""

import numpy as np
import pytest

from el_zoo.elastic_link import ElasticLinkOptions
from training.recipes import recorded_elastic_link, run_elastic_link


def test_every_option_has_a_default_and_a_one_line_description():
    options = ElasticLinkOptions()
    descriptions = ElasticLinkOptions.descriptions()
    assert tuple(descriptions) == ElasticLinkOptions.names() == tuple(options.as_dict())
    assert all(text and "\n" not in text for text in descriptions.values())
    assert options.as_dict() == {"gamma": "per_channel", "gamma_initializer": 0.25,
                                 "activation_scaling": False, "position": "before_bn",
                                 "gamma_scale": "none", "convs": "all"}


@pytest.mark.parametrize("options, message", [
    ({"postion": "after_bn"}, "'postion' is not an Elastic-Link option; use one of gamma, "
                              "gamma_initializer, activation_scaling, position"),
    ({"position": "middle"}, "position='middle' is not supported; use one of ('before_bn', "
                             "'after_bn')"),
    ({"gamma": "vector"}, "gamma='vector' is not supported; use one of ('per_channel', "
                          "'scalar')"),
    ({"activation_scaling": "yes"}, "activation_scaling='yes' is not supported; use True or "
                                    "False"),
    ({"gamma_initializer": True}, "gamma_initializer=True is not supported; use a number or a "
                                  "Keras initializer's name"),
    ({"gamma_scale": "fan_in", "gamma_initializer": "ones"},
     "gamma_scale='fan_in' scales a number; gamma_initializer='ones' is not one"),
])
def test_bad_options_name_the_option_the_value_and_the_allowed_ones(options, message):
    with pytest.raises(ValueError) as error:
        ElasticLinkOptions.from_mapping(options)
    assert message in str(error.value)


def test_a_numpy_number_is_a_number():
    # np.float32 (from an array of candidate values) is no Python float: it was refused as
    # "gamma_initializer=0.5 is not supported; use a number"
    options = ElasticLinkOptions.from_mapping({"gamma_initializer": np.float32(0.5)})
    assert options.gamma_initializer == 0.5 and type(options.gamma_initializer) is float
    assert ElasticLinkOptions(gamma_initializer=np.int64(1)).gamma_initializer == 1.0


def test_key_value_strings_are_typed_by_the_option_they_set():
    options = ElasticLinkOptions.parse(["activation_scaling=TRUE", "gamma_initializer=1",
                                        "position=after_bn", "gamma=scalar"])
    assert options == ElasticLinkOptions(gamma="scalar", gamma_initializer=1.0,
                                         activation_scaling=True, position="after_bn")
    assert ElasticLinkOptions.parse(["activation_scaling=False"]).activation_scaling is False
    assert ElasticLinkOptions.parse(["gamma_initializer=ones"]).gamma_initializer == "ones"


@pytest.mark.parametrize("pair, message", [
    ("position", "--elastic-link 'position' is not KEY=VALUE"),
    ("=after_bn", "--elastic-link '=after_bn' is not KEY=VALUE"),
    ("postion=after_bn", "--elastic-link 'postion' is not an Elastic-Link option"),
    ("activation_scaling=yes", "activation_scaling='yes' is not supported; use true or false"),
])
def test_bad_key_value_strings_are_clear_errors(pair, message):
    with pytest.raises(ValueError) as error:
        ElasticLinkOptions.parse([pair])
    assert message in str(error.value)


def test_options_replace_the_given_defaults_and_describe_what_differs():
    after_bn = ElasticLinkOptions(position="after_bn")
    assert after_bn.resolve(True) is after_bn
    assert after_bn.resolve({"gamma": "scalar"}) == ElasticLinkOptions(position="after_bn",
                                                                       gamma="scalar")
    assert after_bn.resolve(ElasticLinkOptions()) == ElasticLinkOptions()
    with pytest.raises(TypeError, match="elastic_link must be None, True or a dict"):
        after_bn.resolve("yes")
    assert after_bn.overrides() == {"position": "after_bn"}
    assert after_bn.overrides(after_bn) == {}
    assert ElasticLinkOptions(gamma_initializer=1, position="after_bn").text() == \
        "gamma_initializer=1, position=after_bn"
    assert ElasticLinkOptions().text() == ""


def test_records_resolve_full_and_partial_options_against_the_global_defaults():
    variant = ElasticLinkOptions(position="after_bn", gamma_scale="fan_in")
    assert ElasticLinkOptions.from_record(variant.as_dict()) == variant
    # written before families declared their own defaults: only what differed, or nothing
    assert ElasticLinkOptions.from_record({"gamma_scale": "fan_in"}) == ElasticLinkOptions(
        gamma_scale="fan_in")
    assert ElasticLinkOptions.from_record(None) == ElasticLinkOptions.from_record({}) == \
        ElasticLinkOptions()


def test_an_old_run_record_without_options_is_not_read_with_a_familys_new_defaults():
    # mobilenet_v1_el's links go after BN by default now; a run recorded before without
    # options trained them before BN, as every family did then.
    assert recorded_elastic_link("mobilenet_v1_el", {}) == ElasticLinkOptions()
    assert recorded_elastic_link("mobilenet_v1_el", {"elastic_link": {"position": "after_bn"}}) \
        == ElasticLinkOptions(position="after_bn")
    assert recorded_elastic_link("mobilenet_v1", {}) is None


def test_a_run_records_every_option_its_model_trains_with():
    assert run_elastic_link("mobilenet_v1_el") == ElasticLinkOptions(
        position="after_bn").as_dict()
    assert run_elastic_link("resnet26_el", ["activation_scaling=true"]) == ElasticLinkOptions(
        activation_scaling=True).as_dict()
    assert run_elastic_link("resnet26") is None
    with pytest.raises(ValueError, match="resnet26 has no Elastic-Link: train resnet26_el, or "
                                         "drop --elastic-link"):
        run_elastic_link("resnet26", ["position=after_bn"])
