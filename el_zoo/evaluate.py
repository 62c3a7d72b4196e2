"""Re-measuring and using published models: ``evaluate`` (top-1/top-5 on a data set split)
and ``predict`` (top-k class names of image files), with the preprocessing the model was
published with."""

import time

import numpy as np

from el_zoo import data


def preprocessing_of(name):
    """The published record's preprocessing: data set, split, decode size and crop."""
    from el_zoo.weights import published_record

    record = published_record(name)
    size = record["config"]["input_shape"][0]
    return {"dataset": record.get("dataset"), "split": record.get("eval_split"),
            "resize": record.get("resize", size), "crop": record.get("crop"),
            "class_names": record.get("class_names")}


def _load(name_or_model):
    import el_zoo

    if isinstance(name_or_model, str):
        return el_zoo.load(name_or_model), preprocessing_of(name_or_model)
    size = name_or_model.input_shape[1]
    return name_or_model, {"resize": size, "crop": None, "class_names": None,
                           "dataset": None, "split": None}


def evaluate(name_or_model, *, dataset=None, split=None, data_dir=None, limit=None,
             batch_size=256, resize=None, crop=None):
    """Top-1/top-5 of a published ``name.tag`` (or a model) on a data set split.

    For a published name the data set, split and preprocessing default to the published
    ones. Returns ``{"top1", "top5", "images", "seconds"}``.
    """
    model, pre = _load(name_or_model)
    dataset, split = dataset or pre["dataset"], split or pre["split"]
    resize, crop = resize or pre["resize"], crop or pre["crop"]
    if dataset is None or split is None:
        raise ValueError("evaluate needs dataset= and split= for a model that is not published.")
    images, labels, _ = data.load_split(dataset, split, data_dir=data_dir, image_size=resize,
                                        limit=limit)
    started = time.time()
    pipeline = data.array_dataset(images, labels, batch_size=batch_size, training=False,
                                  crop_size=crop)
    probabilities = model.predict(pipeline, verbose=0)
    top5 = np.argsort(-probabilities, axis=-1)[:, :5]
    return {"top1": float(np.mean(top5[:, 0] == labels)),
            "top5": float(np.mean((top5 == labels[:, None]).any(-1))),
            "images": int(len(labels)), "dataset": dataset, "split": split,
            "seconds": round(time.time() - started, 1)}


def predict(name_or_model, paths, *, top=5):
    """For each image file: a list of ``(class name, probability)``, most likely first."""
    import tensorflow as tf

    model, pre = _load(name_or_model)
    names = pre["class_names"] or [str(i) for i in range(model.output_shape[-1])]
    images = np.stack([data.read_image(p, pre["resize"]) for p in paths]).astype(np.float32)
    if pre["crop"]:
        images = np.stack([data.center_crop(tf.constant(i), pre["crop"]).numpy() for i in images])
    probabilities = model.predict(images, verbose=0)
    results = []
    for row in probabilities:
        best = np.argsort(-row)[:top]
        results.append([(names[i], float(row[i])) for i in best])
    return results
