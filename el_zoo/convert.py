"""Conversion to TFLite with Larq Compute Engine (LCE), and Keras-vs-interpreter parity.

Binary convolutions become LCE's ``LceBconv2d``; Elastic-Links are first folded into their
neighbours (``el_zoo.fold``), and what is left of them becomes plain TFLite ops (add, and
where needed average pool, tile, reshape, mean, mul).
"""

import contextlib
import numbers
import os
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from el_zoo import data
from el_zoo._keras import keras
from el_zoo.arguments import is_number
from el_zoo.atomic import check_writable, write_bytes_atomically, write_text_atomically
from el_zoo.builder import load
from el_zoo.errors import ConversionMismatch
from el_zoo.fold import fold_elastic_links
from el_zoo.hub import user_path
from el_zoo.layers import (Standardize, check_class_names, check_pixels_not_scaled,
                           check_pixels_reach_standardize, decision_threshold,
                           ends_in_probabilities, gives_scores_per_image, has_single_output,
                           last_activation_text, no_pixel_range_check)
from el_zoo.model_record import class_names_of
from el_zoo.pretrained import decode_sizes
from el_zoo.registry import TFLITE_SUFFIX, split_name


def _as_model(model_or_name, input_size=None):
    """The model ``convert`` converts: ``model_or_name`` itself, or the registered name built
    at ``input_size``. A model's own size is fixed: another ``input_size`` for it is refused
    (it was ignored, and the file took another size than asked for)."""
    if isinstance(model_or_name, keras.Model):
        shape = model_or_name.input_shape
        if input_size is not None and (isinstance(shape, list) or
                                       tuple(shape[1:3]) != (input_size, input_size)):
            raise ValueError(
                f"input_size={input_size} builds a registered model by name at that size, "
                f"but {model_or_name.name} is a model of input shape {shape}: rebuild it with "
                f"input_shape=({input_size}, {input_size}, 3), or leave input_size out."
            )
        return model_or_name
    arch, tag = split_name(model_or_name)
    kwargs = {}
    if input_size is not None:
        kwargs["input_shape"] = (input_size, input_size, 3)
    return load(model_or_name, **kwargs) if tag else load(arch, **kwargs)


def check_convertible(model):
    """Raises a clear error for what LCE cannot convert into a fixed-shape model."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError(f"{model.name} has {len(shape)} inputs; convert takes single-input models.")
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"{model.name} has a dynamic input shape {shape}; TFLite needs a fixed size. "
            "Rebuild it with input_shape=(H, W, 3) (for a name: --input-size N)."
        )
    for layer in model.layers:
        for node in layer.inbound_nodes:
            if node.call_kwargs.get("training") is True:
                raise ValueError(
                    f"{model.name}: layer {layer.name!r} is called with training=True inside "
                    "the model, so its training-mode behaviour (batch statistics, dropout, "
                    "noise) would be frozen into the TFLite file. Rebuild the model without "
                    "training=True in that call."
                )
        # an input layer computes nothing: its dtype is the pixels' (uint8 ones, as decoded,
        # which the file then takes), not a reduced-precision policy
        policy = None if isinstance(layer, keras.layers.InputLayer) else \
            getattr(layer, "dtype_policy", None)
        if policy is not None and getattr(policy, "compute_dtype", "float32") != "float32":
            raise ValueError(
                f"{model.name}: layer {layer.name!r} computes in {policy.compute_dtype} "
                f"(dtype policy {policy.name!r}); LCE converts float32 models only. Rebuild "
                "it under tf.keras.mixed_precision.set_global_policy('float32') and load the "
                "weights."
            )


MIN_AGREEMENT = 0.99
# How close the interpreter's outputs must be to Keras' for an image to agree, when they are
# compared by value (features: ``_compared_by_value``): within this fraction of the largest
# |Keras output| over the images checked. Every family's random-weight conversion keeps to
# it (tests/test_convert.py); the published backbones (resnet18_el.cifar10 and
# reactnet_a_el.cifar10, include_top=False, pooling="avg") measured within 2e-6.
OUTPUT_TOLERANCE = 1e-4


def verification_images(model, count=8, data_dir=None):
    """Real CIFAR-10 test images resized to the model's input when a data folder is set,
    else seeded random pixels; whole numbers in [0, 255] as float32, like decoded images."""
    height, width = model.input_shape[1:3]
    try:
        images, _, _ = data.load_split("cifar10", "test", data_dir=data_dir, limit=count)
        resized = tf.image.resize(images.astype(np.float32), (height, width)).numpy()
        return np.round(resized)
    except (ValueError, FileNotFoundError):
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (count, height, width, 3)).astype(np.float32)


def convert(
    model_or_name,
    output_path=None,
    *,
    inference_input_type=tf.float32,
    inference_output_type=tf.float32,
    target="arm",
    input_size=None,
    verify_images=8,
    fold=True,
    class_names=None,
):
    """Converts a Keras model (or a registered name) to an LCE TFLite flatbuffer.

    The file takes what the Keras model takes: for el_zoo's models, RGB pixels in [0, 255]
    (float32, or int8 ``pixel - 128``), batch of 1, height, width, channels; they
    standardise the pixels themselves, so pixels scaled to [0, 1] give wrong answers without
    an error (``io_description`` says it all of a file). Its outputs are in the model's class
    order, which ``labels_path(output_path)`` lists beside the file.

    Arguments:
        model_or_name: a Keras model, or a registered name (``"resnet26_el"`` or
            ``"resnet26_el.cifar10"``) to build with ``input_size``.
        input_size: the square input size to build a name at; a model keeps its own (another
            is an error).
        output_path: where to write the file (atomically), a path ending ``.tflite``
            (another is an error, before converting); None returns the bytes.
        inference_input_type, inference_output_type, target: as for
            ``larq_compute_engine.convert_keras_model``. An int8 input is a pixel in
            [0, 255] as ``pixel - 128`` (scale 1): only for models that take [0, 255] pixels,
            as el_zoo's do (a model taking [0, 1] would see 0 or 1; verification, on
            [0, 255] pixels, cannot tell). An int8 output is a probability in [0, 1] as
            ``q`` for ``(q + 128) / 255``: only for models that end in a softmax or a
            sigmoid (``ends_in_probabilities``; a binary classifier's logit is told to add
            a sigmoid), refused before converting for others.
        verify_images: an int (how many images: real CIFAR-10 test images when
            ``$EL_ZOO_DATA`` is set, else random pixels), an array of images, or 0/None to
            skip. The LCE interpreter and Keras must agree on top-1 for at least 99 % of
            them, or conversion fails (int8 files too: their outputs dequantized); a binary
            classifier's single output (``Dense(1)`` or ``Dense(1, activation="sigmoid")``)
            must agree on its decision instead (``decision_threshold``: a logit > 0, a
            sigmoid's > 0.5), and a model of a single output ending in another activation,
            or in a layer of none, is refused before converting (pass 0); the features of
            a backbone (``include_top=False``, or any output that is not one row of scores
            per image) must agree by value instead, within ``OUTPUT_TOLERANCE`` of their
            largest output.
        fold: convert the deployment form of the Elastic-Links
            (``el_zoo.fold.fold_elastic_links``: same outputs, fewer ops); False converts
            them as trained. The parity check compares with the model as given.
        class_names: the names of the model's classes in its output order (a fine-tuned
            head's, as ``el_zoo.predict`` takes them); by default those ``el_zoo.load``
            recorded (a published model's). A binary classifier of a single output (one
            ``decision_threshold`` knows) takes two names, the negative class then the
            positive one (Keras' labels 0 and 1: ``image_dataset_from_directory``'s
            sorted ``class_names``); any other count is refused before converting. When
            known, they are written one a line to ``labels_path(output_path)``
            (``m.tflite``: ``m.labels.txt``), the labels file TFLite's image classifiers
            read; when not, a labels file left there by an earlier conversion is removed
            (it would name another model's classes).

    Returns:
        The flatbuffer bytes, or ``output_path`` after writing it.
    """
    if output_path is not None:
        output_path = user_path(output_path, "output_path")  # ~ as a shell expands it
        # now, not after a minute of conversion
        check_writable(output_path, suffix=TFLITE_SUFFIX)
    model = _as_model(model_or_name, input_size)
    check_convertible(model)
    check_pixels_reach_standardize(model, "convert")
    verify_images = _checked_verify_images(model, verify_images)
    _check_verifiable(model, verify_images)
    for io_type in (inference_input_type, inference_output_type):
        if io_type not in (tf.float32, tf.int8):
            raise ValueError(f"inference types must be tf.float32 or tf.int8; got {io_type}.")
    if inference_output_type == tf.int8:
        _check_int8_output_range(model)
    if not isinstance(fold, bool):
        raise TypeError(f"fold must be True or False; got {fold!r}.")
    if class_names is not None:
        check_class_names(model, class_names)
    deployed = fold_elastic_links(model) if fold else model
    flatbuffer = _convert_keras_model(
        _with_int8_ranges(deployed, inference_input_type, inference_output_type),
        inference_input_type=inference_input_type,
        inference_output_type=inference_output_type,
        target=target,
    )
    if _verifies(verify_images):
        _check_parity(flatbuffer, model, verify_images)
    if output_path is None:
        return flatbuffer
    write_bytes_atomically(output_path, flatbuffer)
    _write_labels(output_path, class_names if class_names is not None
                  else class_names_of(model))
    return Path(output_path)


# The labels file ``convert`` writes beside a .tflite file: ``m.tflite`` -> ``m.labels.txt``.
LABELS_SUFFIX = ".labels.txt"


def labels_path(tflite_path):
    """The labels file beside the .tflite file ``tflite_path``: its classes' names, one a
    line, line i naming output i, or for a binary classifier's single output its negative
    class, then its positive one (``m.tflite`` -> ``m.labels.txt``)."""
    path = Path(tflite_path)
    return path.with_name(path.name[:-len(TFLITE_SUFFIX)] + LABELS_SUFFIX)


def _write_labels(tflite_path, class_names):
    """Writes ``class_names`` to ``labels_path(tflite_path)``; with None, removes a labels
    file there: written for an earlier file of that name, it would name the wrong classes
    (a fine-tuned head's file named with the published model's CIFAR-10 classes)."""
    path = labels_path(tflite_path)
    if class_names is None:
        path.unlink(missing_ok=True)
    else:
        write_text_atomically(path, "".join(f"{name}\n" for name in class_names))


def io_description(flatbuffer, model, class_names=None):
    """Two lines that say what a converted ``model``'s file takes and gives, for whoever
    runs it elsewhere (a phone): its input tensor's type and shape and the pixels it takes
    (el_zoo's models: RGB in [0, 255], which they standardise themselves; [0, 1] would be
    wrong without an error), and its output's, with the class order when ``class_names``
    are known (a binary classifier's two: the negative class, then the positive one)."""
    model_ = schema.ModelT.InitFromPackedBuf(bytes(flatbuffer), 0)
    graph = model_.subgraphs[0]
    tensor_in, tensor_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    if _standardizes_pixels(model):
        pixels = (f"RGB pixels in [0, 255] as decoded{_crop_text(model)}, not scaled to "
                  "[0, 1] nor standardised (the model standardises them itself)")
    else:  # a model of one's own: it may take [0, 1], which convert's check cannot tell
        pixels = ("what the Keras model takes: it has no el_zoo Standardize layer, so el_zoo "
                  "cannot tell RGB pixels in [0, 255] (what convert checked it on) from [0, 1]")
    if tensor_in.type == schema.TensorType.INT8:  # _with_int8_ranges: scale 1, zero point -128
        pixels = f"pixel - 128 for pixels in [0, 255]; the pixels: {pixels}"
    scores = "probabilities" if ends_in_probabilities(model) else "scores"
    int8 = tensor_out.type == schema.TensorType.INT8  # _with_int8_ranges: [0, 1] in 1/255 steps
    threshold = decision_threshold(model)
    if threshold is not None:  # "scores of classes 0 to 0" said nothing of a binary classifier
        kind = "probability (sigmoid)" if threshold else "logit"
        negative, positive = (class_names if class_names is not None and len(class_names) == 2
                              else (None, "the positive class"))
        outputs = f"one {kind} per image: {positive} above {threshold}"
        if int8:  # an app compares the int8 number, not the probability it stands for
            outputs += f" (int8 q >= {_least_int8_above(tensor_out, threshold)})"
        if negative is not None:
            outputs += f", else {negative}"
    elif class_names is not None:
        outputs = f"{scores} of {', '.join(class_names)}, in this order"
    elif _compared_by_value(model):
        outputs = "features"
    else:
        outputs = f"{scores} of classes 0 to {model.output_shape[-1] - 1} (names not known)"
    if int8:
        outputs += f"; each int8 q stands for {_int8_value_text(tensor_out)}"
    return [f"input: {_tensor_text(tensor_in)} (batch, height, width, RGB): {pixels}",
            f"output: {_tensor_text(tensor_out)}: {outputs}"]


def _quantization(tensor):
    """(scale, zero point) of a flatbuffer's int8 tensor."""
    return float(tensor.quantization.scale[0]), int(tensor.quantization.zeroPoint[0])


def _dequantized(values, scale, zero_point):
    """The values int8 ``values`` stand for, with their tensor's ``scale`` and
    ``zero_point``, in float32 as ``interpreter_outputs`` gives them."""
    return (np.asarray(values).astype(np.float32) - zero_point) * np.float32(scale)


def _least_int8_above(tensor, threshold):
    """The least int8 value of the flatbuffer's ``tensor`` that stands for more than
    ``threshold`` (0 for a probability above 0.5 in 1/255 steps, zero point -128), found
    by dequantizing as ``verify`` does, so that both draw the line in the same place."""
    levels = np.arange(-128, 128)
    return int(levels[_dequantized(levels, *_quantization(tensor)) > threshold][0])


def _int8_value_text(tensor):
    """What an int8 value q of the flatbuffer's ``tensor`` stands for: '(q + 128) / 255'
    for scale 1/255 and zero point -128."""
    scale, zero_point = _quantization(tensor)
    shifted = f"q {'+' if zero_point < 0 else '-'} {abs(zero_point)}" if zero_point else "q"
    steps = round(1 / scale)
    return (f"({shifted}) / {steps}" if abs(1 / scale - steps) < 1e-3
            else f"({shifted}) * {scale:.6g}")


def _crop_text(model):
    """How images are cut to the input of ``model`` when the weights it holds were published
    centre-cropped (``decode_sizes``; resnet18_el.imagenette's: " at 146x146, then
    centre-cropped to 128x128"), else "". Why: squashed whole to the input size instead,
    as the shape alone suggests, that model loses accuracy (docs/reliability.md)."""
    resize, crop = decode_sizes(model)
    return f" at {resize}x{resize}, then centre-cropped to {crop}x{crop}" if crop else ""


def _tensor_text(tensor):
    """'float32 [1, 32, 32, 3]' of a flatbuffer's tensor."""
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    return f"{types[tensor.type]} {list(tensor.shape)}"


def _convert_keras_model(model, **options):
    """``larq_compute_engine.convert_keras_model`` made 3-4x faster, with the same bytes:
    LCE converts ``serving_saved_model(model)`` instead of the whole Keras model."""
    # LCE's converter loads its MLIR extension (~1 s): only when converting.
    from larq_compute_engine.mlir.python.converter import convert_saved_model

    with serving_saved_model(model) as saved_model_dir:
        return convert_saved_model(saved_model_dir, **options)


@contextlib.contextmanager
def serving_saved_model(model):
    """A temporary SavedModel folder holding only ``model``'s weights and its serving
    signature (inputs and outputs named as Keras names them), for a TFLite converter.

    Why: converters given a Keras model (LCE's ``convert_keras_model``, TensorFlow's
    ``TFLiteConverter.from_keras_model``) save it as a Keras SavedModel first, and Keras
    then traces every layer's call for it (~90 % of a conversion); the converters read
    only the serving signature. It is traced without ``Standardize``'s check of pixels
    scaled to [0, 1] (``el_zoo.layers.no_pixel_range_check``), a Keras-side check: the
    file keeps the ops it had without it.

    Example:
        ```python
        with serving_saved_model(model) as folder:
            flatbuffer = tf.lite.TFLiteConverter.from_saved_model(folder).convert()
        ```
    """
    input_name = model.inputs[0].name.split(":")[0]
    spec = tf.TensorSpec(model.input_shape, model.inputs[0].dtype, name=input_name)

    @tf.function(input_signature=[spec])
    def serve(images):
        return {model.output_names[0]: model(images, training=False)}

    module = tf.Module()
    module.weights = list(model.weights)  # tracked, so the SavedModel holds their values
    # Without the traced gradients of custom-gradient ops (Larq's quantizers), which a
    # converter never reads: about a quarter of the export, the same converted bytes.
    options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
    with tempfile.TemporaryDirectory() as saved_model_dir:
        with no_pixel_range_check():  # serve is traced here
            tf.saved_model.save(module, saved_model_dir,
                                signatures={"serving_default": serve}, options=options)
        yield saved_model_dir


def _fake_quant(tensor, low, high, name):
    quantize = keras.layers.Lambda(
        lambda t: tf.quantization.fake_quant_with_min_max_args(t, min=low, max=high, num_bits=8),
        name=name,
    )
    return quantize(tensor)


def _with_int8_ranges(model, input_type, output_type):
    """The model with the value ranges LCE needs to make int8 inputs or outputs.

    int8 input: pixels in [0, 255] become int8 ``pixel - 128`` (scale 1, zero point -128).
    int8 output: only for probabilities (``_check_int8_output_range``: a final softmax or
    sigmoid), in [0, 1] with 1/255 steps (scale 1/255, zero point -128).
    """
    if input_type != tf.int8 and output_type != tf.int8:
        return model
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = _fake_quant(inputs, 0.0, 255.0, "int8_input") if input_type == tf.int8 else inputs
    outputs = model(x)
    if output_type == tf.int8:
        outputs = _fake_quant(outputs, 0.0, 1.0, "int8_output")
    return keras.Model(inputs, outputs, name=model.name)


def _check_int8_output_range(model):
    """Refuses int8 outputs of ``model``, before converting, unless they are probabilities
    (``ends_in_probabilities``: a final softmax or sigmoid), whose range [0, 1] the int8
    scale is set from; a binary classifier's logit is told to end in a sigmoid, which makes
    it one without changing a decision."""
    if ends_in_probabilities(model):
        return
    if decision_threshold(model) == 0.0:  # a single logit
        raise ValueError(
            f"{model.name}: int8 outputs need a known output range, but its single output "
            f"is a binary classifier's logit (its {last_activation_text(model)}), of no "
            "bounded range: end it in a sigmoid, keras.Model(model.input, "
            "keras.layers.Activation('sigmoid')(model.output)) (the same decisions: the "
            "probability is above 0.5 where the logit is above 0), whose [0, 1] int8 gives "
            "in 1/255 steps, or use inference_output_type=tf.float32."
        )
    raise ValueError(
        f"{model.name}: int8 outputs need a known output range; el_zoo gives them for "
        "probabilities only, in [0, 1] (a final softmax or sigmoid: a last layer of "
        "activation 'softmax', 'sigmoid', tf.nn.softmax or tf.nn.sigmoid, "
        "keras.layers.Softmax(), or tf.nn.softmax(x) or tf.nn.sigmoid(x) on the output). "
        "Use inference_output_type=tf.float32 for logits or features."
    )


def _checked_verify_images(model, verify_images):
    """``verify_images`` as ``convert`` uses it (0 to skip, a count, or an array of images
    of the model's input shape), or a clear error before converting: ``True`` failed in
    numpy ("an integer is required"), ``2.5`` or ``"8"`` in an IndexError, each after a
    minute of conversion, and a negative count skipped the check without a word."""
    if verify_images is None or verify_images is False:
        return 0
    if is_number(verify_images, whole=True):
        if verify_images < 0:
            raise ValueError(f"verify_images={verify_images} is negative: give how many images "
                             "to check (8 by default), or 0 to skip the check.")
        return int(verify_images)
    shape = tuple(model.input_shape[1:])
    images = None if isinstance(verify_images, (str, bytes, numbers.Number)) \
        else np.asarray(verify_images)
    if images is None or images.ndim != 4 or tuple(images.shape[1:]) != shape \
            or not len(images) or not np.issubdtype(images.dtype, np.number):
        got = f"an array of shape {images.shape}" if images is not None else repr(verify_images)
        raise TypeError(
            f"verify_images must be how many images to check (a whole number; 8 by default), "
            f"an array of images of shape (N, {', '.join(map(str, shape))}) (RGB pixels in "
            f"[0, 255]) or 0/None to skip the check; got {got}."
        )
    _check_verify_pixels(model, images)
    return images


def _standardizes_pixels(model):
    """Whether ``model`` holds el_zoo's ``Standardize``, so takes RGB pixels in [0, 255]; a
    model of one's own without it may take [0, 1]."""
    return any(isinstance(layer, Standardize) for layer in model.submodules)


def _check_verify_pixels(model, images):
    """Refuses, before converting, ``verify_images`` scaled to [0, 1] for a model that
    standardises pixels itself, by ``Standardize``'s own check (``check_pixels_not_scaled``,
    which leaves integer pixels alone): the parity check's ``model.predict`` failed on them
    after the conversion, in TensorFlow's long InvalidArgumentError. A model without el_zoo's
    ``Standardize`` (which may take [0, 1]) is not judged."""
    if not _standardizes_pixels(model):
        return
    try:
        check_pixels_not_scaled(tf.constant(images))
    except ValueError as error:
        raise ValueError(f"verify_images must be RGB pixels in [0, 255] as decoded: {error}"
                         ) from None


def _check_verifiable(model, verify_images):
    """Refuses, before converting, to verify a model of a single output whose decision
    threshold is not known (``decision_threshold``): its parity is the agreement of its
    decisions, and top-1 agreement, which one output always has whatever the interpreter
    computes, would check nothing."""
    if not _verifies(verify_images) or not has_single_output(model) or \
            decision_threshold(model) is not None:
        return
    raise ValueError(
        f"{model.name} has a single output, which convert checks by its binary decision (a "
        f"linear logit's > 0, a sigmoid's > 0.5), but its {last_activation_text(model)}, "
        "which tells neither: end it in Dense(1) or Dense(1, activation='sigmoid'), or pass "
        "verify_images=0 and compare the outputs yourself (el_zoo.convert.verify(flatbuffer, "
        "model, images) gives their max_abs_diff)."
    )


def _verifies(verify_images):
    """Whether ``convert``'s ``verify_images`` asks for a parity check (None, False or a
    count of 0 skip it)."""
    if verify_images is None or verify_images is False:
        return False
    return not isinstance(verify_images, numbers.Integral) or verify_images > 0


def _compared_by_value(model):
    """Whether ``convert``'s parity check compares ``model``'s outputs by value rather than
    by top-1 class: a backbone's (``include_top=False``) or any output that is not one row
    of scores per image is features, whose arg-max means nothing (a converted backbone
    whose features were all scaled, or all wrong but their largest, passed)."""
    return not gives_scores_per_image(model)


def _check_parity(flatbuffer, model, verify_images):
    if isinstance(verify_images, numbers.Integral):
        verify_images = verification_images(model, verify_images)
    report = verify(flatbuffer, model, verify_images)
    if _compared_by_value(model):
        agreement = report["close_agreement"]
        measure = (f"its outputs are features, compared by value: {agreement:.1%} of images "
                   f"within {OUTPUT_TOLERANCE:g} of the largest output (< {MIN_AGREEMENT:.0%})")
    elif has_single_output(model):
        agreement = report["decision_agreement"]
        measure = (f"agreement of its single output's decision (output > "
                   f"{decision_threshold(model):g}) {agreement:.1%} (< {MIN_AGREEMENT:.0%})")
    else:
        agreement = report["top1_agreement"]
        measure = f"top-1 agreement {agreement:.1%} (< {MIN_AGREEMENT:.0%})"
    if agreement < MIN_AGREEMENT:
        raise ConversionMismatch(
            f"converted {model.name} disagrees with Keras: {measure} over "
            f"{report['images']} images, max |diff| {report['max_abs_diff']:.3g}. The file "
            "was not written. An untrained model (batch norm at its initial statistics) can "
            "show this on some CPUs: values it binarizes lie within float rounding of zero, "
            "TensorFlow's kernels (oneDNN, or Eigen on CPUs without AVX512_VNNI/BF16 or "
            "AMX, e.g. AVX2-only ones; TF_ENABLE_ONEDNN_OPTS=0 picks Eigen anywhere) round "
            "some of them to the other sign than the LCE interpreter does, and each flipped "
            "sign moves an untrained model's outputs a lot (a trained model's rarely its "
            "top-1 or decision). For an untrained model pass verify_images=0 (el-zoo convert "
            "--no-verify)."
        )


def interpreter_outputs(flatbuffer, images, num_threads=1):
    """Runs the LCE interpreter on a batch of images (float32, model input layout: for
    el_zoo's models RGB pixels in [0, 255], which an int8 file gets as ``pixel - 128`` and
    the file of a model built on a uint8 input as that model's Keras input casts them,
    fractions cut off)."""
    # LCE's interpreter extension: loaded only when a flatbuffer is run
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    if isinstance(flatbuffer, (str, os.PathLike)):
        flatbuffer = Path(flatbuffer).read_bytes()
    interpreter = Interpreter(flatbuffer, num_threads=num_threads)
    images = np.asarray(images, dtype=np.float32)
    if interpreter.input_types[0] == np.int8:  # pixels [0, 255] -> int8 (zero point -128)
        scale, zero_point = interpreter.input_scales[0], interpreter.input_zero_points[0]
        images = np.clip(np.round(images / scale + zero_point), -128, 127).astype(np.int8)
    elif interpreter.input_types[0] == np.uint8:  # a model built on a uint8 Input: the pixels
        # cut, not rounded, as Keras casts them: else a 12.7 fed to both was 13 here and 12
        # there, and the parity check compared two inputs (docs/reliability.md)
        images = np.clip(images, 0, 255).astype(np.uint8)
    outputs = np.concatenate([interpreter.predict(image[None]) for image in images])
    if interpreter.output_types[0] == np.int8:
        outputs = _dequantized(outputs, interpreter.output_scales[0],
                              interpreter.output_zero_points[0])
    return outputs


def verify(flatbuffer, model, images):
    """Compares the LCE interpreter with Keras (inference mode) on the same images.

    int8 inputs and outputs are quantized and dequantized with the file's own scales.

    Returns ``{"max_abs_diff", "top1_agreement", "decision_agreement", "close_agreement",
    "images"}``: ``close_agreement`` is the fraction of images whose outputs all lie within
    ``OUTPUT_TOLERANCE`` times the largest |Keras output| (over all the images) of Keras';
    for a model of a single output (a binary classifier), ``decision_agreement`` is the
    fraction of images on whose decision (output > ``decision_threshold(model)``: a
    logit's 0, a sigmoid's 0.5) both agree, None when that threshold is not known, and
    ``top1_agreement`` is None (the arg-max of one output always agrees); for other models
    ``decision_agreement`` is None.
    """
    expected = model.predict(np.asarray(images, np.float32), verbose=0)
    actual = interpreter_outputs(flatbuffer, images)
    scale = np.abs(expected).max()
    difference = np.abs(expected - actual).reshape(len(expected), -1).max(1)
    top1, decisions = float(np.mean(expected.argmax(-1) == actual.argmax(-1))), None
    if has_single_output(model):
        threshold, top1 = decision_threshold(model), None
        if threshold is not None:
            decisions = float(np.mean((expected > threshold) == (actual > threshold)))
    return {
        "max_abs_diff": float(difference.max()),
        "top1_agreement": top1,
        "decision_agreement": decisions,
        "close_agreement": float(np.mean(difference <= OUTPUT_TOLERANCE * scale)),
        "images": len(images),
    }


def tflite_op_names(flatbuffer):
    """The operator names in a TFLite flatbuffer (e.g. 'LceBconv2d', 'AVERAGE_POOL_2D')."""
    tflite_model = schema.ModelT.InitFromPackedBuf(bytes(flatbuffer), 0)
    names = []
    for op in tflite_model.subgraphs[0].operators:
        code = tflite_model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if code.customCode:
            names.append(code.customCode.decode())
        else:
            names.append(_BUILTIN_NAMES.get(builtin, str(builtin)))
    return names


def _builtin_names():
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


_BUILTIN_NAMES = _builtin_names()
