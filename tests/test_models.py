"""Every registered model: shapes, serialization, saving, training, bad arguments."""

import re

import numpy as np
import pytest
import tensorflow as tf

import el_zoo
from el_zoo import ElasticLink, RSign
from el_zoo.builder import CONV_SUFFIX, link_unit
from el_zoo.registry import has_elastic_link, model_info, model_tags
from tests.conftest import SMALL, link_positions

MODELS = el_zoo.list_models()
RNG = np.random.default_rng(0)


def images(count=2, size=32):
    return RNG.uniform(0, 255, (count, size, size, 3)).astype("float32")


def test_the_registry_holds_the_families_with_and_without_el():
    families = el_zoo.registry.families()
    assert len(families) >= 6
    for family in families:
        plain, linked = (el_zoo.list_models(family=family, elastic_link=flag)
                         for flag in (False, True))
        assert len(plain) == len(linked) == 1, family
    assert MODELS == sorted(name for family in families
                            for name in el_zoo.list_models(family=family))


@pytest.mark.parametrize("name", MODELS)
def test_default_build_is_imagenet_sized(name):
    from tests.conftest import build_facts  # the default builds, shared with the cost tests

    built = build_facts(name)
    assert built.input_shape == (None, 224, 224, 3)
    assert built.output_shape == (None, 1000)
    assert bool(built.links) == has_elastic_link(name)


@pytest.mark.parametrize("name", MODELS)
def test_small_cifar_model_links_predicts_round_trips_and_trains(name, tmp_path):
    """What one SMALL build shows: its links, its predictions and its round trip through a
    .keras file, without changing it; then, last, one training step changes every trainable
    variable (one build and one reload instead of five builds). Calls are eager:
    ``model.predict`` would first trace the model, at more CPU cost than predicting two
    images."""
    model = el_zoo.load(name, **SMALL)
    binary_convs = [
        layer for layer in model.layers
        if getattr(layer, "kernel_quantizer", None) or getattr(layer, "depthwise_quantizer", None)
    ]
    links = [layer for layer in model.layers if isinstance(layer, ElasticLink)]
    assert binary_convs, f"{name}: no binary conv"
    assert len(links) == (len(binary_convs) if has_elastic_link(name) else 0), (
        f"{name}: {len(links)} links for {len(binary_convs)} binary convs")
    if has_elastic_link(name):  # where its family registered its links (before or after BN)
        assert link_positions(model) == {model_info(name).elastic_link.position}, name

    x = images()
    out = model(x, training=False).numpy()
    assert out.shape == (2, 10), f"{name}: predictions of shape {out.shape}"
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5,
                               err_msg=f"{name}: predictions are not a softmax")

    # the config round trip: a .keras file holds model.get_config(), and load_model rebuilds
    # the model with its class's from_config, then loads the weights (a separate
    # Model.from_config(model.get_config()) clone built the model once more to check the
    # same path, to 1e-6 where the reload must give the very outputs)
    model.save(tmp_path / "model.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        reloaded(x, training=False).numpy(), out,
        err_msg=f"{name}: the config round trip (save and reload) changed the outputs")

    # One training step changes every trainable variable (it changes the weights: last).
    # Eager: one step does not pay for tracing a training graph.
    model.compile(tf.keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  run_eagerly=True)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.fit(images(16), RNG.integers(0, 10, 16), batch_size=16, epochs=1, verbose=0)
    unchanged = [
        v.name for v, old in zip(model.trainable_variables, before)
        if np.array_equal(v.numpy(), old)
    ]
    assert not unchanged
    names = [v.name for v in model.trainable_variables]
    if has_elastic_link(name):
        assert any("_el/gamma" in n for n in names)
    if name.startswith("reactnet"):
        assert any(isinstance(layer, RSign) for layer in model.layers)


# The models whose backbones the odd-size test builds: all but the Elastic-Link twins of
# research families. A research family brings its own layers in its plain model (resnet26p:
# PooledShortcut, whose pooling and padding follow the input size); its _el twin adds only
# Elastic-Links, which the other _el models carry at each position (checked below), and
# two builds of a backbone cost seconds.
ODD_SIZE_MODELS = [name for name in MODELS
                   if not ("research" in model_tags(name) and has_elastic_link(name))]


def test_the_odd_size_models_leave_out_only_links_the_others_have():
    left_out = sorted(set(MODELS) - set(ODD_SIZE_MODELS))
    positions = {model_info(name).elastic_link.position
                 for name in ODD_SIZE_MODELS if has_elastic_link(name)}
    for name in left_out:
        assert model_info(name).twin in ODD_SIZE_MODELS, name
        assert model_info(name).elastic_link.position in positions, name


@pytest.mark.parametrize("name", ODD_SIZE_MODELS)
@pytest.mark.parametrize("shape, pooling", [((45, 37, 3), None), ((None, None, 3), "avg")])
def test_backbone_accepts_odd_and_unknown_input_sizes(name, shape, pooling):
    """One backbone build per size (it was two): at the odd size, without pooling, its
    static output shape must be the feature map it computes; at unknown sizes, with average
    pooling, its output is the mean of the feature map it pools, both read in one call."""
    model = el_zoo.load(name, include_top=False, input_shape=shape, stem="cifar",
                        width_multiplier=0.25, pooling=pooling)
    x = images(1, 45)[:, :, :37]
    if pooling is None:
        features = model(x, training=False).numpy()  # eager: no trace
        assert model.output_shape == (None, *features.shape[1:])
    else:
        pool = model.get_layer("avg_pool")
        features, pooled = (output.numpy() for output in tf.keras.Model(
            model.inputs, [pool.input, model.output])(x, training=False))
        assert model.output_shape == (None, features.shape[-1])
        np.testing.assert_allclose(pooled, features.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert features.ndim == 4 and features.shape[0] == 1


@pytest.mark.parametrize("name", MODELS)
def test_input_too_small_is_a_clear_error(name):
    with pytest.raises(ValueError, match="too small.*at least 32.*stem='cifar'"):
        el_zoo.load(name, input_shape=(16, 16, 3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stem": "tiny"}, "stem='tiny' is not supported"),
        ({"input_shape": (32, 32, 1), "stem": "cifar"}, r"\(height, width, 3\) RGB"),
        ({"input_shape": (None, None, 3)}, "include_top=True needs a fixed input size"),
        ({"classes": 0}, "classes must be a positive whole number"),
        ({"include_top": False, "pooling": "sum"}, "pooling='sum' is not supported"),
        ({"pooling": "average"}, "pooling='average' is not supported"),  # ignored before
        ({"elastic_link": "yes"}, "elastic_link must be None, True or a dict"),
        ({"elastic_link": {"position": "middle"}}, "position='middle' is not supported"),
        ({"elastic_link": {"gamma_scale": "big"}}, "gamma_scale='big' is not supported"),
        ({"elastic_link": {"convs": "5x5"}}, "convs='5x5' is not supported"),
        ({"elastic_link": {"gamma_scale": "fan_in", "gamma_initializer": "ones"}},
         "scales a number; gamma_initializer='ones' is not one"),
    ],
)
def test_bad_builder_arguments_are_clear_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        el_zoo.load("resnet18_el", **kwargs)


def test_a_numpy_integer_is_a_class_count():
    # before: "classes must be a positive integer; got 10" for np.int64(10)
    model = el_zoo.load("resnet18_el", **{**SMALL, "classes": np.int64(3)})
    assert model.output_shape == (None, 3)
    with pytest.raises(ValueError, match=r"^resnet18_el: classes must be a positive whole "
                                         r"number \(a class count\); got True[.]$"):
        el_zoo.load("resnet18_el", **{**SMALL, "classes": True})


@pytest.mark.parametrize("name, kwargs", [("resnet18_el.cifar10", {}),
                                          ("resnet18_el", SMALL)])
@pytest.mark.parametrize("classes, got", [
    ("10", "'10' (a string: give the int 10)"), (10.0, "10.0 (a float: give the int 10)"),
    ("ten", "'ten'"), ([10], "[10]"), (True, "True")])
def test_classes_not_a_count_is_one_line_naming_its_type(name, kwargs, classes, got):
    # a count read from a config file or argv; before, for the published weights: "has a
    # 10-class head but classes=10 was asked for" ('10' printed without quotes, as the head's)
    with pytest.raises(ValueError, match=rf"^{name}: classes must be a positive whole number "
                                         rf"\(a class count\); got {re.escape(got)}[.]$"):
        el_zoo.load(name, **{**kwargs, "classes": classes})


def test_elastic_link_options_reach_every_link():
    model = el_zoo.load("mobilenet_v1_el", elastic_link={"gamma": "scalar"}, **SMALL)
    links = [layer for layer in model.layers if isinstance(layer, ElasticLink)]
    assert links and all(link.gamma.shape == () for link in links)


def test_gamma_scale_fan_in_starts_each_link_at_its_binary_conv_scale():
    model = el_zoo.load("mobilenet_v1_el", elastic_link={"gamma_scale": "fan_in"}, **SMALL)
    links = [layer for layer in model.layers if isinstance(layer, ElasticLink)]
    depthwise = [link for link in links if "_dw_" in link.name]
    assert depthwise and len(depthwise) < len(links)
    for link in links:
        conv = model.get_layer(link_unit(link.name) + CONV_SUFFIX)
        height, width = conv.kernel_size
        fan_in = height * width * (1 if link in depthwise else conv.input_shape[-1])
        assert link.gamma.numpy() == pytest.approx(0.25 * fan_in**0.5), link.name
    default = el_zoo.load("mobilenet_v1_el", **SMALL)
    assert all(np.allclose(layer.gamma.numpy(), 0.25)
               for layer in default.layers if isinstance(layer, ElasticLink))


@pytest.mark.parametrize("convs, kernel", [("1x1", 1), ("3x3", 3)])
def test_elastic_link_convs_option_links_only_that_kernel_size(convs, kernel):
    model = el_zoo.load("resnet26_el", elastic_link={"convs": convs}, **SMALL)
    linked = {link_unit(link.name) for link in model.layers if isinstance(link, ElasticLink)}
    binary = {layer.name.removesuffix(CONV_SUFFIX): layer.kernel_size[0] for layer in model.layers
              if getattr(layer, "kernel_quantizer", None)}
    assert linked == {name for name, size in binary.items() if size == kernel}
    assert 0 < len(linked) < len(binary)


@pytest.mark.parametrize("name, shortcut_layers", [
    ("resnet26", {"Conv2D": 4}), ("resnet26p", {"PooledShortcut": 4}), ("resnet26s", {}),
])
def test_resnet26_variants_differ_only_in_their_shortcuts(name, shortcut_layers):
    model = el_zoo.load(name, **SMALL)
    adds = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Add)]
    assert len(adds) == (0 if name == "resnet26s" else 8)
    down = [type(layer).__name__ for layer in model.layers if "_down" in layer.name
            and not isinstance(layer, tf.keras.layers.BatchNormalization)
            and not isinstance(layer, tf.keras.layers.AveragePooling2D)]
    assert {kind: down.count(kind) for kind in set(down)} == shortcut_layers
    cost = el_zoo.profile(model)
    if name != "resnet26":  # every weighted conv but the stem is binary
        assert cost["float_params"] < cost["binary_params"] / 10


def test_input_tensor_is_used_as_the_model_input():
    tensor = tf.keras.Input((40, 40, 3))
    model = el_zoo.load("resnet18", input_tensor=tensor, stem="cifar", classes=3,
                        width_multiplier=0.25)
    assert model.inputs[0] is tensor and model.output_shape == (None, 3)


@pytest.mark.parametrize("activation", ["softmax", el_zoo.keras.activations.softmax])
def test_a_softmax_over_one_class_is_refused(activation):
    # it outputs 1.0 for every image: a run on one class folder trained nothing (loss 0)
    # and reported a top-1 of 100 %
    with pytest.raises(ValueError, match=r"resnet18_el: classes=1 with a softmax head "
                                         r"outputs 1.0 for every image"):
        el_zoo.load("resnet18_el", **{**SMALL, "classes": 1},
                    classifier_activation=activation)
    sigmoid = el_zoo.load("resnet18_el", **{**SMALL, "classes": 1},
                          classifier_activation="sigmoid")
    assert sigmoid.output_shape == (None, 1)


def test_convs_of_a_kernel_size_the_model_has_not_is_refused():
    # resnet18's binary convs are all 3x3: convs="1x1" built resnet18 under the name
    # resnet18_el, with no link, without a word
    with pytest.raises(ValueError, match=r"resnet18_el: Elastic-Link option convs='1x1' links "
                                         r"none of its binary convs, whose kernels are 3x3.*"
                                         r"Use convs='all' or convs='3x3'"):
        el_zoo.load("resnet18_el", elastic_link={"convs": "1x1"}, **SMALL)
