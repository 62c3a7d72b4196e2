"""Re-measuring and using published models: ``evaluate`` (top-1/top-5 on a data set split)
and ``predict`` (top-k class names of image files), with the preprocessing the model was
published with."""

import numbers
import os
import time

import numpy as np
import tensorflow as tf

from el_zoo import data
from el_zoo.builder import load
from el_zoo.pretrained import published_model


def preprocessing_of(name):
    """A published model's preprocessing as a dict (which ``evaluate`` and ``predict``
    adjust for a model of their own): data set, split, decode size, crop, class names."""
    published = published_model(name)
    pre = published.preprocessing
    return {"dataset": pre.dataset, "split": pre.split, "resize": pre.resize,
            "crop": pre.crop, "class_names": published.class_names}


def _model_preprocessing(model):
    """The preprocessing of a model object: the published one when ``el_zoo.load`` gave it
    published weights (it records their ``name.tag`` as ``model.published_name``), as far
    as the model still has the published input size and head; else its own input size."""
    size, classes = model.input_shape[1], model.output_shape[-1]
    published = getattr(model, "published_name", None)
    pre = preprocessing_of(published) if published else {"class_names": None}
    if (pre.get("crop") or pre.get("resize")) != size:
        pre.update(resize=size, crop=None)
    if len(pre["class_names"] or ()) != classes:  # a new head: not the published classes
        pre.update(class_names=None, dataset=None, split=None)
    return pre


def _load(name_or_model):
    if isinstance(name_or_model, str):
        return load(name_or_model), preprocessing_of(name_or_model)
    return name_or_model, _model_preprocessing(name_or_model)


def _model_labels(labels, folder_names, class_names, classes, where):
    """Labels as the model's class indices: by class name when the model's class names are
    known, else by folder position (which needs no more folders than the model has classes)."""
    if class_names:
        return data.labels_by_class_name(labels, folder_names, class_names, where)
    if len(folder_names) > classes:
        raise ValueError(
            f"{where} has {len(folder_names)} class folders but the model has {classes} "
            "classes; evaluate it on data of its own classes."
        )
    return labels


def evaluate(name_or_model, *, dataset=None, split=None, data_dir=None, limit=None,
             batch_size=256, resize=None, crop=None, predictions=False):
    """Top-1/top-5 of a published ``name.tag`` (or a model) on a data set split.

    For a published name (or a model ``el_zoo.load`` gave published weights) the data set,
    split and preprocessing default to the published ones, and class folders are matched
    to the model's classes by name: a folder holding only some classes (``cat/``,
    ``dog/``) is scored against the model's indices of those classes.

    Arguments:
        name_or_model: a published ``"name.tag"`` or a Keras model.
        dataset, split: the data set and split (ImageFolder ``dataset/split/class/image``).
        data_dir: the data root (default ``$EL_ZOO_DATA``).
        limit: evaluate only this many images (a positive integer; None: all).
        batch_size, resize, crop: inference batch size and preprocessing overrides.
        predictions: also return each image's top-1 class index, as ``"predictions"`` (an
            integer array in the order ``el_zoo.data.load_split`` gives the images; the
            first ``limit`` of the whole split's). ``"top1"`` is their accuracy.

    Returns ``{"top1", "top5", "images", "dataset", "split", "seconds"}`` (and
    ``"predictions"``).

    Example:
        ```python
        el_zoo.evaluate("resnet26_el.cifar10", limit=1000)["top1"]
        el_zoo.evaluate("resnet26_el.cifar10", limit=10, predictions=True)["predictions"]
        ```
    """
    data.check_limit(limit)  # before the model loads
    model, pre = _load(name_or_model)
    dataset, split = dataset or pre["dataset"], split or pre["split"]
    resize, crop = resize or pre["resize"], crop or pre["crop"]
    if dataset is None or split is None:
        raise ValueError("evaluate needs dataset= and split= for a model that is not published.")
    images, labels, folders = data.load_split(dataset, split, data_dir=data_dir,
                                              image_size=resize, limit=limit)
    labels = _model_labels(labels, folders, pre["class_names"], model.output_shape[-1],
                           f"{dataset}/{split}")
    started = time.time()
    pipeline = data.array_dataset(images, labels, batch_size=batch_size, training=False,
                                  crop_size=crop)
    probabilities = model.predict(pipeline, verbose=0)
    top5 = np.argsort(-probabilities, axis=-1)[:, :5]
    result = {"top1": float(np.mean(top5[:, 0] == labels)),
              "top5": float(np.mean((top5 == labels[:, None]).any(-1))),
              "images": int(len(labels)), "dataset": dataset, "split": split,
              "seconds": round(time.time() - started, 1)}
    if predictions:  # the smallest integer type that holds the model's class indices
        result["predictions"] = top5[:, 0].astype(np.min_scalar_type(probabilities.shape[-1]))
    return result


def _check_top(top, classes):
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or not 1 <= top <= classes:
        raise ValueError(f"top must be a whole number from 1 to {classes} (the "
                         f"model's classes); got {top!r}.")


def _class_names(pre, class_names, classes):
    """Names to print: ``class_names`` if given, else the published ones, else indices."""
    if class_names is None:
        return pre["class_names"] or [str(i) for i in range(classes)]
    if len(class_names) != classes:
        raise ValueError(f"class_names has {len(class_names)} names but the model has "
                         f"{classes} classes.")
    return list(class_names)


def predict(name_or_model, paths, *, top=5, class_names=None):
    """For each image file: a list of ``(class name, probability)``, most likely first.

    Arguments:
        name_or_model: a published ``"name.tag"``, or a Keras model. A model that
            ``el_zoo.load`` gave published weights is named and preprocessed as published;
            other models' classes are their indices unless ``class_names`` names them.
        paths: image files (one path, or a list of them).
        top: how many classes to list per image, from 1 to the model's classes.
        class_names: the model's class names, in its output order (overrides the
            published ones).

    Example:
        ```python
        model = el_zoo.load("resnet26_el.cifar10")
        el_zoo.predict(model, ["cat.png"], top=3)  # [[("cat", 0.91), ("dog", 0.05), ...]]
        ```
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("predict needs at least one image file.")
    model, pre = _load(name_or_model)
    classes = model.output_shape[-1]
    _check_top(top, classes)
    names = _class_names(pre, class_names, classes)
    images = np.stack([data.read_image(p, pre["resize"]) for p in paths]).astype(np.float32)
    if pre["crop"]:
        images = np.stack([data.center_crop(tf.constant(i), pre["crop"]).numpy() for i in images])
    probabilities = model.predict(images, verbose=0)
    results = []
    for row in probabilities:
        best = np.argsort(-row)[:top]
        results.append([(names[i], float(row[i])) for i in best])
    return results
