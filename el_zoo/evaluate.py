"""Re-measuring and using published models: ``evaluate`` (top-1/top-5 on a data set split)
and ``predict`` (top-k class names of image files), with the preprocessing the model was
published with."""

import os
import time
import warnings

import numpy as np
import tensorflow as tf

from el_zoo import data
from el_zoo._keras import keras
from el_zoo.arguments import check_count, is_number
from el_zoo.builder import load
from el_zoo.layers import (check_class_names, check_pixels_reach_standardize, class_count,
                           decision_threshold, ends_in_softmax, final_activation,
                           last_activation_text)
from el_zoo.model_record import (built_without_classifier, class_names_of, published_name_of,
                                 recorded_class_names)
from el_zoo.pretrained import decode_sizes, published_model

# How many classes predict lists per image unless told (fewer when the model has fewer).
DEFAULT_TOP = 5

# How far a row of outputs may sum from 1 and still be read as probabilities (float32
# softmax rows sum to 1 within ~1e-6; a row of logits or features is rarely this close).
PROBABILITY_TOLERANCE = 1e-3


def preprocessing_of(name):
    """A published model's preprocessing as a dict (which ``evaluate`` and ``predict``
    adjust for a model of their own): data set, split, decode size, crop, class names."""
    published = published_model(name)
    pre = published.preprocessing
    return {"dataset": pre.dataset, "split": pre.split, "resize": pre.resize,
            "crop": pre.crop, "class_names": published.class_names}


def _model_preprocessing(model, named=False):
    """The preprocessing of a model object: the published one when ``el_zoo.load`` gave it
    published weights and their head (it records their ``name.tag``, ``published_name_of``,
    which a model saved whole and reloaded keeps); its decode size and crop are those of
    the published weights it holds, a backbone's too, as far as it still has their input
    size, else its own input size (``decode_sizes``). Its class names are those
    ``el_zoo.load`` recorded, while its classifier keeps the loaded weights
    (``_known_class_names``); ``named``: the caller names the classes itself."""
    published = published_name_of(model)
    pre = preprocessing_of(published) if published else \
        dict.fromkeys(("dataset", "split", "class_names"))
    pre["resize"], pre["crop"] = decode_sizes(model)
    pre["class_names"] = _known_class_names(model, warn=not named)
    if pre["class_names"] is None:  # a head trained since: the published data set's?
        pre.update(dataset=None, split=None)
    return pre


def _known_class_names(model, warn=True):
    """The class names ``el_zoo.load`` recorded on ``model`` (``class_names_of``), or None;
    with ``warn``, a warning when its classifier has been trained since, which makes them
    unknown (it may score other classes now)."""
    names = class_names_of(model)
    recorded = recorded_class_names(model)
    if names is None and recorded is not None and warn:
        listed = ", ".join(recorded[:3]) + (", ..." if len(recorded) > 3 else "")
        warnings.warn(
            f"{model.name}'s classifier has been trained since el_zoo.load recorded its "
            f"class names ({listed}), so they may not be its classes "
            "now: el_zoo numbers them (and evaluate needs dataset= and split=) unless "
            "class_names= names them, in output order.", stacklevel=5)
    return list(names) if names is not None else None


def _load(name_or_model, use, class_names):
    """(model, preprocessing) of a published name or a model, which must be a classifier:
    ``use`` ("evaluate", "predict") says what it is for, in the error; ``class_names``: the
    caller's, if any."""
    if isinstance(name_or_model, str):
        return load(name_or_model), preprocessing_of(name_or_model)
    _check_classifier(name_or_model, use)
    _check_square(name_or_model, use)
    check_pixels_reach_standardize(name_or_model, use)
    return name_or_model, _model_preprocessing(name_or_model, named=class_names is not None)


def _check_classifier(model, use):
    """Refuses a model whose outputs are not one score per class: a backbone
    (``include_top=False``) gives features, and their arg-max would be scored as a class
    (a top-1 of 0 %, or names for feature indices) without any error. A single output is
    taken as a binary classifier's score when its ``decision_threshold`` is known (a logit,
    a sigmoid's probability), else refused: it would be class 0 at 100 % for every image."""
    shape = model.output_shape
    if built_without_classifier(model):
        raise ValueError(
            f"{use} needs a classifier, but {model.name} was built with include_top=False: "
            f"its {shape[-1]} outputs are features, not class scores. Load it with "
            "include_top=True (the default), or give it a head of your own (README: "
            "Fine-tuning)."
        )
    if isinstance(shape, list) or len(shape) != 2:
        raise ValueError(
            f"{use} needs a classifier with one output of shape (batch, classes), but "
            f"{model.name}'s output shape is {shape}."
        )
    if shape[-1] == 1 and decision_threshold(model) is None:  # its softmax: 1.0, class 0
        raise ValueError(
            f"{use} takes a single output as a binary classifier's score (a logit, or a "
            f"sigmoid's probability), but {model.name}'s {last_activation_text(model)}, which "
            "tells neither: end it in Dense(1) or Dense(1, activation='sigmoid'), or give it "
            "a head of one output per class (Dense(2, activation='softmax') for two classes)."
        )


def _check_square(model, use):
    """Refuses a model whose fixed input is not square: images are decoded to squares, which
    it cannot take (a side of any size takes the other's)."""
    shape = model.input_shape
    height, width = (None, None) if isinstance(shape, list) else shape[1:3]
    if None not in (height, width) and height != width:
        raise ValueError(
            f"{use} decodes images to squares, but {model.name} takes {height}x{width} "
            f"images (input shape {shape}): build it with a square input_shape=(S, S, 3), "
            f"or call model.predict on your own arrays of {height}x{width} images."
        )


def _model_labels(labels, folder_names, class_names, classes, where):
    """Labels as the model's class indices: by class name when the model's class names are
    known, else by folder position, which needs one folder per class: with fewer, which
    class each folder is cannot be known (``cat/`` and ``dog/`` would be scored as classes
    0 and 1)."""
    if class_names:
        return data.labels_by_class_name(labels, folder_names, class_names, where)
    if len(folder_names) != classes:
        raise ValueError(
            f"{where} has {len(folder_names)} class folders but the model has {classes} "
            "classes, and its class names are not known, so the folders cannot be matched "
            "to its classes. Pass class_names= (the model's classes in its output order; "
            "folders are matched by name), or evaluate it on data with one folder per class."
        )
    return labels


def evaluate(name_or_model, *, dataset=None, split=None, data_dir=None, limit=None,
             batch_size=256, resize=None, crop=None, predictions=False, class_names=None,
             skip_bad_images=False):
    """Top-1/top-5 of a published ``name.tag`` (or a model) on a data set split.

    For a published name (or a model ``el_zoo.load`` gave published weights) the data set,
    split and preprocessing default to the published ones, and class folders are matched
    to the model's classes by name: a folder holding only some classes (``cat/``,
    ``dog/``) is scored against the model's indices of those classes. Any other model's
    folders are its classes in sorted order (as ``el-zoo train`` reads them), unless
    ``class_names`` names its classes; a split with another number of folders than the
    model has classes then needs ``class_names``. A binary classifier of a single output
    (``Dense(1, activation="sigmoid")``, or a logit from ``Dense(1)``) has two classes,
    negative then positive (Keras' labels 0 and 1: of two class folders, the second in
    sorted order is positive), and its top-1 is its decision: output above 0.5 (a
    sigmoid's) or 0 (a logit) is the positive class.

    Arguments:
        name_or_model: a published ``"name.tag"`` or a Keras model.
        dataset, split: the data set and split (ImageFolder ``dataset/split/class/image``).
        data_dir: the data root (default ``$EL_ZOO_DATA``).
        limit: evaluate only this many images (a positive integer; None: all).
        batch_size, resize, crop: inference batch size (a positive integer) and
            preprocessing overrides.
        predictions: also return each image's top-1 class index, as ``"predictions"`` (an
            integer array in the order ``el_zoo.data.load_split`` gives the images; the
            first ``limit`` of the whole split's). ``"top1"`` is their accuracy.
        class_names: the model's class names, in its output order (overrides the
            published ones); class folders are matched to them by name.
        skip_bad_images: leave out files that are not readable images, with a warning
            naming each (``"images"`` counts the rest); by default one is an error.

    Returns ``{"top1", "top5", "images", "dataset", "split", "seconds"}`` (and
    ``"predictions"``).

    Example:
        ```python
        el_zoo.evaluate("resnet26_el.cifar10", limit=1000)["top1"]
        el_zoo.evaluate("resnet26_el.cifar10", limit=10, predictions=True)["predictions"]
        ```
    """
    data.check_limit(limit)  # before the model loads and the split is decoded
    check_count(batch_size, "batch_size")
    model, pre = _load(name_or_model, "evaluate", class_names)
    if class_names is not None:
        pre["class_names"] = _class_names(pre, class_names, model)
    dataset, split = dataset or pre["dataset"], split or pre["split"]
    resize, crop = resize or pre["resize"], crop or pre["crop"]
    if dataset is None or split is None:
        raise ValueError("evaluate needs dataset= and split= for a model that is not published.")
    _check_image_size(model, resize, crop)  # before the data are decoded
    images, labels, folders = data.load_split(dataset, split, data_dir=data_dir,
                                              image_size=resize, limit=limit,
                                              skip_bad_images=skip_bad_images)
    labels = _model_labels(labels, folders, pre["class_names"], class_count(model),
                           f"{dataset}/{split}")
    started = time.time()
    pipeline = data.array_dataset(images, labels, batch_size=batch_size, training=False,
                                  crop_size=crop)
    scores = _class_scores(model, model.predict(pipeline, verbose=0))
    top5 = np.argsort(-scores, axis=-1)[:, :5]
    result = {"top1": float(np.mean(top5[:, 0] == labels)),
              "top5": float(np.mean((top5 == labels[:, None]).any(-1))),
              "images": int(len(labels)), "dataset": dataset, "split": split,
              "seconds": round(time.time() - started, 1)}
    if predictions:  # the smallest integer type that holds the model's class indices
        result["predictions"] = top5[:, 0].astype(np.min_scalar_type(scores.shape[-1]))
    return result


def _check_image_size(model, resize, crop):
    """Refuses a ``resize``/``crop`` that cannot give the images ``model`` takes: it
    failed after the split was decoded, in TensorFlow's crop or Keras' input check."""
    if not (crop or resize):
        raise ValueError(_any_size_message(model, "evaluate", "pass resize= (and crop=)"))
    if crop and resize and crop > resize:
        raise ValueError(f"crop={crop} is larger than resize={resize}: the centre crop must "
                         "fit in the decoded image.")
    height, width = model.input_shape[1:3]
    size = crop or resize
    if size and any(side is not None and side != size for side in (height, width)):
        raise ValueError(
            f"{model.name} takes {height}x{width} images but resize={resize}, crop={crop} "
            f"give {size}x{size}: make the crop (or, without one, resize) {height}, or build "
            f"the model for {size}x{size} inputs (input_shape=({size}, {size}, 3)).")


def _any_size_message(model, use, fix):
    """Why ``use`` cannot preprocess for a model built for any image size: images are
    resized to the model's input size, and one that takes any size does not say which."""
    return (f"{use} resizes images to the model's input size, but {model.name} takes "
            f"images of any size (input shape {model.input_shape}): {fix}, or build it "
            "with a fixed input_shape=(H, W, 3).")


def _checked_top(top, classes):
    """``top``, or without one (None) ``DEFAULT_TOP`` classes, or all of a model with fewer."""
    if top is None:
        return min(DEFAULT_TOP, classes)
    if not is_number(top, whole=True) or not 1 <= top <= classes:
        raise ValueError(f"top must be a whole number from 1 to {classes} (the "
                         f"model's classes); got {top!r}.")
    return top


def _class_names(pre, class_names, model):
    """Names to print: ``class_names`` if given (one name per class of ``model``, as
    ``check_class_names`` asks: a string of ten letters was ten "names"; a binary
    classifier's single output, two), else the published ones, else indices."""
    if class_names is None:
        return pre["class_names"] or [str(i) for i in range(class_count(model))]
    check_class_names(model, class_names)
    return list(class_names)


def _class_scores(model, outputs):
    """``outputs`` of ``model`` as one score per class, to rank: as they are, or a binary
    classifier's single output as two, how far it lies below and above its
    ``decision_threshold``, so that the positive class (1) ranks first exactly when the
    output is above it, as ``el_zoo.convert.verify`` decides."""
    threshold = decision_threshold(model)
    if threshold is None:
        return outputs
    above = outputs - threshold
    return np.concatenate([-above, above], axis=-1)


def _probabilities(model, outputs):
    """``outputs`` of ``model`` as probabilities: as they are from a final softmax (or when
    every row is a distribution), through a softmax when they are the logits of a linear
    head (``classifier_activation=None``); a binary classifier's single output as its two
    classes', [1 - p, p], p its sigmoid's output or the sigmoid of its logit. Other
    outputs are refused, since printing them as probabilities would be wrong."""
    threshold = decision_threshold(model)
    if threshold is not None:  # 0.5: a sigmoid's probability; 0.0: a logit
        positive = outputs[:, 0] if threshold else tf.sigmoid(outputs[:, 0]).numpy()
        return np.stack([1 - positive, positive], axis=-1)
    if final_activation(model) is keras.activations.linear:
        return tf.nn.softmax(outputs, axis=-1).numpy()
    if ends_in_softmax(model) or _are_distributions(outputs):
        return outputs
    raise ValueError(
        f"predict reports probabilities, but {model.name}'s outputs are not: they range "
        f"from {outputs.min():.3g} to {outputs.max():.3g} and its rows sum to "
        f"{outputs.sum(-1).min():.3g}..{outputs.sum(-1).max():.3g}. Give it a softmax "
        "head (classifier_activation='softmax', the default) or a linear one "
        "(classifier_activation=None: predict applies the softmax)."
    )


def _are_distributions(outputs):
    return bool(np.all(outputs >= 0)
                and np.all(np.abs(outputs.sum(-1) - 1) <= PROBABILITY_TOLERANCE))


def _image_paths(paths):
    """``predict``'s ``paths`` as a list of paths (str or PathLike), or a TypeError naming
    what was given instead: an image array, or bytes (a path read from a binary file or
    a subprocess, or an image's content), which were taken one byte at a time ("got a
    int")."""
    one = (str, os.PathLike, bytes, bytearray, memoryview)
    paths = [paths] if isinstance(paths, one) else list(paths)
    if not paths:
        raise ValueError("predict needs at least one image file.")
    not_paths = [p for p in paths if not isinstance(p, (str, os.PathLike))]
    if not not_paths:
        return paths
    given = not_paths[0]
    if isinstance(given, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"predict takes image files as paths (str or pathlib.Path); got {type(given).__name__} "
            f"{bytes(given[:40])!r}: give a path as a str (decode it: path.decode()), or save "
            "an image's content to a file and give its path."
        )
    raise TypeError(
        f"predict takes image files (paths); got a {type(given).__name__}. Save "
        "the image to a file, or call model.predict on a batch of [0, 255] pixels at "
        "the model's input size."
    )


def predict(name_or_model, paths, *, top=None, class_names=None):
    """For each image file: a list of ``(class name, probability)``, most likely first.

    Arguments:
        name_or_model: a published ``"name.tag"``, or a Keras model. A model that
            ``el_zoo.load`` gave published weights is named and preprocessed as published;
            other models' classes are their indices unless ``class_names`` names them.
            The model must be a classifier; the logits of a linear head
            (``classifier_activation=None``) are turned into probabilities. A binary
            classifier of a single output (``Dense(1, activation="sigmoid")``, or a logit
            from ``Dense(1)``) gives two classes, negative then positive (``class_names``:
            two names, e.g. ``["cat", "dog"]``), of probabilities 1 - p and p.
        paths: image files (one path, or a list of them).
        top: how many classes to list per image, from 1 to the model's classes; None
            (the default) lists 5, or all of a model's classes when it has fewer.
        class_names: the model's class names, in its output order (overrides the
            published ones).

    Example:
        ```python
        model = el_zoo.load("resnet26_el.cifar10")
        el_zoo.predict(model, ["cat.png"], top=3)  # [[("cat", 0.91), ("dog", 0.05), ...]]
        ```
    """
    paths = _image_paths(paths)
    model, pre = _load(name_or_model, "predict", class_names)
    top = _checked_top(top, class_count(model))
    names = _class_names(pre, class_names, model)
    if pre["resize"] is None:
        raise ValueError(_any_size_message(model, "predict", "call model.predict on your "
                                           "own arrays of the size it was trained at"))
    images = np.stack([data.read_image(p, pre["resize"]) for p in paths]).astype(np.float32)
    if pre["crop"]:
        images = np.stack([data.center_crop(tf.constant(i), pre["crop"]).numpy() for i in images])
    probabilities = _probabilities(model, model.predict(images, verbose=0))
    results = []
    for row in probabilities:
        best = np.argsort(-row)[:top]
        results.append([(names[i], float(row[i])) for i in best])
    return results
