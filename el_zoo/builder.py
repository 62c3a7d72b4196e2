"""Building a registered model with its weights: ``load``, and HDF5 weight files.

``load(name, weights=...)`` resolves the weights (a published tag, through
``el_zoo.pretrained``, or a file), completes the builder's arguments from the configuration
they were trained with, refusing arguments that contradict it, and calls the registered
builder; the builder assembles the model (``el_zoo.nets._blocks.assemble``), which records
the configuration it was built with (``record_config``) and loads the weights file into it
(``load_weights_file``). timm splits the same work between ``_factory``, ``_builder`` and
``_helpers``.

Weight files are HDF5 (``save_weights(model, "weights.h5")``): no pickle anywhere. A weights
file fits one architecture, and Elastic-Link options change what weights compute without
changing any weight shape, so loading by layer name alone can succeed and give another
model. ``save_weights`` therefore stores the configuration a model was built with
(``built_config``: registered name, width, stem, resolved Elastic-Link options, head and
input size) as the file's ``el_zoo_config`` attribute, and loading checks it against the
model; the names of its classes, when known, go in ``el_zoo_class_names``, and the published
``name.tag`` its weights were loaded from, if any, in ``el_zoo_published_weights`` (the images
they were trained on are decoded at that tag's size and cropped as its are). A file without
a configuration (saved by ``model.save_weights``, or one of the first published files)
whose content is a published file's is checked against that model's manifest record; any
other file is checked by its layer names and weight shapes only.
"""

import contextlib
import difflib
import inspect
import json
import os
import warnings
import zipfile
from pathlib import Path

import h5py

from el_zoo._tensorflow import load_model_call
from el_zoo.arguments import check_count
from el_zoo.atomic import atomic_path
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.errors import with_command_line_message
from el_zoo.model_record import (CONFIG_ATTRIBUTE, LAYER_ATTRIBUTE, built_config,
                                 class_names_of, in_json_types, published_weights_of, record)
from el_zoo.pretrained import (ModelConfig, fetch, published_model, published_with_content,
                               read_manifest)
from el_zoo.registry import (elastic_link_twin, get_builder, h5_files_in, has_elastic_link,
                             is_path_like, join_name, model_info, split_name)

# The HDF5 attributes save_weights writes: el_zoo.model_record.CONFIG_ATTRIBUTE, and
CLASS_NAMES_ATTRIBUTE = "el_zoo_class_names"  # the names of a classifier's classes
PUBLISHED_WEIGHTS_ATTRIBUTE = "el_zoo_published_weights"  # the name.tag they were loaded from
# What weights compute depends on these; classes and input size are either checked by the
# weight shapes (the head) or may differ (a backbone loads a full model's weights).
ARCHITECTURE_KEYS = ("model", "width_multiplier", "stem", "elastic_link")
CONFIG_KEYS = ("input_shape", "classes", "width_multiplier", "stem")  # of ModelConfig
CLASSIFIER = "predictions"  # the name of a model's classifier layer (its head's Dense)
# A conv unit NAME (el_zoo.nets._blocks names them) is its conv NAME + CONV_SUFFIX, its batch
# norm NAME + BN_SUFFIX and, for a binary conv with Elastic-Link, its ElasticLink NAME +
# LINK_SUFFIX ("block1_dw": "block1_dw_conv", "block1_dw_bn", "block1_dw_el"; ``link_unit``
# undoes the last). The link's suffix is how weight files without a recorded config are
# recognised as holding links.
CONV_SUFFIX = "_conv"
BN_SUFFIX = "_bn"
LINK_SUFFIX = "_el"
# What load passes on to a registered builder besides its own arguments (keras.applications'
# pooling, classifier_activation and input_tensor, and an _el model's elastic_link).
BUILDER_KEYWORDS = ("pooling", "classifier_activation", "input_tensor", "elastic_link")
# The builder arguments that neither load's caller nor the weights gave: keras.applications'
# head and el_zoo's full width and ImageNet stem (el_zoo.nets._blocks.build's defaults too).
BUILD_DEFAULTS = {"classes": 1000, "width_multiplier": 1.0, "stem": "imagenet"}


def link_unit(link_name):
    """The conv unit an ElasticLink layer belongs to: ``"block1_dw_el"`` -> ``"block1_dw"``
    (whose conv is ``"block1_dw" + CONV_SUFFIX`` and batch norm ``+ BN_SUFFIX``)."""
    return link_name.removesuffix(LINK_SUFFIX)


class WeightsFileError(ValueError):
    """A weights file that cannot be read: not HDF5, truncated, or not written by Keras."""


class _NameTag:
    """``load``'s default ``weights``: none given, so the tag of the name, if any, names
    them. Why not None: ``load("resnet18_el.cifar10", weights=None)``, a random
    initialisation as keras.applications read ``weights=None``, loaded the published
    weights without a word (a "from scratch" baseline that was pretrained)."""

    def __repr__(self):
        return "<the name's tag, else None>"


NAME_TAG = _NameTag()


# ----------------------------------------------------------------------------------- load
def load(
    name,
    *,
    weights=NAME_TAG,
    input_shape=None,
    classes=None,
    include_top=True,
    width_multiplier=None,
    stem=None,
    **kwargs,
):
    """Builds a registered model, optionally with weights.

    Arguments:
        name: a registered name (``"resnet26_el"``), optionally with a weight tag
            (``"resnet26_el.cifar10"``).
        weights: None (random initialisation), a published tag (``"cifar10"``) or the path
            of an HDF5 weights file; by default the tag of ``name``, if it has one, else
            None (``weights=None`` with a tagged name is an error, naming the call that
            builds the tag's configuration untrained). A file written by ``el_zoo.save_weights`` (or
            with a published file's content) carries the configuration it was saved with:
            like a tag's, it fills in the arguments not given, and one that contradicts
            it (or another architecture) is an error.
        input_shape: ``(H, W, 3)``; defaults to 224x224 for the imagenet stem, 32x32 for the
            cifar stem, or the published input size. With weights and their classifier
            (``include_top=True``) another size is an error, as in keras.applications;
            so is an ``input_tensor`` of another size.
        classes: classifier size; defaults to 1000, or to the published head's size when
            loading published weights.
        include_top, width_multiplier (default 1.0), stem (default ``"imagenet"``): as the
            builders take them; with published weights, width and stem default to the
            published configuration and may not contradict it.
        **kwargs: passed on to the builder (``pooling``, ``classifier_activation``,
            ``input_tensor``, and for a model with Elastic-Link ``elastic_link``: a dict of
            options replacing some of the model's defaults, or an
            ``el_zoo.ElasticLinkOptions``); any other keyword is a TypeError that names
            the nearest one. A tag never changes the architecture:
            ``load("X.tag")`` builds ``load("X")`` and loads the tag's weights into it
            (weights trained with other Elastic-Link options are refused, naming them).

    A model with published weights and their head records their ``name.tag`` as
    ``model.published_name`` (``el_zoo.model_record``; a model saved whole with
    ``model.save`` and reloaded keeps the record), from which
    ``el_zoo.predict`` and ``el_zoo.evaluate`` take its preprocessing; it and a model
    loaded from a weights file that names its classes (``el-zoo train`` writes such files)
    record their names as ``model.class_names`` (``layers.name_classes``), which predict and
    evaluate use as long as the classifier keeps the loaded weights. Any
    model with published weights (a backbone too) records it as ``model.published_weights``,
    from which they take the decode size and crop of a model that calls it as a layer (a
    backbone under a new head); so does a model loaded from a file ``el_zoo.save_weights``
    wrote from such a model (fine-tuned or not), which records their ``name.tag``.

    Example:
        ```python
        model = el_zoo.load("resnet26_el", input_shape=(32, 32, 3), stem="cifar", classes=10)
        ```
    """
    arch, tag = split_name(name)
    builder = get_builder(name)  # an unknown name is named whole, with its tag
    _check_keywords(arch, kwargs)
    weights = _weights_of(name, tag, weights)
    warn_of_a_folder_named(name, arch, weights)
    if input_shape is None and kwargs.get("input_tensor") is not None:
        # the weights' input size is checked against it as against input_shape
        input_shape = tuple(kwargs["input_tensor"].shape[1:])
    if include_top and classes is not None:  # before it is compared with the weights' head
        check_count(classes, f"{name}: classes", " (a class count)")
    config = {
        "input_shape": input_shape,
        "classes": classes,
        "width_multiplier": width_multiplier,
        "stem": stem,
    }
    if "elastic_link" in kwargs:
        config["elastic_link"] = kwargs.pop("elastic_link")
    weights_path = published = origin = None
    if weights is not None:
        is_path = _names_a_file(tag, weights)
        weights_path, config = resolve_weights(arch, weights, config, include_top=include_top,
                                               is_path=is_path)
        published = _published_name(arch, weights, weights_path, is_path)
        origin = published or stored_published_weights(weights_path, arch)
        if include_top and classes is None:
            _check_head_activation_given(name, weights, config, kwargs)
    for key, value in BUILD_DEFAULTS.items():
        if config[key] is None:
            config[key] = value
    model = builder(weights=weights_path, include_top=include_top, **config, **kwargs)
    if origin:  # el_zoo.model_record: kept by model.save, and by save_weights as the origin
        record(model, published_weights=origin)
    if published and include_top:
        record(model, published_name=published)
    if include_top and weights_path is not None:
        if not published:
            _name_classes_from_file(model, weights_path)
        elif published_model(published).class_names is not None:
            _layers().name_classes(model, published_model(published).class_names)
    return model


def _layers():
    """``el_zoo.layers``, which holds the rule of how many class names a model takes (a
    binary classifier of a single output: two), imported when a model exists: it imports
    TensorFlow, which this module, one of ``el_zoo.LIGHT_MODULES``, must not at import (it
    lists models)."""
    from el_zoo import layers

    return layers


def _check_head_activation_given(name, weights, config, kwargs):
    """Refuses to build, before the softmax head's own error, a classifier of one output
    that the weights file gave (``classes`` not passed) without ``classifier_activation``:
    a file does not record its head's activation, and a binary classifier ends in a
    sigmoid or in a logit, never in the default softmax. Before, that error spoke of a
    ``classes=1`` the caller never passed."""
    if config["classes"] == 1 and "classifier_activation" not in kwargs:
        raise ValueError(
            f"{name}: {weights} holds the head of a binary classifier (one output), and a "
            "weights file does not record how that output ends: pass "
            "classifier_activation='sigmoid' for a probability or classifier_activation=None "
            "for a logit, as the model was built.")


def _weights_of(name, tag, weights):
    """The weights ``load`` loads: ``weights``, or by default (``NAME_TAG``) the tag of
    ``name`` (None without one); a tag and other weights, or None, are refused."""
    if weights is NAME_TAG:
        return tag
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, a published tag (e.g. 'cifar10') or the path "
                        f"of an .h5 file; got {weights!r}.")
    if tag is None or weights == tag:
        return weights
    published = read_manifest().models.get(name)
    if weights is None and published is None:
        return tag  # an unpublished tag: resolve_weights says so, listing the published ones
    if weights is None:
        arguments = "".join(f", {key}={getattr(published.config, key)!r}"
                            for key in CONFIG_KEYS if getattr(published.config, key) is not None)
        raise ValueError(
            f"{name!r} names published weights but weights=None (a random initialisation) "
            f"was passed too: load({name!r}) loads them; el_zoo.load({split_name(name)[0]!r}"
            f"{arguments}) builds their configuration untrained."
        )
    raise ValueError(f"{name!r} names weights {tag!r} but weights={weights!r} was passed "
                     "too; give the weights once.")


class FolderNamedAsModel(UserWarning):
    """A folder in the working directory is named as a model that a bare name loads instead
    (``warn_of_a_folder_named``)."""


def warn_of_a_folder_named(name, arch, weights, subject=None, give_path=None):
    """Warns when a folder in the working directory is named as the model ``name`` names
    (a run's ``--output-dir resnet18_el.cifar10``, a copy of ``models/resnet18_el.cifar10/``):
    a bare name is a model name (``looks_like_path``), so that folder is not read, and its
    weights (maybe a run's own) silently lost to the published ones. A folder holding the
    published file of that name (a copy of ``models/``) is the same model: no warning.

    ``subject``: the call as its user wrote it (``el_zoo.load('NAME')`` by default);
    ``give_path(arch, folder, files)``: the sentence that says how that call takes the
    folder's ``.h5`` ``files`` as a path (by default as ``el_zoo.load``'s ``weights=``).
    ``el-zoo train --teacher`` words them as a ``--teacher`` value."""
    if not os.path.isdir(name):
        return
    files = h5_files_in(name)
    if weights is None:
        what = f"{arch} untrained (random weights)"
    elif _names_a_file(split_name(name)[1], weights):
        what = f"{arch} with weights={os.fspath(weights)!r}"
    else:
        what = f"the published weights {join_name(arch, weights)}"
        if any(getattr(published_with_content(path), "name", None) == join_name(arch, weights)
               for path in files):
            return
    subject = subject or f"el_zoo.load({name!r})"
    warnings.warn(
        f"{subject} loads {what}, not the folder {name} in the working directory: a bare "
        f"name is a model name. {(give_path or _weights_path)(arch, name, files)}.",
        FolderNamedAsModel, stacklevel=3)


def _weights_path(arch, folder, files):
    how = (f"el_zoo.load({arch!r}, weights={f'./{folder}/{files[0].name}'!r})" if files
           else f"weights='./{folder}/FILE.h5'")
    return f"To load weights from that folder, give its file as a path: {how}"


def holds_whole_model(path):
    """Whether the file ``path`` holds a whole Keras model in HDF5 (``model.save("m.h5")``,
    which ``keras.models.load_model`` reads), not weights only (``save_weights``)."""
    try:
        return _json_attribute(path, "model_config") is not None
    except WeightsFileError:
        return False


def _name_classes_from_file(model, path):
    """Names the classes of ``model``, loaded from weights file ``path``, as the file does:
    those ``save_weights`` saved, or those recorded on the model a whole-model file holds,
    with the fingerprint of the classifier they named (``class_names_of`` gives them only
    if it is the file's: not after that model's head was trained on other classes)."""
    names = stored_class_names(path)
    if names is not None:
        try:
            _layers().name_classes(model, names)
        except ValueError as error:  # the weights are good: load them, unnamed
            warnings.warn(
                f"{path} names the classes {list(names)}, which do not fit {model.name}: "
                f"{error} Its classes are left unnamed: pass class_names= to predict, "
                "evaluate or convert, or save the weights again with "
                "el_zoo.save_weights(model, path, class_names=[...]).", stacklevel=3)
        return
    saved = _saved_model_record(path) or {}
    if saved.get("class_names") is not None:
        record(model, class_names=tuple(saved["class_names"]),
               named_classifier=saved.get("named_classifier"))


def _published_name(arch, weights, path, is_path):
    """The ``name.tag`` of the published weights ``load`` loads: a tag's, or (``is_path``)
    that of the published file a weights path holds the content of
    (``weights="models/X/weights.h5"`` or a copy), which is then named and preprocessed as
    the tag would be."""
    if not is_path:
        return join_name(arch, weights)
    published = published_with_content(path)
    if published is None or split_name(published.name)[0] != arch:
        return None
    return published.name


def _check_keywords(arch, kwargs):
    """Refuses a keyword ``load`` neither takes nor passes on (``BUILDER_KEYWORDS``), naming
    the nearest one: the builder would otherwise fail with a TypeError that names a family's
    internal function, not the model."""
    unknown = [key for key in kwargs if key not in BUILDER_KEYWORDS]
    if not unknown:
        return
    own = [key for key in inspect.signature(load).parameters if key not in ("name", "kwargs")]
    accepted = own + list(BUILDER_KEYWORDS)
    nearest = difflib.get_close_matches(unknown[0], accepted, n=1)
    hint = f" (did you mean {nearest[0]!r}?)" if nearest else ""
    raise TypeError(
        f"load({arch!r}) got an unexpected keyword argument {unknown[0]!r}{hint}; it takes "
        f"{', '.join(accepted)}."
    )


def _names_a_file(tag, weights):
    """Whether ``load``'s ``weights`` name a file, given the ``tag`` of its ``name``: the tag
    of a NAME.TAG is a tag, whatever file is named as it here; else ``looks_like_path``."""
    return tag is None and looks_like_path(weights)


def looks_like_path(weights):
    """Whether ``load``'s ``weights`` names a file rather than a published tag: it reads as a
    path, or is a file in the working directory. A folder there is not: run from a data
    folder, its ``cifar10/`` took every ``load("X.cifar10")`` for a weights file that
    "does not exist". The tag of a ``load("X.cifar10")`` is a tag, whatever the working
    directory holds. ``el-zoo train --teacher`` tells a ``NAME.TAG`` from a saved model by
    it too."""
    text = os.fspath(weights)
    return is_path_like(text) or os.path.isfile(text)


def resolve_weights(arch, weights, config, *, include_top=True, models_dir=None,
                    is_path=None):
    """(path of the weights file, builder config) for ``weights`` = a tag or a path;
    ``is_path`` says which (by default, ``looks_like_path``)."""
    if is_path is None:
        is_path = looks_like_path(weights)
    if is_path:
        path = Path(weights)
        if path.is_dir():
            raise IsADirectoryError(
                f"weights={os.fspath(weights)!r} is a folder, not a weights file: give the "
                ".h5 file in it (a run folder's weights.h5), or load a SavedModel folder "
                f"with {load_model_call(weights)}."
            )
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {path} does not exist; pass an existing .h5 file, a "
                "published tag, or weights=None for a random initialisation."
            )
        return path, _merge_file_config(arch, path, config, include_top, models_dir)
    manifest = read_manifest(models_dir)
    name = join_name(arch, weights)
    published = manifest.models.get(name)
    if published is None:
        tags = [tag for other, tag in map(split_name, manifest.models) if other == arch]
        available = ", ".join(tags) if tags else "none yet"
        problem = f"no published weights {weights!r} for {arch} (published tags: {available})."
        raise with_command_line_message(  # el-zoo takes no weights path: its own advice
            ValueError(f"{problem} Pass a path to an .h5 file, or see "
                       "el_zoo.list_models(pretrained=True)."),
            f"{problem} See el-zoo list --pretrained.")
    path = fetch(manifest, published.weights)
    return path, _merge_config(arch, name, published.config, config, include_top)


def _merge_config(arch, source, trained, requested, include_top, *, from_file=False):
    """``requested`` with what it leaves open taken from ``trained`` (the ``ModelConfig``
    the weights ``source``, e.g. 'resnet26_el.cifar10', were trained with); contradictions
    that would change what the weights compute are errors. The Elastic-Link options of
    a weights file (``from_file``) fill in too; a tag's never do: a tag is weights for its
    model's architecture (``_check_elastic_link``)."""
    config = dict(requested)
    for key in CONFIG_KEYS:
        value = getattr(trained, key)
        if config.get(key) is None:
            config[key] = value
        elif key in ("width_multiplier", "stem") and config[key] != value:
            raise ValueError(
                f"{source} was trained with {key}={value!r}; {key}={config[key]!r} "
                "cannot use those weights. Drop the argument or use weights=None."
            )
        elif key == "classes" and include_top and value is not None and config[key] != value:
            raise ValueError(
                f"{source} has a {value}-class head but classes={config[key]} was "
                "asked for; pass include_top=False to use the backbone with a new head."
            )
        elif key == "input_shape" and include_top and value is not None \
                and _is_rgb(config[key]) and tuple(config[key]) != tuple(value):
            raise ValueError(_input_size_message(source, value, config[key]))
    if has_elastic_link(arch):
        options = _check_elastic_link(arch, source, trained.elastic_link,
                                      config.get("elastic_link"), from_file)
        if from_file:
            config["elastic_link"] = options
    return config


def _is_rgb(input_shape):
    """Whether ``input_shape`` is (height, width, 3): only then is another size than the
    weights' one; the builder refuses any other shape as not RGB (a grayscale (32, 32, 1)
    or channels-first (3, 32, 32) shape was called an image size the model never saw)."""
    return len(input_shape) == 3 and input_shape[-1] == 3


def _input_size_message(source, trained_shape, requested_shape):
    """Why a classifier is not built at another input size than its weights were trained at
    (as keras.applications refuse it): its head would score features of a scale it never saw,
    and predict/evaluate would resize every image to that size without a word."""
    height, width = trained_shape[:2]
    return (
        f"{source} was trained on {height}x{width} images; input_shape="
        f"{tuple(requested_shape)} with its classifier (include_top=True) would score images "
        f"at a size it never saw. Leave input_shape out (el_zoo.predict and el_zoo.evaluate "
        f"resize images to {height}x{width}), or pass include_top=False to use the backbone "
        "at another size under a new head."
    )


def _check_elastic_link(arch, source, recorded, requested, from_file):
    """The ``ElasticLinkOptions`` weights ``source`` were trained with (``recorded`` as the
    manifest or the file keeps them), checked against those ``arch`` builds: the ones
    ``requested`` (``load``'s ``elastic_link``), else, for a tag, the model's defaults.

    Other options would change what the weights compute without changing any weight shape,
    so loading would succeed and silently give another model: that is an error.
    """
    defaults = model_info(arch).elastic_link
    trained = ElasticLinkOptions.from_record(recorded)
    text = _options_call(trained, defaults)
    if requested is not None and defaults.resolve(requested) != trained:
        raise ValueError(
            f"{source} was trained with Elastic-Link options "
            f"{'defaults' if text is True else text}; elastic_link={requested!r} cannot use "
            "those weights. Drop the argument or use weights=None."
        )
    if requested is None and not from_file and trained != defaults:
        raise ValueError(
            f"{source} was trained with Elastic-Link options {text}, not with {arch}'s "
            f"defaults, and a tag never changes the architecture: pass elastic_link={text!r} "
            "to build the model these weights fit."
        )
    return trained


def _options_call(options, defaults):
    """How ``elastic_link=`` asks for ``options`` of a model with ``defaults``: True, or a
    dict of the options that differ."""
    return options.overrides(defaults) or True


def _merge_file_config(arch, path, requested, include_top, models_dir):
    """``requested`` completed from the configuration weights file ``path`` was saved
    with (``stored_config``), like a published tag's; unchanged for a file without one."""
    stored, published = stored_config(path, models_dir)
    if stored is None:
        return requested
    if stored["model"] != arch:
        raise ValueError(_mismatch_message(path, stored, published, {"model": arch}))
    if include_top and not stored.get("include_top", True):
        raise ValueError(
            f"{path} holds the backbone of {describe(stored)}, saved with "
            "include_top=False: it has no classifier weights. Load it with "
            "include_top=False (and pooling='avg' or 'max'), then add a head of your own "
            "(README: Fine-tuning)."
        )
    source = f"{path} (the published {published})" if published else \
        f"{path} (saved from {describe(stored)})"
    return _merge_config(arch, source, _trained_config(stored), requested, include_top,
                         from_file=True)


# --------------------------------------------------------------------------- weight files
def save_weights(model, path, class_names=None):
    """Saves ``model``'s weights as HDF5, with the configuration it was built with.

    The file appears complete under ``path`` or not at all. ``el_zoo.load(name,
    weights=path)`` then takes the options the model was built with (Elastic-Link options,
    width, stem, classes) from the file and refuses a model they do not fit. A model that
    no el_zoo builder built (it records no configuration) is saved without one. Class
    names saved with the weights become the loaded model's ``class_names``, with which
    ``el_zoo.predict`` and ``el_zoo.evaluate`` name its classes. A model loaded with
    published weights (``model.published_weights``) is saved with their ``name.tag``, so
    that the model loaded from the file is fed images decoded and cropped as theirs were
    (``resnet18_el.imagenette``: at 146, centre crop 128), not squashed to its input size.

    Arguments:
        model: a Keras model, normally built by ``el_zoo.load``.
        path: the ``.h5`` file to write.
        class_names: the names of the model's classes, in output order (a binary
            classifier of a single output, ``Dense(1)`` or ``Dense(1,
            activation="sigmoid")``: two, its negative class then its positive one, as
            ``el_zoo.convert`` and ``el_zoo.predict`` take them); by default those
            ``el_zoo.load`` gave it (``class_names_of``), if any. Another count is
            refused before anything is written.

    Example:
        ```python
        model = el_zoo.load("resnet18_el", input_shape=(32, 32, 3), stem="cifar", classes=10)
        el_zoo.save_weights(model, "weights.h5")
        same = el_zoo.load("resnet18_el", weights="weights.h5")  # cifar stem, 10 classes
        ```
    """
    config, origin = built_config(model), published_weights_of(model)
    if class_names is None:
        class_names = class_names_of(model)
    else:  # as convert and predict take them: a binary classifier's two
        _layers().check_class_names(model, class_names)
    with atomic_path(path) as temporary:
        model.save_weights(str(temporary), save_format="h5")
        with h5py.File(temporary, "r+") as f:
            if config is not None:
                f.attrs[CONFIG_ATTRIBUTE] = json.dumps(in_json_types(config))
            if class_names is not None:
                f.attrs[CLASS_NAMES_ATTRIBUTE] = json.dumps(list(class_names))
            if origin is not None:
                f.attrs[PUBLISHED_WEIGHTS_ATTRIBUTE] = json.dumps(origin)
    return Path(path)


def _incomplete(path, error):
    return WeightsFileError(
        f"{path} is not a complete HDF5 weights file; re-download or re-save it "
        f"(h5py: {error})."
    )


@contextlib.contextmanager
def _open_weights(path):
    """``path`` opened with h5py for reading; a clear error for a file that is not HDF5,
    is cut short (an interrupted copy or download) or is damaged."""
    if not h5py.is_hdf5(path):
        raise WeightsFileError(_not_hdf5_message(path))
    try:
        with h5py.File(path, "r") as f:
            yield f
    except OSError as error:
        raise _incomplete(path, error) from None


def _not_hdf5_message(path):
    """Why el_zoo cannot read weights from ``path``, a file that is not HDF5, and what to do
    with it: a model saved whole in Keras' own format (a fine-tuned model's ``tuned.keras``,
    a zip archive) loads with Keras' ``load_model``, not as weights."""
    if zipfile.is_zipfile(path):
        return (
            f"{path} is a model saved whole in Keras' format (model.save('tuned.keras')), not "
            f"a weights file: load it with {load_model_call(path)} "
            "and give that model to el_zoo's functions (el_zoo.predict, "
            "evaluate, convert); el_zoo.load takes weights from .h5 files written by "
            "el_zoo.save_weights(model, 'weights.h5') or model.save('model.h5')."
        )
    return (f"{path} is not an HDF5 weights file; el_zoo loads files written by "
            "el_zoo.save_weights(model, 'weights.h5') or model.save_weights('weights.h5').")


def _stored_datasets(f, path):
    """(layer name, [its weights' HDF5 datasets]) of an open Keras HDF5 weights file."""
    group = f["model_weights"] if "model_weights" in f else f
    try:
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
        return [(name, [group[name][w.decode() if isinstance(w, bytes) else w]
                        for w in group[name].attrs["weight_names"]]) for name in names]
    except KeyError as error:
        raise WeightsFileError(f"{path} is HDF5 but not a Keras weights file ({error}).") from None


def _file_layers(path):
    """{layer name: [weight shapes]} of a Keras HDF5 weights file."""
    with _open_weights(path) as f:
        return {name: [tuple(d.shape) for d in datasets]
                for name, datasets in _stored_datasets(f, path)}


def stored_classes(path):
    """The number of outputs of the classifier a weights file holds, or None (a backbone's
    file, or one whose model has no classifier named as el_zoo names it)."""
    head = _file_layers(path).get(CLASSIFIER)
    return head[0][-1] if head else None


def stored_weights(path):
    """{layer name: [weight arrays]} of a Keras HDF5 weights file, in the file's order."""
    with _open_weights(path) as f:
        return {name: [d[()] for d in datasets] for name, datasets in _stored_datasets(f, path)}


def stored_config(path, models_dir=None):
    """(config, published name) of the model weights file ``path`` was saved from.

    The config is the file's ``el_zoo_config`` attribute, or that of the model a whole-model
    file (``model.save("model.h5")``) holds (``_saved_model_record``; published name None),
    else, for a file with a published weights file's content, that model's manifest record
    (published name e.g. ``"mobilenet_v1_el.cifar10"``); (None, None) for any other file.
    """
    config = _json_attribute(path, CONFIG_ATTRIBUTE)
    if config is None:
        config = (_saved_model_record(path) or {}).get(CONFIG_ATTRIBUTE)
    if config is not None:
        return config, None
    published = published_with_content(path, models_dir)
    if published is None:
        return None, None
    return _config_of_published(published.name, published.config), published.name


def _saved_model_record(path):
    """What el_zoo recorded on the model a whole-model HDF5 file holds
    (``model.save("model.h5")``: the record its input layer's config carries,
    ``el_zoo.model_record``: configuration, published weights' ``name.tag``, class names and
    the fingerprint of the classifier they named), or None: for a weights file, or a model
    el_zoo did not build (a new head on an el_zoo model's layers: the record names other
    outputs, or another number of classes than the file's classifier has). Why: loaded by
    layer names alone,
    such a file of mobilenet_v1_el.cifar10 went into the default imagenet stem (its
    weights have the same shapes), 32 % top-1 instead of 66 % on 200 test images."""
    model_config = _json_attribute(path, "model_config")
    if not isinstance(model_config, dict):
        return None
    functional = model_config.get("config") or {}
    outputs = [output[0] for output in functional.get("output_layers") or []]
    for layer in functional.get("layers") or []:
        saved = (layer.get("config") or {}).get(LAYER_ATTRIBUTE) or {}
        if CONFIG_ATTRIBUTE in saved:
            config = saved[CONFIG_ATTRIBUTE]
            recorded = [output[0] for output in saved.get("outputs") or []]
            head = _file_layers(path).get(CLASSIFIER) or [()]
            if recorded != outputs or config.get("include_top") and \
                    head[0][-1:] != (config.get("classes"),):
                return None
            return saved
    return None


def stored_class_names(path):
    """The class names saved with weights file ``path`` (``save_weights``), or None."""
    names = _json_attribute(path, CLASS_NAMES_ATTRIBUTE)
    return None if names is None else tuple(names)


def stored_published_weights(path, arch):
    """The published ``name.tag`` of model ``arch`` whose weights those of file ``path``
    were loaded from (``save_weights`` records it, as ``model.save`` does in a whole-model
    file), or None: for a file without one, or one whose tag is no longer published for
    ``arch``."""
    origin = _json_attribute(path, PUBLISHED_WEIGHTS_ATTRIBUTE)
    if origin is None:  # a whole-model file: the record of the model it holds
        origin = (_saved_model_record(path) or {}).get("published_weights")
    if not isinstance(origin, str) or origin not in read_manifest().models \
            or split_name(origin)[0] != arch:
        return None
    return origin


def _json_attribute(path, key):
    """The JSON value of HDF5 attribute ``key`` of weights file ``path``, or None."""
    with _open_weights(path) as f:
        text = f.attrs.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise WeightsFileError(
            f"{path} has a damaged {key} attribute ({error}); re-save it.") from None


def _config_of_published(name, published):
    """A published model's ``ModelConfig`` as ``built_config`` gives it (every
    Elastic-Link option)."""
    arch, _ = split_name(name)
    config = {key: getattr(published, key) for key in CONFIG_KEYS}
    config["input_shape"] = list(config["input_shape"] or []) or None
    options = ElasticLinkOptions.from_record(published.elastic_link)
    return {**config, "model": arch, "include_top": True,
            "elastic_link": options.as_dict() if has_elastic_link(arch) else None}


def _trained_config(config):
    """A ``built_config`` as the ``ModelConfig`` a published model records (what
    ``_merge_config`` takes): only what fixes the model to build."""
    shape, options = config.get("input_shape"), config.get("elastic_link")
    return ModelConfig(
        input_shape=tuple(shape) if shape and None not in shape else None,
        classes=config.get("classes") if config.get("include_top") else None,
        width_multiplier=config.get("width_multiplier"), stem=config.get("stem"),
        elastic_link=None if options is None else ElasticLinkOptions.from_record(options))


def _registered_defaults(arch):
    """The Elastic-Link defaults of model ``arch``; the global ones for a name no longer
    registered (a file saved from a model registered by another program)."""
    try:
        return model_info(arch).elastic_link or ElasticLinkOptions()
    except ValueError:
        return ElasticLinkOptions()


def describe(config):
    """'resnet18_el(width_multiplier=0.25, stem='cifar', elastic_link=True)': the call that
    builds the architecture of a ``built_config`` (``elastic_link`` True for the model's
    defaults, else the options that differ from them)."""
    arguments = [f"{key}={config[key]!r}" for key in ("width_multiplier", "stem")
                 if config.get(key) is not None]
    if config.get("elastic_link") is not None:
        options = ElasticLinkOptions.from_record(config["elastic_link"])
        call = _options_call(options, _registered_defaults(config["model"]))
        arguments.append(f"elastic_link={call!r}")
    return f"{config['model']}({', '.join(arguments)})" if arguments else config["model"]


def _architecture(config):
    """The values of ``ARCHITECTURE_KEYS`` in a config, Elastic-Link options resolved (a
    file saved before every option was recorded keeps only some)."""
    values = {key: config.get(key) for key in ARCHITECTURE_KEYS}
    if values["elastic_link"] is not None:
        values["elastic_link"] = ElasticLinkOptions.from_record(values["elastic_link"])
    return values


def _mismatch_message(path, stored, published, wanted):
    stored_values, wanted_values = _architecture(stored), _architecture(wanted)
    differing = [key for key in ARCHITECTURE_KEYS
                 if key in wanted and stored_values[key] != wanted_values[key]]
    if published:
        fix = f"it is the published {published}: load it with el_zoo.load({published!r})"
    else:
        fix = (f"load it with el_zoo.load({stored['model']!r}, weights={str(path)!r}), "
               "which takes the options it was saved with from the file")
    return (
        f"{path} holds weights of {describe(stored)}, but the model is {describe(wanted)} "
        f"(another {' and '.join(differing)}): weights compute what they were trained to "
        f"only in the architecture they were saved from. Refusing; {fix}."
    )


def _check_architecture(model, path, models_dir=None):
    """Refuses a file saved from another architecture than the one ``model`` was built as,
    when both are known (``stored_config`` and ``built_config``)."""
    stored, published = stored_config(path, models_dir)
    built = built_config(model)
    if stored is None or built is None:
        return
    if _architecture(stored) != _architecture(built):
        raise ValueError(_mismatch_message(path, stored, published, built))


def _link_layers(names):
    return sorted(name for name in names if name.endswith(LINK_SUFFIX))


def _twin_hint(name):
    """'load it with resnet18' for a registered model's twin."""
    try:
        return f"load it with {elastic_link_twin(name)}"
    except ValueError:  # a model no builder registered, or one without a twin
        return "load it into the architecture it was saved from"


def _check_layer_names(model, path, stored, wanted):
    """Every layer of ``model`` with weights is in the file, and the file has weights
    for no layer the model lacks but the classifier (a backbone loads a full file):
    an Elastic-Link model's file into its plain twin, or the other way round, is refused."""
    missing = sorted(name for name in wanted if name not in stored)
    extra = sorted(name for name, shapes in stored.items()
                   if shapes and name not in wanted and name != CLASSIFIER)
    _check_not_nested(model, path, stored, wanted, missing)
    _check_not_own_head(model, path, stored, missing, extra)
    cases = (  # (layers, the other side's layers, what is wrong, the file's model, hint)
        (missing, stored, "it has no weights for {}", "without",
         "architecture or width_multiplier"),
        (extra, wanted, "it holds weights for {} the model has not", "with", "architecture"),
    )
    for names, other, wrong, saved_from, hint in cases:
        if not names:
            continue
        only_links = names == _link_layers(names) and not _link_layers(other)
        kind = "Elastic-Link layer(s)" if only_links else "layer(s)"
        problem = (f"{path} does not match {model.name}: "
                   f"{wrong.format(f'{len(names)} {kind}')}, e.g. {names[:3]}")
        if only_links:
            raise ValueError(f"{problem}, so it was saved from a model {saved_from} "
                             f"Elastic-Link; {_twin_hint(model.name)}.")
        raise ValueError(f"{problem}. Was it saved from another {hint}?")


def _check_not_nested(model, path, stored, wanted, missing):
    """Refuses, saying why, a file saved from a model that holds a whole model as one of
    its layers (a backbone under a new head, README: Fine-tuning): Keras saves that layer's
    weights as one entry, so none of ``model``'s layers are found by name, and the generic
    message would blame another architecture."""
    largest = max(len(shapes) for shapes in wanted.values())
    nested = [name for name, shapes in stored.items()
              if len(shapes) > largest and name not in wanted]
    if missing and nested:
        raise ValueError(
            f"{path} was saved from a model that holds the model {nested[0]!r} as one of its "
            f"layers ({len(stored[nested[0]])} weights), e.g. a backbone under a new head, so "
            f"it cannot be loaded into {model.name} by layer name. {_load_it_instead(path)}"
        )


def _check_not_own_head(model, path, stored, missing, extra):
    """Refuses, saying why, a file that holds every layer of ``model``'s backbone and layers
    of the user's own instead of el_zoo's classifier: a head built on ``backbone.output``
    (keras.applications' fine-tuning idiom), which no el_zoo builder rebuilds. The generic
    message blamed another architecture or width_multiplier, which the user then tried in
    vain. A file with el_zoo's classifier and extra layers is another, larger architecture
    (resnet26's downsampling convs given to resnet26p): the generic message is right."""
    own = [name for name in extra if name not in _link_layers(extra)]
    if own and not stored.get(CLASSIFIER) and set(missing) <= {CLASSIFIER}:
        raise ValueError(
            f"{path} holds all of {model.name}'s backbone and weights for {len(extra)} "
            f"layer(s) it has not, e.g. {extra[:3]}: it was saved from a model with layers "
            "of your own on the backbone (e.g. a new head on backbone.output, README: "
            f"Fine-tuning), which el_zoo cannot rebuild. {_load_it_instead(path)}"
        )


def _load_it_instead(path):
    """How to load ``path``, a file of a model of the user's own that el_zoo cannot rebuild
    (a new head on a backbone): a whole model's (``model.save("tuned.h5")``, as the README
    says to keep a fine-tuned model) with Keras' ``load_model``; weights only into that
    model rebuilt. Why: a whole model's file was told to be saved whole."""
    if holds_whole_model(path):
        return (f"It holds that whole model (model.save): load it with "
                f"{load_model_call(path)}, not el_zoo.load.")
    return ("Rebuild that model as you built it and call its load_weights(path), or save "
            "the whole model (model.save('model.keras')) and load it with "
            f"{load_model_call()}.")


def _unrecorded_hint(path, models_dir):
    """What to add to ``classes=`` for a file that records no configuration: the options
    its weight shapes cannot tell (a stem's stride, Elastic-Link options), without which it
    loads into another architecture without a word."""
    if stored_config(path, models_dir)[0] is not None:
        return ""
    return (" The file records no el_zoo configuration (Keras' own save_weights): pass the "
            "stem, width_multiplier, input_shape and elastic_link options its model was "
            "built with too, since weights of one shape fit more than one architecture (a "
            "stem's stride, where a link is added); el_zoo.save_weights files record them.")


def load_weights_file(model, path, *, include_top=True, models_dir=None):
    """Loads an HDF5 weights file into ``model`` by layer name, with clear errors.

    A file saved from another architecture (``stored_config``, when known) is refused.
    The file may hold more than the model only by a classifier (a full model's file into
    a backbone built with ``include_top=False``), never less: every layer with weights
    must be in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist.")
    stored = _file_layers(path)
    _check_architecture(model, path, models_dir)
    wanted = {layer.name: [tuple(w.shape) for w in layer.weights]
              for layer in model.layers if layer.weights}
    _check_layer_names(model, path, stored, wanted)
    for name, shapes in wanted.items():
        if stored[name] != shapes:
            if name == CLASSIFIER and include_top:
                raise ValueError(
                    f"{path} has a classifier of shape {stored[name][0]} but the model's "
                    f"is {shapes[0]}: pass classes={stored[name][0][-1]}, or "
                    "include_top=False to load the backbone only."
                    f"{_unrecorded_hint(path, models_dir)}"
                )
            raise ValueError(
                f"{path} does not match {model.name}: layer {name!r} has weights of shapes "
                f"{stored[name]} in the file but {shapes} in the model (another "
                "width_multiplier or architecture?)."
            )
    try:
        model.load_weights(str(path), by_name=True)
    except OSError as error:  # a damaged dataset shows only when it is read
        raise _incomplete(path, error) from None
    return model
