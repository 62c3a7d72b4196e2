"""What el_zoo records on a Keras model object beyond Keras: plain attributes, not saved
with the model, which the builders and ``el_zoo.load`` set and ``predict``, ``evaluate``
and ``save_weights`` read. ``RECORDED`` lists them all, so that a function that rebuilds a
model (``el_zoo.fold.fold_elastic_links``) keeps every one (``copy_record``).

- ``el_zoo_config``: the configuration a builder built the model with (``record_config``);
- ``published_weights``: the ``name.tag`` of the published weights it was loaded with;
- ``published_name``: the same, on a model that also has their classifier;
- ``class_names`` and ``named_classifier``: its classes' names and the fingerprint of the
  classifier they name (``name_classes``), valid while the classifier keeps those weights.
"""

import hashlib

CONFIG_ATTRIBUTE = "el_zoo_config"
RECORDED = (CONFIG_ATTRIBUTE, "published_weights", "published_name", "class_names",
            "named_classifier")


def record(model, **values):
    """Sets attributes of ``RECORDED`` on ``model``; returns it. ``object.__setattr__``:
    Keras would track a dict or tuple attribute as part of the model (and its checkpoints);
    these are plain metadata."""
    for key, value in values.items():
        if key not in RECORDED:
            raise KeyError(f"{key!r} is not an attribute el_zoo records on a model.")
        object.__setattr__(model, key, value)
    return model


def copy_record(source, target):
    """``target``, a model that computes what ``source`` does (``source`` rebuilt or
    folded), with every attribute el_zoo recorded on ``source``; class names still valid on
    ``source`` name ``target``'s classifier, whose weights may be rescaled by the folding."""
    record(target, **{key: getattr(source, key) for key in RECORDED if hasattr(source, key)})
    names = class_names_of(source)
    return target if names is None else name_classes(target, names)


def record_config(model, config):
    """Records on ``model`` the configuration it was built with (the builders do this)."""
    return record(model, **{CONFIG_ATTRIBUTE: dict(config)})


def built_config(model):
    """The configuration an el_zoo builder built ``model`` with (a dict), or None."""
    config = getattr(model, CONFIG_ATTRIBUTE, None)
    return dict(config) if config is not None else None


def name_classes(model, class_names):
    """Records the names of ``model``'s classes, in output order, as ``model.class_names``,
    with the fingerprint of its classifier (``classifier_fingerprint``): ``class_names_of``
    gives them only while the classifier keeps the weights it has now."""
    check_class_count(model, class_names)
    return record(model, class_names=tuple(class_names),
                  named_classifier=classifier_fingerprint(model))


def check_class_count(model, class_names):
    """Refuses ``class_names`` that are not one name per output of ``model``."""
    if isinstance(class_names, str):
        raise ValueError(f"class names must be a list of names; got the string {class_names!r}.")
    if len(class_names) != model.output_shape[-1]:
        raise ValueError(f"{len(class_names)} class names for {model.name}, which has "
                         f"{model.output_shape[-1]} outputs.")


def class_names_of(model):
    """``model.class_names`` (``name_classes``) while its classifier has the weights they
    were recorded with, else None: a model trained in place on other classes since
    (``fit`` with the head kept) would be named with the old ones."""
    names = getattr(model, "class_names", None)
    if names is None or getattr(model, "named_classifier", None) != classifier_fingerprint(model):
        return None
    return names


def classifier_fingerprint(model):
    """The sha256 of the weights of ``model``'s classifier, its last layer with weights
    (the softmax after it has none)."""
    digest = hashlib.sha256()
    weighted = [layer for layer in model.layers if layer.weights]
    for weight in weighted[-1].get_weights() if weighted else ():
        digest.update(weight.tobytes())
    return digest.hexdigest()
