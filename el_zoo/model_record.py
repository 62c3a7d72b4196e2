"""What el_zoo records on a Keras model object beyond Keras, which the builders and
``el_zoo.load`` set and ``predict``, ``evaluate`` and ``save_weights`` read through the
getters here. ``RECORDED`` lists them all, so that a function that rebuilds a model
(``el_zoo.fold.fold_elastic_links``) keeps every one (``copy_record``).

- ``el_zoo_config``: the configuration a builder built the model with (``record_config``);
- ``published_weights``: the ``name.tag`` of the published weights it was loaded with;
- ``published_name``: the same, on a model that also has their classifier;
- ``class_names`` and ``named_classifier``: its classes' names and the fingerprint of the
  classifier they name (``record_class_names``; ``el_zoo.layers.name_classes`` checks their
  count first), valid while the classifier keeps those weights.

They are plain attributes of the model object, and (``record``) a copy in the config of the
layer at the model's input that carries one (``LAYER_ATTRIBUTE``, ``el_zoo.Standardize``),
which Keras saves with the model: a model reloaded from a ``.keras``/``.h5`` file, or rebuilt
from its layers (``keras.Model(model.inputs, model.outputs)``), still knows its tag, its
classes and its configuration. That copy names the model's outputs and their shapes
(``"outputs"``) and holds only for a model with those outputs: a new head on the layers of a
published model (``keras.Model(model.input, Dense(5)(...))``, keras.applications' idiom) is
another model, of which only ``published_weights`` holds (its layers hold those weights, to
be fed images decoded and cropped as theirs were). A model
that calls an el_zoo model as a layer (a backbone under a new head) records nothing of it
itself: the backbone keeps its own record, in its own input layer.
"""

import dataclasses
import hashlib
import json

CONFIG_ATTRIBUTE = "el_zoo_config"
RECORDED = (CONFIG_ATTRIBUTE, "published_weights", "published_name", "class_names",
            "named_classifier")
# The attribute (and config key) of a layer that carries the record of the model it is the
# input layer of (``el_zoo.layers.Standardize``): a dict of RECORDED values, JSON's types, and
# "outputs", the names and shapes of that model's outputs; None when nothing is recorded.
LAYER_ATTRIBUTE = "el_zoo_record"


def record(model, **values):
    """Sets attributes of ``RECORDED`` on ``model``, and copies every attribute it has to
    its input layer's config (``LAYER_ATTRIBUTE``), if it has such a layer; returns it.
    ``object.__setattr__``: Keras would track a dict or tuple attribute as part of the model
    (and its checkpoints); these are plain metadata."""
    for key, value in values.items():
        if key not in RECORDED:
            raise KeyError(f"{key!r} is not an attribute el_zoo records on a model.")
        object.__setattr__(model, key, value)
    layer = _record_layer(model)
    if layer is not None and values:
        attributes = {key: getattr(model, key) for key in RECORDED if hasattr(model, key)}
        copy = in_json_types(attributes)  # what Keras can save
        object.__setattr__(layer, LAYER_ATTRIBUTE, {**copy, "outputs": _outputs(model)})
    return model


def in_json_types(value):
    """``value`` (a configuration, class names) as it reads back from JSON, where el_zoo
    keeps its records (a saved model, a weights file): numpy's numbers as Python's (json
    cannot write ``np.float32``, whose repr, "0.25", would read back as a string that the
    builders refuse), a dataclass (``ElasticLinkOptions``) as the dict of its fields (its
    ``as_dict``), tuples as lists; a TypeError for any other value."""
    return json.loads(json.dumps(value, default=_json_value))


def _json_value(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "tolist"):  # numpy's numbers and arrays
        return value.tolist()
    raise TypeError(
        f"el_zoo records a model's configuration and class names as JSON, to save them with "
        f"the model and its weights: {value!r} ({type(value).__name__}) is not a number, "
        "string, list or dict, or one of numpy's numbers."
    )


def forget(model):
    """``model``, a new model built from another's config (its record came with its input
    layer's) that is not that model (``strip_binarization``: another architecture, fresh
    weights), without any record."""
    for key in RECORDED:
        if key in vars(model):
            object.__delattr__(model, key)
    layer = _record_layer(model)
    if layer is not None:
        object.__setattr__(layer, LAYER_ATTRIBUTE, None)
    return model


def copy_record(source, target):
    """``target``, a model that computes what ``source`` does (``source`` rebuilt or
    folded), with everything el_zoo recorded on ``source``; class names still valid on
    ``source`` name ``target``'s classifier, whose weights may be rescaled by the folding."""
    record(target, **_recorded(source))
    names = class_names_of(source)
    return target if names is None else record_class_names(target, names)


def _recorded(model):
    """{key of ``RECORDED``: value} of ``model``: its attributes, else, for a model loaded
    from a file or rebuilt from its layers, the copy its input layer carries for a model
    with its outputs (``record``), of which a model with other outputs (a new head on those
    layers) keeps only ``published_weights``; {} for a model el_zoo recorded nothing on."""
    attributes = {key: getattr(model, key) for key in RECORDED if hasattr(model, key)}
    if attributes:
        return attributes
    layer = _record_layer(model)
    copy = getattr(layer, LAYER_ATTRIBUTE, None) or {}
    if copy.get("outputs") != _outputs(model):  # a new head on its layers: another model,
        # whose layers still hold the published weights they were loaded with
        return {key: copy[key] for key in ("published_weights",) if key in copy}
    values = {key: copy[key] for key in RECORDED if key in copy}
    if values.get("class_names") is not None:
        values["class_names"] = tuple(values["class_names"])
    return values


def _record_layer(model):
    """The first of ``model``'s own layers (not those of a model it calls as a layer) that
    carries a record (``LAYER_ATTRIBUTE``), or None."""
    return next((layer for layer in getattr(model, "layers", ())
                 if hasattr(layer, LAYER_ATTRIBUTE)), None)


def _outputs(model):
    """[name, shape] of each of ``model``'s outputs, which identify it among the models that
    share its input layer: a new head has another name or, named as el_zoo names its own,
    another number of classes."""
    names = getattr(model, "output_names", None)
    if names is None:
        return None
    return [[name, output.shape.as_list()] for name, output in zip(names, model.outputs)]


def published_name_of(model):
    """The ``name.tag`` of the published weights and head ``model`` was loaded with, or None."""
    return _recorded(model).get("published_name")


def published_weights_of(model):
    """The ``name.tag`` of the published weights ``model`` was loaded with (a backbone's
    too), or None; None for a layer that is not a model."""
    return _recorded(model).get("published_weights")


def recorded_class_names(model):
    """The class names recorded on ``model``, valid or not (``class_names_of`` says which),
    or None."""
    return _recorded(model).get("class_names")


def record_config(model, config):
    """Records on ``model`` the configuration it was built with (the builders do this), in
    JSON's types (``in_json_types``): as the model saved and reloaded, and its weights file,
    give it back."""
    return record(model, **{CONFIG_ATTRIBUTE: in_json_types(dict(config))})


def built_config(model):
    """The configuration an el_zoo builder built ``model`` with (a dict), or None."""
    config = _recorded(model).get(CONFIG_ATTRIBUTE)
    return dict(config) if config is not None else None


def built_without_classifier(model):
    """Whether an el_zoo builder built ``model`` without its classifier
    (``include_top=False``, with or without ``pooling``): its outputs are features, not
    class scores (``predict`` and ``evaluate`` refuse it; ``convert`` compares them by
    value, not by arg-max)."""
    config = built_config(model)
    return config is not None and not config.get("include_top", True)


def record_class_names(model, class_names):
    """Records the names of ``model``'s classes, in output order, as ``model.class_names``,
    with the fingerprint of its classifier (``classifier_fingerprint``): ``class_names_of``
    gives them only while the classifier keeps the weights it has now. Their count is not
    checked here: ``el_zoo.layers.name_classes`` checks it first, since telling a binary
    classifier of a single output (two names) from other models needs Keras, which this
    module does not import."""
    return record(model, class_names=tuple(class_names),
                  named_classifier=classifier_fingerprint(model))


def check_class_count(model, class_names, binary=False):
    """Refuses ``class_names`` that are not one name per output of ``model``, or, with
    ``binary`` (``model`` is a binary classifier of a single output, whose decision
    threshold ``el_zoo.layers.decision_threshold`` knows), not two names: its negative
    class, then its positive one (Keras' labels 0 and 1, as the sorted class names of
    ``image_dataset_from_directory`` give them). ``el_zoo.layers.check_class_names`` says
    which."""
    if isinstance(class_names, str):
        raise ValueError(f"class names must be a list of names; got the string {class_names!r}.")
    if binary and len(class_names) != 2:  # one name, the positive class's, said nothing of 0
        raise ValueError(
            f"{model.name} has a single output (a binary classifier: the score of its "
            "positive class), so class_names takes two names, the negative class then the "
            f"positive one, e.g. ['cat', 'dog']; got {len(class_names)}: {list(class_names)}.")
    if not binary and len(class_names) != model.output_shape[-1]:
        raise ValueError(f"{len(class_names)} class names for {model.name}, which has "
                         f"{model.output_shape[-1]} outputs.")


def class_names_of(model):
    """``model.class_names`` (``record_class_names``) while its classifier has the weights they
    were recorded with, else None: a model trained in place on other classes since
    (``fit`` with the head kept) would be named with the old ones."""
    values = _recorded(model)
    names = values.get("class_names")
    if names is None or values.get("named_classifier") != classifier_fingerprint(model):
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
