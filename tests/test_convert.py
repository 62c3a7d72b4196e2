"""Every family converts with Larq Compute Engine and matches Keras on real images."""

import collections
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import el_zoo
from el_zoo.convert import convert, interpreter_outputs, tflite_op_names, verify
from tests.conftest import (SMALL, SubclassedHead, assert_interpreter_takes_models_top1,
                            assert_same_logits, clear_binarizations_of_zero,
                            images_with_machine_independent_top1, random_weight_family,
                            small_backbone, tiny_binary_model)

convert_module = importlib.import_module("el_zoo.convert")  # el_zoo.convert is the function

# Ops a converted zoo model may contain: LCE's binary ops plus plain TFLite builtins.
LCE_OPS = {"LceBconv2d", "LceQuantize", "LceDequantize"}


def binary_pointwise_or_full_convs(model):
    return [layer for layer in model.layers if getattr(layer, "kernel_quantizer", None)]


# Every family not tagged research, and of the research variants (which reuse the families'
# layers, but for one of their own, e.g. resnet26p's PooledShortcut) the models with
# Elastic-Link, which have those layers too, and links: each takes half a minute.
# random_weight_family makes each model once per run; tests/test_fold.py and
# tests/test_deploy.py read the same models.
CONVERTED = (el_zoo.list_models(include_research=False)
             + el_zoo.list_models(tags=("research",), elastic_link=True))


@pytest.mark.parametrize("name", CONVERTED)
def test_family_converts_and_matches_keras_on_real_images(
    name, cifar_images, calibrate_batch_norm
):
    images, _ = cifar_images
    # random weights, BN calibrated and binarizations cleared of zero on these images (the
    # same signs in Keras and LCE on any CPU); converted with the links as trained
    facts = random_weight_family(name, images, calibrate_batch_norm)
    ops = collections.Counter(tflite_op_names(facts.flatbuffer))
    custom = {op for op in ops if not op.isupper()}
    assert custom <= LCE_OPS, f"unexpected custom ops {custom - LCE_OPS}"
    assert ops["LceBconv2d"] == facts.binary_convs
    assert_same_logits(facts.logits,  # Keras' (inference mode)
                       interpreter_outputs(facts.flatbuffer, images),
                       convert_module.OUTPUT_TOLERANCE)


def test_verify_reports_agreement_and_difference(cifar_images, calibrate_batch_norm):
    images, _ = cifar_images
    model = clear_binarizations_of_zero(calibrate_batch_norm(tiny_binary_model()), images)
    report = verify(convert(model, verify_images=images), model, images)
    assert report["images"] == len(images)
    assert report["top1_agreement"] == 1.0 and report["max_abs_diff"] < 1e-4


def test_clearing_leaves_a_wrong_sign_in_the_conversion_visible(cifar_images,
                                                                calibrate_batch_norm):
    """clear_binarizations_of_zero only removes rounding ambiguity: a conversion that got
    one channel of a binary conv's sign wrong is still far outside the parity tolerance."""
    images, _ = cifar_images
    model = clear_binarizations_of_zero(calibrate_batch_norm(tiny_binary_model()), images)
    wrong = tf.keras.models.clone_model(model)
    wrong.set_weights(model.get_weights())
    conv = binary_pointwise_or_full_convs(wrong)[0]
    kernel = conv.kernel.numpy()
    kernel[..., 0] *= -1
    conv.kernel.assign(kernel)
    report = verify(convert(wrong, verify_images=0), model, images)
    # the family test allows OUTPUT_TOLERANCE (1e-4) * scale
    assert report["max_abs_diff"] > 100 * convert_module.OUTPUT_TOLERANCE, report


def test_convert_writes_the_file_atomically(tmp_path, monkeypatch):
    model = tiny_binary_model()
    clear_binarizations_of_zero(model, convert_module.verification_images(model))
    target = tmp_path / "model.tflite"
    assert convert(model, target) == target and target.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]

    def broken_converter(*args, **kwargs):
        raise RuntimeError("converter crashed")

    from larq_compute_engine.mlir.python import converter as lce_converter

    monkeypatch.setattr(lce_converter, "convert_saved_model", broken_converter)
    with pytest.raises(RuntimeError, match="converter crashed"):
        convert(model, tmp_path / "other.tflite")
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_dynamic_input_size_is_refused():
    model = el_zoo.load("resnet18", include_top=False, stem="cifar", width_multiplier=0.25)
    with pytest.raises(ValueError, match="dynamic input shape .* --input-size"):
        convert(model)


def test_non_float32_policy_is_refused():
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = el_zoo.load("resnet18", **SMALL)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(ValueError, match="LCE converts float32 models only"):
        convert_module.check_convertible(model)


def test_a_model_on_a_uint8_input_converts_to_a_file_that_takes_uint8_pixels(data_dir):
    """A model built on camera bytes (input_tensor=Input(..., dtype="uint8"), which el_zoo's
    models take as they take float32 pixels) converts to a file whose input is uint8, and
    interpreter_outputs feeds it so. Before: refused as "layer 'input_1' computes in uint8
    (dtype policy 'uint8'); LCE converts float32 models only. Rebuild it under
    tf.keras.mixed_precision.set_global_policy('float32')", which changed nothing."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    from el_zoo import data

    model = el_zoo.load("resnet26s.cifar10",
                        input_tensor=tf.keras.Input((32, 32, 3), dtype="uint8"))
    images, _, _ = data.load_split("cifar10", "test", data_dir=data_dir, limit=40)
    images = images_with_machine_independent_top1(model, images)
    flatbuffer = convert(model, verify_images=0)
    interpreter = Interpreter(flatbuffer)
    assert interpreter.input_types == [np.uint8]
    assert_interpreter_takes_models_top1(flatbuffer, model, images, "resnet26s.cifar10")
    outputs = interpreter.predict(images.astype(np.uint8))  # camera bytes, as they are
    assert np.allclose(interpreter_outputs(flatbuffer, images), outputs)
    described = convert_module.io_description(flatbuffer, model)
    assert described[0].startswith("input: uint8 [1, 32, 32, 3] (batch, height, width, RGB): "
                                   "RGB pixels in [0, 255] as decoded")


def test_a_uint8_input_file_is_fed_fractional_pixels_as_keras_casts_them(cifar_images):
    """interpreter_outputs (and so convert's parity check and verify) feeds a uint8 file
    float pixels cut to whole ones, as the Keras model's uint8 input does. Before: rounded,
    so pixels of a resize (12.7) went in as 13 and 12: resnet26s.cifar10 on a uint8 input
    agreed with Keras on 87 % of 100 test images shifted by 0.6, its own file."""
    inputs = tf.keras.Input((32, 32, 3), dtype="uint8")
    x = tf.keras.layers.Rescaling(1 / 255)(inputs)
    x = tf.keras.layers.Conv2D(8, 3, kernel_initializer=tf.keras.initializers.GlorotUniform(0))(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10, activation="softmax")(x))
    images = np.clip(cifar_images[0] + 0.6, 0, 255)
    flatbuffer = convert(model, verify_images=images)
    expected = model.predict(images, verbose=0)
    assert np.allclose(interpreter_outputs(flatbuffer, images), expected, rtol=0, atol=1e-6)


def test_convert_fails_loudly_and_writes_nothing_when_parity_breaks(tmp_path, monkeypatch):
    model = tiny_binary_model()

    def wrong_outputs(flatbuffer, images, num_threads=1):
        return np.roll(model.predict(images, verbose=0), 1, axis=-1)  # every top-1 moves

    monkeypatch.setattr(convert_module, "interpreter_outputs", wrong_outputs)
    target = tmp_path / "model.tflite"
    with pytest.raises(RuntimeError, match=r"top-1 agreement 0.0% \(< 99%\)") as error:
        convert(model, target)
    message = str(error.value)  # the measured cause and the way out, on one line
    assert "\n" not in message and "The file was not written." in message
    assert "binarizes lie within float rounding of zero" in message
    assert "TF_ENABLE_ONEDNN_OPTS=0" in message and "exact zeros" not in message
    assert message.endswith("pass verify_images=0 (el-zoo convert --no-verify).")
    assert not target.exists()
    assert convert(model, target, verify_images=0) == target  # the check can be skipped


def test_a_backbones_conversion_is_checked_by_its_features_values(monkeypatch):
    # its parity check took the arg-max of the features for a class: a conversion whose
    # features were all scaled (or all wrong but the largest) "agreed with Keras"
    model = small_backbone()
    monkeypatch.setattr(convert_module, "_convert_keras_model", lambda *a, **k: b"converted")

    def scaled_outputs(flatbuffer, images, num_threads=1):
        return 1.5 * model.predict(images, verbose=0)  # the same arg-max, other features

    monkeypatch.setattr(convert_module, "interpreter_outputs", scaled_outputs)
    with pytest.raises(RuntimeError, match=r"converted resnet18_el disagrees with Keras: its "
                                           r"outputs are features, compared by value: 0.0% of "
                                           r"images within 0.0001 of the largest output "
                                           r"\(< 99%\) over 8 images"):
        convert(model)


def test_a_backbone_converts_and_its_features_match_keras(cifar_images, calibrate_batch_norm):
    images, _ = cifar_images
    # 10 steps, as random_weight_family's: the features then differ by 1.7e-7 of the largest
    model = clear_binarizations_of_zero(calibrate_batch_norm(small_backbone(), steps=10),
                                        images)
    flatbuffer = convert(model, verify_images=images, fold=False)  # checked by value
    report = verify(flatbuffer, model, images)
    assert report["close_agreement"] == 1.0, report


def test_convert_by_name_with_an_input_size(cleared_loads):
    flatbuffer = convert("resnet18_el", input_size=32, verify_images=2)
    assert "LceBconv2d" in tflite_op_names(flatbuffer)


def test_int8_inputs_and_outputs_match_keras_within_one_step(cifar_images, calibrate_batch_norm):
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    images, _ = cifar_images
    model = clear_binarizations_of_zero(calibrate_batch_norm(tiny_binary_model()), images)
    flatbuffer = convert(model, inference_input_type=tf.int8, inference_output_type=tf.int8,
                         verify_images=images)  # verifies top-1 agreement itself
    interpreter = Interpreter(flatbuffer)
    assert interpreter.input_types == [np.int8] and interpreter.output_types == [np.int8]
    assert interpreter.input_scales == [1.0] and interpreter.input_zero_points == [-128]
    report = verify(flatbuffer, model, images)
    assert report["top1_agreement"] == 1.0
    assert report["max_abs_diff"] <= 1.01 / 255  # one output quantization step


def _softmax_head_as(form, prepare):
    """tiny_binary_model, passed through ``prepare``, with its final softmax in ``form``:
    each way Keras writes one."""
    if form == "Sequential([model])":  # a model of a softmax head, nested as a layer
        return tf.keras.Sequential([prepare(tiny_binary_model())])
    if form == "Dense(activation=tf.nn.softmax)":
        return prepare(tiny_binary_model(activation=tf.nn.softmax))
    logits = tiny_binary_model(softmax=False)
    head = {"Softmax()": tf.keras.layers.Softmax(),
            "Activation(tf.nn.softmax)": tf.keras.layers.Activation(tf.nn.softmax),
            "tf.nn.softmax(x)": tf.nn.softmax}[form]  # the op: Keras makes it a TFOpLambda
    return prepare(tf.keras.Model(logits.input, head(logits.output), name="tiny_binary"))


@pytest.mark.parametrize("form", ["Softmax()", "Activation(tf.nn.softmax)",
                                  "Dense(activation=tf.nn.softmax)", "Sequential([model])",
                                  "tf.nn.softmax(x)"])
def test_int8_outputs_of_any_final_softmax_match_keras(form, cifar_images,
                                                       calibrate_batch_norm):
    # before: "int8 outputs need a known output range; el_zoo gives them for probabilities
    # only (a final softmax)", of a model that ends in one
    images, _ = cifar_images
    model = _softmax_head_as(
        form, lambda model: clear_binarizations_of_zero(calibrate_batch_norm(model), images))
    flatbuffer = convert(model, inference_output_type=tf.int8, verify_images=images)
    report = verify(flatbuffer, model, images)  # dequantized outputs against Keras'
    assert report["top1_agreement"] == 1.0
    assert report["max_abs_diff"] <= 1.01 / 255  # one output quantization step
    assert convert_module.io_description(flatbuffer, model)[1] == (
        "output: int8 [1, 10]: probabilities of classes 0 to 9 (names not known); each int8 "
        "q stands for (q + 128) / 255")  # before: the line said nothing of the int8 scale


def test_int8_outputs_of_logits_are_refused(cifar_images, calibrate_batch_norm):
    images = cifar_images[0][:2]
    model = calibrate_batch_norm(tiny_binary_model(softmax=False))
    clear_binarizations_of_zero(model, images)
    with pytest.raises(ValueError, match="int8 outputs need a known output range"):
        convert(model, inference_output_type=tf.int8)
    assert convert(model, inference_input_type=tf.int8, verify_images=images)


def _sigmoid_head_as(form, images, calibrate_batch_norm):
    """A binary classifier ending in a sigmoid in ``form``, its binarized values cleared of
    zero on ``images`` and its bias splitting them two or more each way, none near 0.5:
    tiny_binary_model's features under ``Dense(1, activation="sigmoid")`` or ``Dense(1)``
    and ``Activation(tf.nn.sigmoid)`` or the op ``tf.nn.sigmoid(x)``, or el_zoo's head
    (quarter-width resnet18_el, ``classes=1, classifier_activation="sigmoid"``)."""
    if form == "el_zoo head, classes=1, sigmoid":
        model = el_zoo.load("resnet18_el", **{**SMALL, "classes": 1},
                            classifier_activation="sigmoid")
        clear_binarizations_of_zero(calibrate_batch_norm(model, steps=10), images)
        head = model.get_layer("predictions")
        logits = tf.keras.Model(model.input, head.output).predict(images, verbose=0)[:, 0]
        kernel, bias = head.get_weights()
        head.set_weights([kernel, bias + _splitting_shift(logits)])
        return model
    tiny = clear_binarizations_of_zero(calibrate_batch_norm(tiny_binary_model()), images)
    features = tf.keras.Model(tiny.input, tiny.layers[-2].output, name="tiny_features")
    bias = _splitting_bias(features, images)
    if form == "Dense(1, activation='sigmoid')":
        return _binary_head(features, "sigmoid", bias)
    logit = _binary_head(features, None, bias)
    sigmoid = (tf.nn.sigmoid if form == "tf.nn.sigmoid(x)"  # the op: a TFOpLambda layer
               else tf.keras.layers.Activation(tf.nn.sigmoid))
    return tf.keras.Model(logit.input, sigmoid(logit.output), name="binary")


@pytest.mark.parametrize("form", ["Dense(1, activation='sigmoid')", "Activation(tf.nn.sigmoid)",
                                  "tf.nn.sigmoid(x)", "el_zoo head, classes=1, sigmoid"])
def test_int8_outputs_of_a_final_sigmoid_are_its_probability_checked_by_decisions(
        form, cifar_images, calibrate_batch_norm):
    """A sigmoid's [0, 1] is as known as a softmax's: the file's int8 output is that
    probability in 1/255 steps (scale 1/255, zero point -128, as LCE quantizes the
    softmax's), converted with the parity check of the binary decision, and described so
    that an app draws the line where Keras does (int8 q >= 0). Before: refused, "int8
    outputs need a known output range; el_zoo gives them for probabilities only (a final
    softmax ...)"."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    images, _ = cifar_images
    model = _sigmoid_head_as(form, images, calibrate_batch_norm)
    positive = model.predict(images, verbose=0)[:, 0] > 0.5
    assert 2 <= positive.sum() <= len(images) - 2  # both decisions are checked
    flatbuffer = convert(model, inference_output_type=tf.int8, verify_images=images)
    interpreter = Interpreter(flatbuffer)
    assert interpreter.output_types == [np.int8]
    assert interpreter.output_zero_points == [-128]
    np.testing.assert_allclose(interpreter.output_scales, [1 / 255], rtol=1e-6)
    report = verify(flatbuffer, model, images)  # dequantized outputs against Keras'
    assert report["decision_agreement"] == 1.0, report
    assert report["max_abs_diff"] <= 1.01 / 255, report  # one output quantization step
    assert convert_module.io_description(flatbuffer, model, ["cat", "dog"])[1] == (
        "output: int8 [1, 1]: one probability (sigmoid) per image: dog above 0.5 (int8 q >= "
        "0), else cat; each int8 q stands for (q + 128) / 255")
    raw = np.concatenate([interpreter.predict(image[None]) for image in images])[:, 0]
    assert ((raw >= 0) == positive).all()  # the line as described


def test_int8_outputs_of_a_binary_logit_are_refused_naming_a_sigmoid(monkeypatch):
    # a logit has no known range, and a sigmoid after it gives the same decisions in
    # [0, 1]; before, the message spoke of a softmax only, of no use to one output
    inputs = tf.keras.Input((8, 8, 3))
    logit = tf.keras.layers.Dense(1, name="logit")(
        tf.keras.layers.GlobalAveragePooling2D()(inputs))
    binary = tf.keras.Model(inputs, logit, name="binary")
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *args, **kwargs: pytest.fail("converted before the check"))
    with pytest.raises(ValueError, match=re.escape(
            "binary: int8 outputs need a known output range, but its single output is a "
            "binary classifier's logit (its last layer 'logit' has activation 'linear'), of "
            "no bounded range: end it in a sigmoid, keras.Model(model.input, "
            "keras.layers.Activation('sigmoid')(model.output)) (the same decisions")):
        convert(binary, inference_output_type=tf.int8, verify_images=0)


def test_layers_forced_into_training_mode_are_refused():
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.BatchNormalization(name="forced_bn")(inputs, training=True)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ValueError, match="'forced_bn' is called with training=True"):
        convert(model)


def test_unsupported_inference_type_is_refused():
    model = el_zoo.load("resnet18", **SMALL)
    with pytest.raises(ValueError, match="must be tf.float32 or tf.int8"):
        convert(model, inference_input_type=tf.uint8)


def _binary_head(features, activation, bias=0.0):
    """A seeded ``Dense(1, activation=activation)`` head on the model ``features`` (a
    backbone, called as a layer as in fine-tuning), its bias set to ``bias``."""
    inputs = tf.keras.Input(features.input_shape[1:])
    head = tf.keras.layers.Dense(1, activation=activation, bias_initializer=tf.keras.
                                 initializers.Constant(bias),
                                 kernel_initializer=tf.keras.initializers.GlorotUniform(3))
    return tf.keras.Model(inputs, head(features(inputs, training=False)), name="binary")


def _splitting_bias(features, images):
    """A bias for ``_binary_head(features, ...)`` that puts its zero in the widest gap
    between the seeded head's logits on ``images`` that leaves two images or more on each
    side: both decisions occur, and no logit lies near the threshold."""
    return _splitting_shift(_binary_head(features, None).predict(images, verbose=0)[:, 0])


def _splitting_shift(logits):
    """What to add to ``logits`` to put their zero in their widest gap that leaves two or
    more of them on each side."""
    logits = np.sort(logits)
    i = 1 + int(np.argmax(np.diff(logits)[1:-1]))  # between logits[i] and logits[i + 1]
    return -float(logits[i] + logits[i + 1]) / 2


@pytest.mark.parametrize("activation, threshold", [("sigmoid", 0.5), (None, 0.0)])
def test_a_binary_classifier_converts_checked_by_its_decisions(
        activation, threshold, cifar_images, calibrate_batch_norm):
    """A seeded backbone under Dense(1, activation="sigmoid") or Dense(1) (a logit)
    converts with the parity check on, which compares the decision (a sigmoid's output
    > 0.5, a logit > 0) on every image. Before: refused, "M has a single output, and
    convert checks the interpreter against Keras by top-1 class ...: pass verify_images=0"."""
    images, _ = cifar_images
    features = clear_binarizations_of_zero(calibrate_batch_norm(small_backbone(), steps=10),
                                           images)
    model = _binary_head(features, activation, _splitting_bias(features, images))
    decisions = model.predict(images, verbose=0)[:, 0] > threshold
    assert 2 <= decisions.sum() <= len(images) - 2  # both decisions are checked
    flatbuffer = convert(model, verify_images=images)  # checked: it would raise
    assert convert_module.decision_threshold(model) == threshold
    report = verify(flatbuffer, model, images)
    assert report["decision_agreement"] == 1.0 and report["top1_agreement"] is None, report
    assert report["max_abs_diff"] < 1e-4, report
    # what the file gives, for whoever runs it (before: "scores of classes 0 to 0")
    kind = "probability (sigmoid)" if threshold else "logit"
    assert convert_module.io_description(flatbuffer, model)[1].endswith(
        f": one {kind} per image: the positive class above {threshold}")


def _binary_classifier(form):
    """A binary classifier on a seeded backbone, whose head is ``form``."""
    if form == "el_zoo head, classes=1, sigmoid":
        tf.keras.utils.set_random_seed(0)
        return el_zoo.load("resnet18_el", **{**SMALL, "classes": 1},
                           classifier_activation="sigmoid")
    if form == "Activation(tf.nn.sigmoid)":
        logit = _binary_head(small_backbone(), None)
        return tf.keras.Model(logit.input, tf.keras.layers.Activation(tf.nn.sigmoid)(
            logit.output), name="binary")
    return _binary_head(small_backbone(), {"Dense(1, activation='sigmoid')": "sigmoid",
                                           "Dense(1)": None}[form])


@pytest.mark.parametrize("form", ["Dense(1, activation='sigmoid')", "Dense(1)",
                                  "Activation(tf.nn.sigmoid)", "el_zoo head, classes=1, sigmoid"])
def test_a_binary_classifier_whose_decisions_differ_is_refused(form, tmp_path, monkeypatch):
    model = _binary_classifier(form)
    threshold = 0.0 if form == "Dense(1)" else 0.5
    monkeypatch.setattr(convert_module, "_convert_keras_model", lambda *a, **k: b"converted")

    def flipped_outputs(flatbuffer, images, num_threads=1):
        # every output mirrored about the threshold: every decision flips
        return 2 * threshold - model.predict(images, verbose=0)

    monkeypatch.setattr(convert_module, "interpreter_outputs", flipped_outputs)
    target = tmp_path / "model.tflite"
    with pytest.raises(RuntimeError, match=rf"converted {model.name} disagrees with Keras: "
                                           rf"agreement of its single output's decision "
                                           rf"\(output > {threshold:g}\) 0.0% \(< 99%\) over "
                                           rf"8 images, max \|diff\| "):
        convert(model, target)
    assert not target.exists()
    assert convert_module.decision_threshold(model) == threshold


@pytest.mark.parametrize("last, says", [
    ("tanh", "last layer 'tanh_head' has activation 'tanh'"),
    ("Lambda", r"last layer 'doubled' has no activation \(Lambda\)")])
def test_a_single_output_of_unknown_activation_is_refused_before_converting(
        last, says, monkeypatch):
    # before: every single output was refused so; a sigmoid's or a logit's are now checked
    # by their decisions (above), and only an output whose threshold el_zoo cannot tell is
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.layers.Conv2D(4, 3)(inputs))
    if last == "tanh":
        x = tf.keras.layers.Dense(1, activation="tanh", name="tanh_head")(x)
    else:
        x = tf.keras.layers.Lambda(lambda t: 2 * t, name="doubled")(tf.keras.layers.Dense(1)(x))
    binary = tf.keras.Model(inputs, x)
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *args, **kwargs: pytest.fail("converted before the check"))
    with pytest.raises(ValueError, match=rf"has a single output, which convert checks by its "
                                         rf"binary decision .* but its {says}, which tells "
                                         rf"neither: .*pass verify_images=0"):
        convert(binary)
    monkeypatch.undo()
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    for skip in (0, np.int64(0), None):  # the outputs compared by the user instead
        report = verify(convert(binary, verify_images=skip), binary, images)
        assert report["max_abs_diff"] < 1e-4 and report["decision_agreement"] is None
    assert convert_module.decision_threshold(binary) is None


@pytest.mark.parametrize("activation, threshold", [("sigmoid", 0.5), (None, 0.0)])
def test_a_binary_classifiers_class_names_are_its_negative_then_positive_class(
        activation, threshold, tmp_path, monkeypatch):
    """Two names, label 0's then label 1's (image_dataset_from_directory's sorted
    class_names), written to the labels file and named by io_description; another count is
    refused before converting. Before: ['cat', 'dog'] was refused as "2 class names for M,
    which has 1 outputs.", and ['dog'] was accepted, a one-line labels file."""
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Dense(1, activation=activation)(
        tf.keras.layers.GlobalAveragePooling2D()(inputs))
    binary = tf.keras.Model(inputs, x, name="binary")
    target = tmp_path / "binary.tflite"
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *args, **kwargs: pytest.fail("converted before the check"))
    for names in (["dog"], ["cat", "dog", "frog"]):
        with pytest.raises(ValueError, match=re.escape(
                "binary has a single output (a binary classifier: the score of its positive "
                "class), so class_names takes two names, the negative class then the positive "
                f"one, e.g. ['cat', 'dog']; got {len(names)}: {names}.")):
            convert(binary, target, verify_images=0, class_names=names)
    monkeypatch.undo()
    assert not target.exists()
    convert(binary, target, verify_images=0, class_names=["cat", "dog"])
    assert convert_module.labels_path(target).read_text().splitlines() == ["cat", "dog"]
    kind = "probability (sigmoid)" if threshold else "logit"
    described = convert_module.io_description(target.read_bytes(), binary, ["cat", "dog"])
    assert described[1].endswith(f": one {kind} per image: dog above {threshold}, else cat")
    assert convert_module.io_description(target.read_bytes(), binary)[1].endswith(
        f": one {kind} per image: the positive class above {threshold}")  # names not known


def test_an_input_size_for_a_model_of_another_size_is_refused(tmp_path):
    # it was ignored: convert(model, input_size=64) wrote a 32x32 file without a word
    model = el_zoo.load("resnet18_el", **SMALL)
    with pytest.raises(ValueError, match=r"input_size=64 builds a registered model by name "
                                         r"at that size, but resnet18_el is a model of input "
                                         r"shape \(None, 32, 32, 3\): rebuild it with "
                                         r"input_shape=\(64, 64, 3\)"):
        convert(model, tmp_path / "model.tflite", input_size=64)
    assert not (tmp_path / "model.tflite").exists()
    assert convert_module._as_model(model, input_size=32) is model  # its own size: as given


@pytest.mark.parametrize("verify_images, problem", [
    (True, "got True"), (2.5, "got 2.5"), ("8", "got '8'"),
    (np.zeros((2, 64, 64, 3)), r"got an array of shape \(2, 64, 64, 3\)"),
    (-3, "verify_images=-3 is negative")])
def test_a_verify_images_that_is_no_count_and_no_images_is_refused_before_converting(
        monkeypatch, verify_images, problem):
    # True failed in numpy ("an integer is required"), 2.5 and "8" in an IndexError, after
    # the conversion; -3 skipped the check without a word
    model = el_zoo.load("resnet18_el", **SMALL)
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *args, **kwargs: pytest.fail("converted before the check"))
    with pytest.raises((TypeError, ValueError), match=problem):
        convert(model, verify_images=verify_images)


@pytest.mark.parametrize("count, counted", [(3, "this batch of 3 images"), (1, "this image")])
def test_verify_images_scaled_to_0_1_are_refused_before_converting(monkeypatch, count, counted):
    # the parity check's model.predict failed on them after the conversion, in TensorFlow's
    # long InvalidArgumentError from Standardize's assertion; a single image passed (a
    # nearly black photo?), and the parity check compared garbage with garbage
    model = el_zoo.load("resnet18_el", **SMALL)
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *args, **kwargs: pytest.fail("converted before the check"))
    scaled = np.random.default_rng(0).uniform(0, 1, (count, 32, 32, 3))
    with pytest.raises(ValueError, match=rf"^verify_images must be RGB pixels in \[0, 255\] as "
                                         rf"decoded: .*; {counted} has every pixel "
                                         r"in \[0, 1\].*remove the /255 scaling") as refused:
        convert(model, verify_images=scaled)
    assert "\n" not in str(refused.value)


def test_a_single_dark_verify_frame_of_whole_pixels_is_converted(monkeypatch):
    # pixels 0 and 1, as decoded (sensor noise): whole, so not pixels divided by 255
    class Converting(Exception):
        """Raised where the conversion begins: the check let the image through."""

    def converting(*args, **kwargs):
        raise Converting

    monkeypatch.setattr(convert_module, "_convert_keras_model", converting)
    dark = np.random.default_rng(0).integers(0, 2, (1, 32, 32, 3)).astype("float32")
    with pytest.raises(Converting):
        convert(el_zoo.load("resnet18_el", **SMALL), verify_images=dark)


def test_convert_writes_the_class_order_beside_the_file_and_says_what_it_takes(tmp_path):
    """A fine-tuned head's class order, given as class_names=, is written beside the .tflite
    (m.labels.txt); a later conversion to that path without names removes it (it would name
    the other model's classes); io_description says what the file takes and gives, int8
    included, and for a model without el_zoo's Standardize (this one scales by 1/255 itself)
    that el_zoo cannot tell [0, 255] from [0, 1]. Before: no file held the class order, and
    nothing said what a .tflite takes."""
    model = tiny_binary_model()
    target = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="3 class names for .* which has 10 outputs"):
        convert(model, target, class_names=["cat", "dog", "frog"])  # before converting
    assert not target.exists()
    names = [f"class {c}" for c in "abcdefghij"]
    convert(model, target, verify_images=0, class_names=names)
    labels = convert_module.labels_path(target)
    assert labels == tmp_path / "m.labels.txt"
    assert labels.read_text().splitlines() == names
    described = convert_module.io_description(target.read_bytes(), model, names)
    assert described[0].startswith("input: float32 [1, 32, 32, 3] (batch, height, width, RGB)")
    assert "no el_zoo Standardize layer" in described[0] and "[0, 1]" in described[0]
    assert described[1] == f"output: float32 [1, 10]: probabilities of {', '.join(names)}, " \
                           "in this order"

    convert(model, target, verify_images=0, inference_input_type=tf.int8)
    assert not labels.exists()  # no names known now: the stale ones are gone
    described = convert_module.io_description(target.read_bytes(), model)
    assert described[0].startswith("input: int8 [1, 32, 32, 3] (batch, height, width, RGB): "
                                   "pixel - 128 for pixels in [0, 255]; the pixels: what")
    assert described[1].endswith("probabilities of classes 0 to 9 (names not known)")


def test_a_published_models_file_is_said_to_take_pixels_in_0_to_255_in_class_order():
    model = el_zoo.load("resnet26s.cifar10")
    published = el_zoo.pretrained.MODELS_DIR / "resnet26s.cifar10" / "model.tflite"
    described = convert_module.io_description(published.read_bytes(), model, model.class_names)
    assert described == [
        "input: float32 [1, 32, 32, 3] (batch, height, width, RGB): RGB pixels in [0, 255] as "
        "decoded, not scaled to [0, 1] nor standardised (the model standardises them itself)",
        "output: float32 [1, 10]: probabilities of airplane, automobile, bird, cat, deer, dog, "
        "frog, horse, ship, truck, in this order"]


def test_a_file_of_centre_cropped_weights_is_said_to_take_centre_crops():
    """resnet18_el.imagenette's images are decoded at 146 and centre-cropped to 128: its
    file, and that of a new head on its backbone, are said to take such crops. Before: "as
    decoded", with the input shape [1, 128, 128, 3], so a phone app squashed whole images
    to 128, which costs accuracy (docs/reliability.md)."""
    published = el_zoo.pretrained.MODELS_DIR / "resnet18_el.imagenette" / "model.tflite"
    crops = ("RGB pixels in [0, 255] as decoded at 146x146, then centre-cropped to 128x128, "
             "not scaled to [0, 1]")
    model = el_zoo.load("resnet18_el.imagenette")
    assert crops in convert_module.io_description(published.read_bytes(), model)[0]
    backbone = el_zoo.load("resnet18_el.imagenette", include_top=False, pooling="avg")
    inputs = tf.keras.Input((128, 128, 3))
    tuned = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(
        backbone(inputs, training=False)))
    assert crops in convert_module.io_description(published.read_bytes(), tuned)[0]
    inputs = tf.keras.Input((160, 160, 3))  # at another size it takes whole images
    tuned = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(backbone(inputs)))
    assert "as decoded, not scaled" in convert_module.io_description(
        published.read_bytes(), tuned)[0]


def test_centre_crops_are_said_of_a_square_input_at_any_depth():
    """Of a fine-tuned head on resnet18_el.imagenette's backbone (146, centre crop 128):
    nested once more (Sequential([tuned])), its file takes the crops, as predict and
    evaluate decode them; at 128x160, whole images. Before: the nested model's were said to
    be whole images (and predict squashed them to 128), and the 128x160 file was said to
    take 128x128 crops (decode_sizes compared the height only)."""
    published = el_zoo.pretrained.MODELS_DIR / "resnet18_el.imagenette" / "model.tflite"
    backbone = el_zoo.load("resnet18_el.imagenette", include_top=False, pooling="avg")
    inputs = tf.keras.Input((128, 128, 3))
    tuned = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(
        backbone(inputs, training=False)))
    wrapped = tf.keras.Sequential([tuned])
    assert "as decoded at 146x146, then centre-cropped to 128x128," in \
        convert_module.io_description(published.read_bytes(), wrapped)[0]
    evaluate_module = importlib.import_module("el_zoo.evaluate")
    pre = evaluate_module._model_preprocessing(wrapped, named=True)
    assert (pre["resize"], pre["crop"]) == (146, 128)
    inputs = tf.keras.Input((128, 160, 3))
    wide = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(backbone(inputs)))
    assert "as decoded, not scaled" in convert_module.io_description(
        published.read_bytes(), wide)[0]


def test_convert_refuses_a_head_that_rescales_pixels_before_the_backbone(monkeypatch):
    # the file took [0, 255] pixels, as io_description said, into a backbone that saw them
    # as [0, 1] (Keras' Rescaling(1/255) before the base model), and converted without a word
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *a, **k: pytest.fail("converted"))
    inputs = tf.keras.Input((32, 32, 3))
    features = small_backbone()(tf.keras.layers.Rescaling(1 / 255)(inputs), training=False)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, activation="softmax")(features))
    with pytest.raises(ValueError, match=r"convert: model.* rescales its input pixels before "
                                         r"el_zoo's model 'resnet18_el', in layer\(s\) "
                                         r"'rescaling.*': pixels 0 and 255 reach it as 0 and 1"):
        convert(model, verify_images=0)


def test_convert_refuses_a_subclassed_model_that_rescales_pixels_in_its_call(monkeypatch):
    # its call() fed the backbone [0, 1] pixels, which no graph shows: converted without a
    # word, the file said to take [0, 255] pixels
    monkeypatch.setattr(convert_module, "_convert_keras_model",
                        lambda *a, **k: pytest.fail("converted"))
    inner = SubclassedHead(small_backbone(), tf.keras.layers.Rescaling(1 / 255), name="inner")
    model = tf.keras.Sequential([tf.keras.Input((32, 32, 3)), inner])
    with pytest.raises(ValueError, match=r"convert: sequential\w* rescales its input pixels "
                                         r"before el_zoo's model 'resnet18_el', in the "
                                         r"call\(\) of 'inner': pixels 0 and 255 reach it as 0 "
                                         r"and 1"):
        convert(model, verify_images=0)


def serving_graph_op_types(model):
    """The types of the ops in the SavedModel ``convert`` hands the converter, its
    functions' included."""
    from tensorflow.core.protobuf import saved_model_pb2

    with convert_module.serving_saved_model(model) as folder:
        saved = saved_model_pb2.SavedModel.FromString((Path(folder) / "saved_model.pb")
                                                      .read_bytes())
    graph = saved.meta_graphs[0].graph_def
    return {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def}


def test_standardizes_check_of_scaled_pixels_stays_out_of_the_converted_file(
        toy_family, monkeypatch):
    """Standardize refuses pixels scaled to [0, 1] in Keras' calls (tests/test_layers.py);
    the graph a converter reads is traced without that check, and the file is the one of
    the model without it."""
    model = el_zoo.load("toy_net_el", **SMALL)
    assert not {"Assert", "If", "StatelessIf"} & serving_graph_op_types(model)
    converted = convert(model, verify_images=0)
    monkeypatch.setattr(importlib.import_module("el_zoo.layers"), "check_pixels_not_scaled",
                        lambda images: images)
    assert convert(model, verify_images=0) == converted
