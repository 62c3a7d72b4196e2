"""Elastic-Link folded for deployment (el_zoo.fold): same outputs, fewer TFLite ops."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import el_zoo
from el_zoo.convert import convert, tflite_op_names
from el_zoo.fold import fold_elastic_links
from el_zoo.layers import ElasticLink
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.model_record import class_names_of, published_name_of
from el_zoo.nets._blocks import binary_conv_bn
from el_zoo.registry import elastic_link_twin
from el_zoo.pretrained import published_file
from tests.conftest import (SMALL, assert_interpreter_takes_models_top1, assert_same_logits,
                            images_with_machine_independent_top1, random_weight_family,
                            randomize_links)

LINKED = el_zoo.list_models(elastic_link=True)
# Published EL models: (ops of the folded model) - (ops of the published plain twin), as
# reached by the folder. resnet18 and reactnet_a: every link merges with its block's
# shortcut (0). mobilenet_v1 (26 links): an ADD per link, 4 AVERAGE_POOL_2D, 5 TILE, 12
# LceQuantize (a bconv whose output also feeds a link cannot write bit-packed output) and
# 12 MUL (trained scales of mixed signs in front of padded 3x3 convs). resnet26 (24 links):
# 24 ADD (16 links + the 8 expand links summed with their block's shortcut by a second ADD,
# not an ADD_N, which LCE's interpreter runs slower), 7 group means (RESHAPE + MEAN), 8
# TILE, 3 AVERAGE_POOL_2D, 16 LceQuantize and 21 MUL where no choice of scales removes
# one (el_zoo.fold: a tiled link beside an identity shortcut, scales of mixed signs in
# front of a padded 3x3 conv), a count that follows the trained gammas (the width-0.5,
# 10-epoch weights published before kept 8). resnet26s (24 links after BN, no shortcuts): an ADD per link, 7 group
# means, 8 TILE, 3 AVERAGE_POOL_2D, 23 LceQuantize and 8 MUL.
PUBLISHED_ADDED_OPS = {"resnet18": 0, "reactnet_a": 0, "mobilenet_v1": 59, "resnet26": 86,
                       "resnet26s": 80}


def assert_same_outputs(model, folded, images):
    # eager calls, both models in the same engine mode: model.predict would first trace
    # each model, at more CPU cost than computing these ten images
    assert_same_logits(model(images, training=False).numpy(),
                       folded(images, training=False).numpy())


def op_counts(flatbuffer):
    return collections.Counter(tflite_op_names(flatbuffer))


@pytest.mark.parametrize("name", LINKED)
def test_folded_family_computes_what_the_trained_one_does(
    name, cifar_images, calibrate_batch_norm
):
    # links at the model's registered position; the random-weight model (links of both
    # signs, BN calibrated, binarizations cleared of zero on the images) is the one
    # tests/test_convert.py converts: random_weight_family makes it once per run
    images, _ = cifar_images
    facts = random_weight_family(name, images, calibrate_batch_norm)
    assert facts.links_left_by_folding == 0
    assert_same_logits(facts.logits, facts.folded_logits)


def default_position(name):
    return el_zoo.registry.model_info(name).elastic_link.position


# The links' other position, in the families trained with links both ways
# (docs/elastic_link.md): mobilenet_v1_el and resnet26s_el, whose default is after BN, and
# reactnet_a_el.
OTHER_POSITION = [(name, "before_bn" if default_position(name) == "after_bn" else "after_bn")
                  for name in ("mobilenet_v1_el", "reactnet_a_el", "resnet26s_el")]


@pytest.mark.parametrize("name, position", OTHER_POSITION)
def test_folded_family_computes_what_the_trained_one_does_with_links_at_the_other_position(
    name, position, cifar_images, calibrate_batch_norm
):
    images, _ = cifar_images
    tf.keras.utils.set_random_seed(0)
    model = el_zoo.load(name, **SMALL, classifier_activation=None,
                        elastic_link={"position": position})
    calibrate_batch_norm(randomize_links(model), steps=10)
    folded = fold_elastic_links(model)
    assert not any(isinstance(layer, ElasticLink) for layer in folded.layers)
    assert_same_outputs(model, folded, images)


@pytest.mark.parametrize("family", sorted(PUBLISHED_ADDED_OPS))
def test_published_el_model_folds_with_parity_on_real_images(family, data_dir):
    from el_zoo import data

    name = elastic_link_twin(f"{family}.cifar10")
    model = el_zoo.load(name)
    images, _, _ = data.load_split("cifar10", "test", data_dir=data_dir, limit=40)
    images = images_with_machine_independent_top1(model, images.astype(np.float32))
    # the interpreter (links folded) and the model as given (as trained) take the same top-1
    flatbuffer = convert(model, verify_images=0)
    assert_interpreter_takes_models_top1(flatbuffer, model, images, name)
    folded = op_counts(flatbuffer)
    plain = op_counts(published_file(f"{family}.cifar10", "model.tflite").read_bytes())
    assert folded["LceBconv2d"] == plain["LceBconv2d"]
    assert sum(folded.values()) - sum(plain.values()) <= PUBLISHED_ADDED_OPS[family]
    # the published .tflite is this deployment form (as trained it had 2.8-5.7 ops per link)
    assert op_counts(published_file(name, "model.tflite").read_bytes()) == folded


def two_unit_model(kernels, position="after_bn", gammas=(-0.5, 0.75)):
    """Float stem, then two binary units with links (kernel sizes ``kernels``), gammas of
    both signs (alternating per channel from ``gammas``), GAP and a dense head."""
    options = ElasticLinkOptions(position=position)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Rescaling(1 / 255)(inputs)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    for index, kernel in enumerate(kernels):
        x = binary_conv_bn(x, 8, kernel, name=f"unit{index}", elastic_link=options)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(4)(x))
    for layer in model.layers:
        if isinstance(layer, ElasticLink):
            layer.gamma.assign(np.resize(np.asarray(gammas, "float32"), layer.gamma.shape))
    return model


def converted_ops(kernels, images, calibrate, gammas=(-0.5, 0.75), folds=(True,)):
    """{fold: op counts} of the two-unit model converted with each ``fold``, after checking
    that folding keeps its outputs (convert checks the interpreter's too)."""
    tf.keras.utils.set_random_seed(1)
    model = calibrate(two_unit_model(kernels, gammas=gammas), steps=10)
    assert_same_outputs(model, fold_elastic_links(model), images)
    return {fold: op_counts(convert(model, verify_images=images, fold=fold)) for fold in folds}


def test_negative_scales_flip_binary_weights_of_unpadded_convs(cifar_images,
                                                               calibrate_batch_norm):
    # The 3x3 unit's output carries its link's gamma (both signs) as pending scale into
    # the 1x1 unit, whose weights flip where it is negative: no multiply is left.
    ops = converted_ops((3, 1), cifar_images[0], calibrate_batch_norm, folds=(True, False))
    assert ops[True]["MUL"] == 0 and ops[True]["ADD"] == 2
    assert ops[False]["MUL"] == 2 and ops[False]["ADD"] == 2  # as trained


def test_negative_scales_before_a_padded_conv_keep_one_multiply(cifar_images,
                                                               calibrate_batch_norm):
    # Flipping the weights of a 3x3 conv padded with +1 would also flip its border, so the
    # signs of the 1x1 unit's gamma are applied by one multiply; positive ones need none.
    images = cifar_images[0]
    assert converted_ops((1, 3), images, calibrate_batch_norm)[True]["MUL"] == 1
    positive = converted_ops((1, 3), images, calibrate_batch_norm, gammas=(0.5,))
    assert positive[True]["MUL"] == 0


def test_layers_the_folder_does_not_know_are_kept_as_they_are(cifar_images):
    images, _ = cifar_images
    tf.keras.utils.set_random_seed(2)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Lambda(lambda t: t / 127.5 - 1.0, name="scale_pixels")(inputs)
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    binary = tf.keras.layers.Activation("tanh")(x)
    y = binary_conv_bn(binary, 16, 1, name="unit", elastic_link=ElasticLinkOptions())
    y = ElasticLink(activation_scaling=True, name="scaled_link")([x, y])  # not folded
    outputs = tf.keras.layers.Dense(3)(tf.keras.layers.GlobalAveragePooling2D()(y))
    model = tf.keras.Model(inputs, outputs)
    folded = fold_elastic_links(model)
    assert [layer.name for layer in folded.layers if isinstance(layer, ElasticLink)] == [
        "scaled_link"]
    assert_same_outputs(model, folded, images)


def test_a_backbone_under_a_new_head_is_folded_as_the_backbone_alone(cifar_images,
                                                                     calibrate_batch_norm):
    # README: Fine-tuning's model calls the backbone as one layer; its links were left
    # unfolded (a fine-tuned resnet18_el.cifar10: 128 TFLite ops instead of 62)
    images, _ = cifar_images
    tf.keras.utils.set_random_seed(0)
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg",
                           **{key: value for key, value in SMALL.items() if key != "classes"})
    calibrate_batch_norm(randomize_links(backbone), steps=10)
    inputs = tf.keras.Input(SMALL["input_shape"])
    head = tf.keras.layers.Dense(2, name="head")
    model = tf.keras.Model(inputs, head(backbone(inputs, training=False)))
    folded = fold_elastic_links(model)
    nested = folded.get_layer(backbone.name)
    assert nested is not backbone and folded.get_layer("head") is head
    assert ([layer.name for layer in nested.layers]
            == [layer.name for layer in fold_elastic_links(backbone).layers])
    assert not any(isinstance(layer, ElasticLink) for layer in nested.layers)
    assert_same_outputs(model, folded, images)


def test_folding_keeps_what_el_zoo_load_recorded():
    # predict of a folded model numbered its classes ('6' for 'frog'): folding rebuilt the
    # model without its class names and origin (and rescales its classifier's weights)
    model = el_zoo.load("resnet18_el.cifar10")
    folded = fold_elastic_links(model)
    assert folded.published_name == "resnet18_el.cifar10"
    assert class_names_of(folded) == model.class_names
    # a model rebuilt from its layers (or reloaded) has its record in its input layer only
    rebuilt = fold_elastic_links(tf.keras.Model(model.inputs, model.outputs))
    assert published_name_of(rebuilt) == "resnet18_el.cifar10"
    assert class_names_of(rebuilt) == model.class_names
    backbone = el_zoo.load("resnet18_el.cifar10", include_top=False, pooling="avg")
    inputs = tf.keras.Input((32, 32, 3))
    tuned = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(backbone(inputs)))
    nested = fold_elastic_links(tuned).get_layer(backbone.name)
    assert nested is not backbone and nested.published_weights == "resnet18_el.cifar10"


def test_models_without_links_are_returned_unchanged():
    model = el_zoo.load("resnet18", **SMALL)
    assert fold_elastic_links(model) is model


def test_fold_refuses_what_is_not_a_functional_model():
    class Subclassed(tf.keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(TypeError, match="takes a functional Keras model .* got Subclassed"):
        fold_elastic_links(Subclassed())
    with pytest.raises(TypeError, match="got str"):
        fold_elastic_links("resnet18_el")


def test_convert_refuses_a_fold_flag_that_is_not_a_bool():
    model = two_unit_model(kernels=(1,))
    with pytest.raises(TypeError, match="fold must be True or False; got 'no'"):
        convert(model, fold="no")
