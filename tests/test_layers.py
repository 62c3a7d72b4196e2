import functools
import warnings

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import el_zoo
import el_zoo.layers as layers_module
from el_zoo import ElasticLink, PooledShortcut, RPReLU, RSign, Standardize
from el_zoo.layers import (IMAGENET_MEAN, IMAGENET_STD, check_pixels_reach_standardize,
                           decision_threshold, ends_in_probabilities, ends_in_sigmoid,
                           ends_in_softmax, final_activation, last_layer)
from tests.conftest import SubclassedHead, small_backbone

RNG = np.random.default_rng(0)


def link_output(x, y, **kwargs):
    layer = ElasticLink(gamma_initializer=1.0, **kwargs)
    return layer([tf.constant(x), tf.constant(y)]).numpy(), layer


def random(*shape):
    return RNG.standard_normal(shape).astype("float32")


def test_same_shape_adds_gamma_times_input():
    x, y = random(2, 5, 5, 8), random(2, 5, 5, 8)
    layer = ElasticLink(gamma_initializer=0.3)
    np.testing.assert_allclose(layer([x, y]).numpy(), y + 0.3 * x, rtol=1e-6)


def test_squeeze_channels_averages_consecutive_groups():
    x, y = random(1, 4, 4, 8), np.zeros((1, 4, 4, 2), "float32")
    out, _ = link_output(x, y)
    np.testing.assert_allclose(out, np.stack([x[..., :4].mean(-1), x[..., 4:].mean(-1)], -1),
                               rtol=1e-5, atol=1e-6)


def test_expand_channels_repeats_input():
    x, y = random(1, 3, 3, 4), np.zeros((1, 3, 3, 12), "float32")
    out, _ = link_output(x, y)
    np.testing.assert_allclose(out, np.concatenate([x, x, x], -1), rtol=1e-6)


def test_non_integer_ratio_tiles_to_lcm_then_averages():
    x, y = random(1, 2, 2, 6), np.zeros((1, 2, 2, 4), "float32")
    out, layer = link_output(x, y)
    assert (layer.tile_factor, layer.group_size) == (2, 3)
    tiled = np.concatenate([x, x], -1)  # 12 channels
    expected = tiled.reshape(1, 2, 2, 4, 3).mean(-1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [7, 8, 9])
def test_stride_squeeze_matches_strided_same_conv_on_odd_sizes(size):
    x = random(1, size, size, 4)
    conv = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same")
    y = conv(x).numpy()
    out, layer = link_output(x, np.zeros_like(y))
    assert layer.pool_stride == 2 and out.shape == y.shape
    pooled = tf.nn.avg_pool2d(x, 2, 2, "SAME").numpy()
    np.testing.assert_allclose(out, pooled, rtol=1e-5)


def test_scalar_gamma_has_one_weight_and_per_channel_one_per_output():
    x, y = random(1, 4, 4, 8), random(1, 4, 4, 16)
    assert ElasticLink(gamma="scalar")([x, y]) is not None
    scalar = ElasticLink(gamma="scalar")
    scalar([x, y])
    per_channel = ElasticLink()
    per_channel([x, y])
    assert scalar.gamma.shape == () and per_channel.gamma.shape == (16,)


def test_activation_scaling_multiplies_conv_output_by_mean_abs_input():
    x, y = random(1, 4, 4, 8), random(1, 4, 4, 8)
    layer = ElasticLink(gamma_initializer=0.0, activation_scaling=True)
    scale = np.abs(x).mean(-1, keepdims=True)
    np.testing.assert_allclose(layer([x, y]).numpy(), y * scale, rtol=1e-5)


def test_gamma_gets_a_gradient():
    x, y = random(2, 4, 4, 8), random(2, 4, 4, 4)
    layer = ElasticLink()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([x, y]) ** 2)
    grad = tape.gradient(loss, layer.gamma)
    assert grad is not None and np.all(np.abs(grad.numpy()) > 0)


def link_and_gradients(layer, x, y, upstream, training):
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        out = layer([x, y], training=training)
        loss = tf.reduce_sum(out * upstream)
    return [out, *tape.gradient(loss, [x, y, layer.gamma])]


def assert_same_link_and_gradients(trained, inferred, layer, y, upstream):
    """The two forms' output and gradients agree to float32 rounding. gamma's gradient sums
    upstream * T(x) over every element of its channel (all of them for a scalar gamma), and
    the two forms sum in other orders: they may differ by a float32 rounding of that sum's
    magnitudes (3.4e-5 of -0.16 on an AVX2-only CPU, Eigen's kernels, over 4608 terms), so
    its tolerance is float32's epsilon times the sum of the terms' magnitudes."""
    out, gamma = inferred[0].numpy(), layer.gamma.numpy()
    terms = np.abs(upstream.numpy() * (out - y.numpy()) / gamma)  # |upstream * T(x)|
    magnitudes = terms.sum() if gamma.ndim == 0 else terms.sum(axis=(0, 1, 2))
    gamma_atol = float(np.finfo(np.float32).eps * np.max(magnitudes))
    for index, (train_value, inference_value) in enumerate(zip(trained, inferred)):
        atol = max(gamma_atol, 1e-5) if index == 3 else 1e-5
        np.testing.assert_allclose(train_value.numpy(), inference_value.numpy(),
                                   rtol=1e-5, atol=atol)


# (x shape, conv_out shape): identity, Expand and Squeeze on each side of
# MATMUL_MAX_CHANNELS, a ratio that is not an integer, odd sizes with a stride
@pytest.mark.parametrize("x_shape, y_shape", [
    ((2, 6, 6, 8), (2, 6, 6, 8)), ((2, 6, 6, 16), (2, 6, 6, 64)),
    ((2, 6, 6, 64), (2, 6, 6, 16)), ((2, 6, 6, 64), (2, 6, 6, 32)),
    ((2, 6, 6, 32), (2, 6, 6, 128)), ((2, 6, 6, 32), (2, 6, 6, 32)),
    ((2, 5, 5, 6), (2, 5, 5, 4)), ((2, 5, 5, 48), (2, 5, 5, 32)),
    ((2, 7, 7, 12), (2, 4, 4, 24)), ((2, 7, 7, 32), (2, 4, 4, 16)),
])
@pytest.mark.parametrize("gamma", ["per_channel", "scalar"])
def test_training_form_computes_what_the_inference_form_does(x_shape, y_shape, gamma):
    """``linked_sum_for_training``: the same values and gradients (x, conv_out, gamma)."""
    x, y = tf.constant(random(*x_shape)), tf.constant(random(*y_shape))
    layer = ElasticLink(gamma=gamma)
    layer([x, y])
    layer.gamma.assign(random(*layer.gamma.shape))
    upstream = tf.constant(random(*layer.compute_output_shape([x.shape, y.shape])))
    trained = link_and_gradients(layer, x, y, upstream, training=True)
    inferred = link_and_gradients(layer, x, y, upstream, training=False)
    assert_same_link_and_gradients(trained, inferred, layer, y, upstream)


@pytest.mark.parametrize("x_shape, y_shape", [
    ((2, 6, 6, 8), (2, 6, 6, 8)), ((2, 6, 6, 8), (2, 3, 3, 32)),
    ((2, 6, 6, 64), (2, 6, 6, 16)), ((2, 7, 7, 32), (2, 4, 4, 48)),
])
def test_training_form_traces_with_an_unknown_batch_size(x_shape, y_shape):
    """As Keras' fit traces it: a graph whose batch size is None, written-out gradients."""
    x, y = tf.constant(random(*x_shape)), tf.constant(random(*y_shape))
    layer = ElasticLink()
    layer([x, y])
    layer.gamma.assign(random(*layer.gamma.shape))
    upstream = tf.constant(random(*y_shape))
    signature = [tf.TensorSpec((None, *shape[1:])) for shape in (x_shape, y_shape, y_shape)]
    trained, inferred = (
        tf.function(functools.partial(link_and_gradients, layer, training=training),
                    input_signature=signature)(x, y, upstream)
        for training in (True, False))
    assert_same_link_and_gradients(trained, inferred, layer, y, upstream)


@pytest.mark.parametrize(
    "x_shape, y_shape, message",
    [
        ((1, 8, 8, 4), (1, 5, 5, 4), "not a strided 'same' downsampling"),
        ((1, 8, 8, 4), (1, 4, 8, 4), "not a strided 'same' downsampling"),
        ((1, 8, 4), (1, 8, 4), "two 4D"),
    ],
)
def test_shapes_that_cannot_be_linked_raise_naming_the_layer(x_shape, y_shape, message):
    layer = ElasticLink(name="my_link")
    with pytest.raises(ValueError, match=message) as error:
        layer([tf.zeros(x_shape), tf.zeros(y_shape)])
    assert "my_link" in str(error.value)


def test_single_input_without_conv_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[x_real, conv_out\]"):
        ElasticLink()(tf.zeros((1, 4, 4, 4)))


def test_unknown_spatial_size_needs_strides():
    x = tf.keras.Input((None, None, 8))
    y = tf.keras.Input((None, None, 16))
    with pytest.raises(ValueError, match="pass strides="):
        ElasticLink()([x, y])
    assert ElasticLink(strides=2)([x, y]).shape[-1] == 16


def test_strides_contradicting_shapes_is_an_error():
    with pytest.raises(ValueError, match="imply stride 2"):
        ElasticLink(strides=1)([tf.zeros((1, 8, 8, 4)), tf.zeros((1, 4, 4, 4))])


def test_bad_gamma_mode_is_an_error():
    with pytest.raises(ValueError, match="'per_channel' or 'scalar'"):
        ElasticLink(gamma="vector")


def binary_conv(filters, strides=1):
    return lq.layers.QuantConv2D(
        filters, 3, strides=strides, padding="same", input_quantizer="ste_sign",
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
    )


def test_sequential_model_with_wrapped_conv_round_trips(tmp_path):
    model = tf.keras.Sequential([
        tf.keras.Input((8, 8, 4)),
        ElasticLink(conv=binary_conv(8, strides=2), gamma="scalar"),
        tf.keras.layers.BatchNormalization(),
    ])
    x = random(2, 8, 8, 4)
    clone = tf.keras.Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy())
    model.save(tmp_path / "seq.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "seq.keras")
    np.testing.assert_allclose(reloaded(x).numpy(), model(x).numpy())
    assert reloaded.output_shape == (None, 4, 4, 8)


@pytest.mark.parametrize(
    "layer",
    [
        ElasticLink(gamma="scalar", gamma_initializer=0.25, activation_scaling=True, strides=2),
        ElasticLink(conv=binary_conv(4)),
        RSign(clip_value=1.5),
        RPReLU(slope_initializer=0.1),
        Standardize(mean=(0.5, 0.5, 0.5), std=(0.2, 0.3, 0.4)),
        PooledShortcut(filters=12, strides=2),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip_through_keras_serialization(layer):
    config = tf.keras.layers.serialize(layer)
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is type(layer)
    assert tf.keras.layers.serialize(clone) == config


def test_rsign_is_sign_of_input_minus_learnable_threshold():
    layer = RSign()
    x = tf.constant([[[[-0.5, 0.2]]]])
    layer.build(x.shape)
    layer.alpha.assign([-1.0, 0.5])
    np.testing.assert_array_equal(layer(x).numpy(), [[[[1.0, -1.0]]]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    assert np.all(tape.gradient(loss, layer.alpha).numpy() != 0)


def test_rprelu_shifts_and_slopes_per_channel():
    layer = RPReLU(slope_initializer=0.5)
    x = tf.constant([[[[-2.0, 3.0]]]])
    layer.build(x.shape)
    layer.shift_in.assign([1.0, 1.0])
    layer.shift_out.assign([0.5, -0.5])
    # (x - 1): [-3, 2] -> PReLU: [-1.5, 2] -> + shift_out: [-1.0, 1.5]
    np.testing.assert_allclose(layer(x).numpy(), [[[[-1.0, 1.5]]]])


def test_standardize_rejects_mismatched_statistics():
    with pytest.raises(ValueError, match="one entry per channel"):
        Standardize(mean=(0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="has 4 channels"):
        Standardize()(tf.zeros((1, 2, 2, 4)))


def test_standardize_defaults_to_imagenets_statistics_as_the_data_sets_do():
    from el_zoo import data

    layer = Standardize()
    imagenet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert (layer.mean_init, layer.std_init) == imagenet
    assert data.NORMALIZATION["imagenet"] == data.NORMALIZATION["imagenette"] == (
        tuple(imagenet[0]), tuple(imagenet[1]))


def test_pooled_shortcut_is_the_links_transform_with_gamma_one():
    x = random(2, 5, 5, 4)
    shortcut = PooledShortcut(filters=12, strides=2)
    out = shortcut(tf.constant(x)).numpy()
    linked, _ = link_output(x, np.zeros((2, 3, 3, 12), "float32"))
    assert out.shape == (2, 3, 3, 12) == tuple(shortcut.compute_output_shape(x.shape))
    np.testing.assert_allclose(out, linked, rtol=1e-6)
    assert not shortcut.weights


@pytest.mark.parametrize("filters, strides", [(0, 1), (8, 0)])
def test_pooled_shortcut_rejects_non_positive_sizes(filters, strides):
    with pytest.raises(ValueError, match="filters and strides must be positive"):
        PooledShortcut(filters=filters, strides=strides)


def test_an_unknown_gamma_initializer_name_says_what_to_use():
    with pytest.raises(ValueError, match="gamma_initializer='onez' is not a Keras initializer; "
                       "use a number"):
        ElasticLink(gamma_initializer="onez")
    assert ElasticLink(gamma_initializer="ones").gamma_initializer.get_config() == {}
    with pytest.raises(ValueError, match="gamma_initializer='onez'"):
        el_zoo.load("resnet18_el", input_shape=(32, 32, 3), stem="cifar", classes=10,
                    elastic_link={"gamma_initializer": "onez"})


def test_numpy_numbers_initialise_gamma_and_the_slope():
    # np.float32 is no Python float: ElasticLink said "gamma_initializer=0.5 is not a Keras
    # initializer; use a number", RPReLU "Could not interpret initializer identifier"
    link = ElasticLink(gamma_initializer=np.float32(0.5))
    link([tf.constant(random(1, 4, 4, 2)), tf.zeros((1, 4, 4, 2))])
    np.testing.assert_array_equal(link.gamma.numpy(), [0.5, 0.5])
    slope = RPReLU(slope_initializer=np.float32(0.125))
    slope.build((1, 2, 2, 3))
    np.testing.assert_array_equal(slope.slope.numpy(), [0.125] * 3)


def test_last_layer_is_the_layer_whose_output_the_model_gives():
    # it took the last of model.layers: a Dense called twice, which Keras lists by its call
    # farthest from the output, before the softmax between its calls, was taken for it
    keras = el_zoo.keras
    inputs = keras.Input((3,))
    mix, softmax = keras.layers.Dense(3), keras.layers.Activation("softmax")
    twice = keras.Model(inputs, mix(softmax(mix(inputs))))
    assert twice.layers[-1] is softmax and last_layer(twice) is mix
    assert not ends_in_softmax(twice)
    linear, probabilities = keras.layers.Dense(3), keras.layers.Dense(3, activation="softmax")
    two_outputs = keras.Model(inputs, [probabilities(inputs), linear(inputs)])
    second = keras.Model(inputs, two_outputs(inputs)[1])  # a nested model's second output
    assert last_layer(second) is linear and not ends_in_softmax(second)
    assert last_layer(keras.Sequential([keras.Model(inputs, probabilities(inputs))])) \
        is probabilities


def test_a_final_sigmoid_or_softmax_written_as_an_op_is_the_models_activation():
    # Keras keeps tf.nn.sigmoid(x) as a TFOpLambda layer, without an activation: a binary
    # classifier so written was refused by predict ("last layer 'tf.math.sigmoid' has no
    # activation") and its int8 conversion told to use float32 "for logits"
    keras = el_zoo.keras
    inputs = keras.Input((3,))
    logit, scores = keras.layers.Dense(1)(inputs), keras.layers.Dense(4)(inputs)
    for op in (tf.nn.sigmoid, tf.math.sigmoid, tf.sigmoid, keras.activations.sigmoid):
        binary = keras.Model(inputs, op(logit))
        assert final_activation(binary) is tf.math.sigmoid and ends_in_sigmoid(binary)
        assert decision_threshold(binary) == 0.5 and ends_in_probabilities(binary)
    softmaxes = [lambda x: tf.nn.softmax(x), lambda x: tf.math.softmax(x, axis=-1),
                 lambda x: tf.nn.softmax(x, 1), keras.activations.softmax]
    for op in softmaxes:
        assert ends_in_softmax(keras.Model(inputs, op(scores)))
    maps = keras.layers.Reshape((2, 2))(scores)  # a softmax over another axis, another op
    for other in (tf.nn.softmax(maps, axis=1), tf.nn.relu(scores), tf.nn.log_softmax(scores)):
        model = keras.Model(inputs, other)
        assert final_activation(model) is None and not ends_in_probabilities(model)


def test_standardize_is_probed_through_a_subclassed_models_call_and_left_as_it_was():
    keras = el_zoo.keras
    backbone = small_backbone()
    standardize = backbone.get_layer("standardize")
    failing = False

    def preprocess(images):
        if failing:
            raise RuntimeError("call() failed")
        return images / 255.0

    model = SubclassedHead(backbone, preprocess, name="head")  # an auto-name counts up
    model(keras.Input((32, 32, 3)))
    with pytest.raises(ValueError, match=r"predict: head rescales its input pixels "
                                         r"before el_zoo's model 'resnet18_el', in the call\(\) "
                                         r"of 'head'"):
        check_pixels_reach_standardize(model, "predict")
    # the probe's hook is gone, after a refusal, and tf.functions run traced again
    assert "call" not in vars(standardize) and not tf.config.functions_run_eagerly()
    failing = True
    with pytest.raises(RuntimeError, match="call\\(\\) failed"):
        check_pixels_reach_standardize(model, "predict")
    assert "call" not in vars(standardize)  # and after an error
    assert not tf.config.functions_run_eagerly()
    np.testing.assert_allclose(standardize(tf.fill((1, 1, 1, 3), 255.0)).numpy().ravel(),
                               (1 - np.array(IMAGENET_MEAN)) / IMAGENET_STD, rtol=1e-6)


def test_overlapping_probes_leave_functions_traced_as_before():
    # each probe saved the setting on entry and put it back on exit, so two overlapping
    # ones (two threads: A enters, B enters, A leaves, B leaves) left the process eager for
    # good, every later fit uncompiled; here the same order, deterministically, in one thread
    first, second = layers_module._functions_run_eagerly(), layers_module._functions_run_eagerly()
    assert not tf.config.functions_run_eagerly()
    first.__enter__()
    second.__enter__()
    assert tf.config.functions_run_eagerly()
    first.__exit__(None, None, None)
    assert tf.config.functions_run_eagerly()  # the second probe still runs
    second.__exit__(None, None, None)
    assert not tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)  # a user's own setting is kept too
    try:
        with layers_module._functions_run_eagerly():
            with layers_module._functions_run_eagerly():
                pass
        assert tf.config.functions_run_eagerly()
    finally:
        tf.config.run_functions_eagerly(False)


def test_a_subclassed_model_without_standardize_is_not_probed():
    # nothing of el_zoo's to feed: as before, whatever its call() does to the pixels
    keras = el_zoo.keras
    features = keras.Sequential([keras.Input((32, 32, 3)),
                                 keras.layers.GlobalAveragePooling2D()])
    calls = []
    model = SubclassedHead(features, lambda images: calls.append(images) or images / 255.0)
    model(keras.Input((32, 32, 3)))
    calls.clear()
    assert check_pixels_reach_standardize(model, "predict") is None and not calls


# --------------------------------------------- pixels scaled to [0, 1] reaching Standardize
PIXELS = np.random.default_rng(1).integers(0, 256, (6, 8, 8, 3)).astype("float32")
LABELS = np.arange(6) % 3
SCALED = (r"el_zoo models take RGB pixels in \[0, 255\] and standardise them themselves; "
          r"this batch of \d images has every pixel in \[0, 1\].*remove the /255 scaling")
SCALED_IMAGE = SCALED.replace(r"this batch of \d images", "this image")


def standardized_model(dtype="float32"):
    """Standardize, a conv and a softmax head, compiled: how an el_zoo model meets pixels."""
    inputs = tf.keras.Input((8, 8, 3), dtype=dtype)
    x = tf.keras.layers.Conv2D(4, 3, kernel_initializer=tf.keras.initializers.GlorotUniform(0))(
        Standardize()(inputs))
    outputs = tf.keras.layers.Dense(3, activation="softmax")(
        tf.keras.layers.GlobalAveragePooling2D()(x))
    model = tf.keras.Model(inputs, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


SCALED_CALLS = {
    "fit": lambda model, x: model.fit(x, LABELS, batch_size=3, verbose=0),
    "predict": lambda model, x: model.predict(x, verbose=0),
    "evaluate": lambda model, x: model.evaluate(x, LABELS, verbose=0),
    # a tf.data pipeline that scales decoded uint8 images, as Keras' tutorials write it
    "fit on tf.data": lambda model, x: model.fit(
        tf.data.Dataset.from_tensor_slices((np.round(x * 255).astype("uint8"), LABELS))
        .map(lambda image, label: (tf.cast(image, tf.float32) / 255, label)).batch(3),
        verbose=0),
    "a tf.function": lambda model, x: tf.function(lambda batch: model(batch))(x),
}


@pytest.mark.parametrize("call", SCALED_CALLS)
def test_pixels_scaled_to_0_1_are_refused_in_keras_traced_calls(call):
    # before: trained and predicted on nearly uniform standardised images without a word
    with pytest.raises(tf.errors.InvalidArgumentError, match=SCALED):
        SCALED_CALLS[call](standardized_model(), PIXELS / 255)


def test_a_head_that_rescales_pixels_before_the_model_is_refused_in_fit_too():
    # check_pixels_reach_standardize refuses it in el_zoo's predict, evaluate and convert
    inputs = tf.keras.Input((8, 8, 3))
    head = tf.keras.Model(inputs, standardized_model()(tf.keras.layers.Rescaling(1 / 255)(inputs)))
    head.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(tf.errors.InvalidArgumentError, match=SCALED):
        head.fit(PIXELS, LABELS, batch_size=3, verbose=0)


def test_a_model_called_on_pixels_scaled_to_0_1_says_how_many_images_and_the_fix():
    with pytest.raises(ValueError, match=SCALED.replace(r"\d", "6")):
        standardized_model()(PIXELS / 255)


# One image whose pixels are all in [0, 1], not uniform, some fractional: a photo divided
# by 255, as the usual single-image call scales it (decoded pixels are whole)
SCALED_IMAGE_CALLS = {
    "a model called eagerly": lambda model, x: model(tf.expand_dims(x[0], 0)),
    "predict": lambda model, x: model.predict(x, verbose=0),
    "a tf.function": lambda model, x: tf.function(lambda batch: model(batch))(x),
}


@pytest.mark.parametrize("call", SCALED_IMAGE_CALLS)
def test_a_single_image_scaled_to_0_1_is_refused_eagerly_and_traced(call):
    # before: passed as a possibly nearly black photo; model.predict(image[None] / 255.)
    # predicted garbage without a word
    refused = ValueError if call == "a model called eagerly" else tf.errors.InvalidArgumentError
    with pytest.raises(refused, match=SCALED_IMAGE) as raised:
        SCALED_IMAGE_CALLS[call](standardized_model(), PIXELS[:1] / 255)
    assert "batch of 1 images" not in str(raised.value)


def test_a_single_dark_frame_resized_is_refused_it_shows_the_model_nothing():
    # its 0s and 1s interpolated into fractions: its brightest pixel is 1/255 of full
    # brightness, so it cannot be told from a photo divided by 255, nor is it worth a guess
    dark = (PIXELS[:1, :4, :4] > 128).astype("float32")  # 4 x 4 pixels, 0s and 1s
    with pytest.raises(ValueError, match=SCALED_IMAGE):
        standardized_model()(tf.image.resize(dark, (8, 8)))  # bilinear


# What reaches an el_zoo model in [0, 1] without being pixels divided by 255: not refused.
NOT_SCALED = {
    "pixels in [0, 255]": PIXELS,
    "zeros (warm-up, padding)": np.zeros_like(PIXELS),
    "ones": np.ones_like(PIXELS),
    "uniform images of 0.5": np.full_like(PIXELS, 0.5),
    # check_pixels_reach_standardize's probe, and the same divided by 255: uniform images
    "the probe of 0 and 255": np.stack([np.zeros((8, 8, 3)), np.full((8, 8, 3), 255.0)]),
    "the probe divided by 255": np.stack([np.zeros((8, 8, 3)), np.ones((8, 8, 3))]),
    # one image of whole pixels in [0, 1]: a dark frame (sensor noise) as decoded
    "a single dark frame of 0s and 1s": (PIXELS[:1] > 128).astype("float32"),
    "a single uniform image": np.full_like(PIXELS[:1], 0.5),
    "a single image of pixels": PIXELS[:1],
}


@pytest.mark.parametrize("images", NOT_SCALED)
def test_batches_that_are_not_scaled_pixels_pass_eagerly_and_traced(images):
    model = standardized_model()
    batch = NOT_SCALED[images].astype("float32")
    np.testing.assert_allclose(model.predict(batch, verbose=0), model(batch).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("count", [6, 1])
def test_uint8_pixels_are_not_checked_they_cannot_have_been_divided(count):
    model = standardized_model(dtype="uint8")
    dark = (PIXELS[:count] > 128).astype("uint8")  # pixels 0 and 1, as decoded: dark images
    assert model.predict(dark, verbose=0).shape == model(dark).shape == (count, 3)


def test_the_check_adds_no_weight_nor_config_entry_to_standardize():
    # published weight files and saved models hold mean and std, and this config
    layer = standardized_model().layers[1]
    assert [weight.name.split("/")[-1] for weight in layer.weights] == ["mean:0", "std:0"]
    assert set(layer.get_config()) == {"name", "trainable", "dtype", "mean", "std"}


@pytest.mark.parametrize("form", ["model.h5", "savedmodel"])
def test_a_model_saved_whole_and_reloaded_still_takes_pixels_and_refuses_scaled_ones(
        form, tmp_path):
    model = standardized_model()
    model.save(tmp_path / form)
    reloaded = tf.keras.models.load_model(tmp_path / form)
    np.testing.assert_allclose(reloaded.predict(PIXELS, verbose=0),
                               model.predict(PIXELS, verbose=0), rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=SCALED):
        reloaded.predict(PIXELS / 255, verbose=0)


class PerImageHead(SubclassedHead):
    """``SubclassedHead`` whose call() runs the backbone on each image apart, with
    ``mapping`` (``tf.map_fn``, or ``tf.vectorized_map``, which traces it)."""

    def __init__(self, backbone, mapping, **kwargs):
        super().__init__(backbone, **kwargs)
        self.mapping = mapping

    def call(self, images, training=None):
        def features(image):
            return self.backbone(image[None], training=False)[0]
        return self.head(self.mapping(features, images))


def test_a_backbone_called_on_each_image_is_checked_or_said_to_be_unchecked():
    keras = el_zoo.keras
    each = PerImageHead(small_backbone(), lambda f, x: tf.map_fn(f, x), name="each")
    each(keras.Input((32, 32, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one image per call, the probe's pair in order
        check_pixels_reach_standardize(each, "predict")
    # a backbone reached through a trace only, of no values: passed without a word
    traced = PerImageHead(small_backbone(), tf.vectorized_map, name="vectorized")
    traced(keras.Input((32, 32, 3)))
    with pytest.warns(UserWarning, match=r"predict: el_zoo could not check what pixels reach "
                                         r"its model 'resnet18_el' in the call\(\) of "
                                         r"'vectorized' \(called there on traced tensors, which "
                                         r"have no values\)\. It takes RGB pixels in \[0, 255\]"):
        check_pixels_reach_standardize(traced, "predict")


def test_a_backbone_the_call_does_not_use_says_nothing():
    # a sub-model held but never called: nothing reaches it, nothing to say
    keras = el_zoo.keras
    model = SubclassedHead(keras.Sequential([keras.layers.GlobalAveragePooling2D()]),
                           name="unused")
    model.spare = small_backbone()
    model(keras.Input((32, 32, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_pixels_reach_standardize(model, "predict") is None
