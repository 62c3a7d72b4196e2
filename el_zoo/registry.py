"""The model registry: ``register_model``, ``list_models``, ``model_info``.

Model names are registered builder names (``resnet26_el``); a name may carry a weight tag
as ``name.tag`` (``resnet26_el.cifar10``), timm-style. The model families register theirs
when ``el_zoo.nets`` is imported, which ``import el_zoo`` does: the registry imports no
family (they import it), and listing models needs no TensorFlow. ``el_zoo.builder.load``
builds a registered model.
"""

import contextlib
import dataclasses
import difflib
import fnmatch
import os
from pathlib import Path
from typing import Optional

from el_zoo._tensorflow import load_model_call
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.pretrained import published_names

_BUILDERS = {}
_MODELS = {}
# A model tagged "research" is registered to measure something (e.g. which part of an
# architecture Elastic-Link helps) and has no published weights unless a result earns them.
MODEL_TAGS = ("research",)
# The stems every registered builder takes (el_zoo.nets._blocks checks them): "imagenet"
# downsamples in the stem (224x224 inputs by default), "cifar" does not (32x32). Here, not
# with the blocks, so that el-zoo's --stem lists them without loading TensorFlow.
STEMS = ("imagenet", "cifar")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a registered model besides its builder.

    ``family``: the architecture without Elastic-Link ("resnet26" for resnet26 and
    resnet26_el); ``elastic_link``: the ``ElasticLinkOptions`` its links are built with by
    default, None for a model without Elastic-Link; ``tags``: a frozenset of ``MODEL_TAGS``.
    """

    name: str
    family: str
    elastic_link: Optional[ElasticLinkOptions]
    tags: frozenset

    @property
    def has_elastic_link(self):
        return self.elastic_link is not None

    @property
    def twin(self):
        """The same family with Elastic-Link toggled ("resnet26" <-> "resnet26_el"), or None
        when the family has no such model."""
        for info in _MODELS.values():
            if info.family == self.family and info.has_elastic_link != self.has_elastic_link:
                return info.name
        return None


def register_model(builder=None, *, family=None, elastic_link=None, tags=()):
    """Registers a model builder under its function name.

    Arguments:
        builder: the function that builds the model (its name is the model's name).
        family: the architecture's name without Elastic-Link, shared by a model and its
            twin with (or without) links; defaults to the builder's name.
        elastic_link: for a model with Elastic-Link, the ``ElasticLinkOptions`` (or True
            for the global defaults) its links are built with unless the caller passes
            others; None for a model without.
        tags: some of ``MODEL_TAGS``.

    A family holds at most one model with Elastic-Link and one without (its twin).

    Example:
        ```python
        @register_model(family="resnet26", elastic_link=ElasticLinkOptions())
        def resnet26_el(elastic_link=True, **kwargs):
            ...
        ```
    """
    _check_tags(tags)
    if elastic_link is True:
        elastic_link = ElasticLinkOptions()
    if elastic_link is not None and not isinstance(elastic_link, ElasticLinkOptions):
        raise TypeError(f"register_model: elastic_link must be None, True or an "
                        f"ElasticLinkOptions; got {elastic_link!r}.")
    if builder is None:
        return lambda function: register_model(function, family=family,
                                                elastic_link=elastic_link, tags=tags)
    name = builder.__name__
    if name in _MODELS:
        raise ValueError(f"a model named {name!r} is registered already.")
    info = ModelInfo(name, family or name, elastic_link, frozenset(tags))
    if any(other.family == info.family and other.has_elastic_link == info.has_elastic_link
           for other in _MODELS.values()):
        kind = "with" if info.has_elastic_link else "without"
        raise ValueError(f"family {info.family!r} has a model {kind} Elastic-Link already "
                         f"({', '.join(family_models(info.family))}); register {name} in a "
                         "family of its own.")
    _BUILDERS[name] = builder
    _MODELS[name] = info
    return builder


def _check_tags(tags):
    """Refuses tags that are not a collection of ``MODEL_TAGS`` (a string alone is a
    collection of letters, which no model carries)."""
    if isinstance(tags, str):
        raise TypeError(f"tags must be a tuple of tags, e.g. ({tags!r},); got {tags!r}.")
    unknown = set(tags) - set(MODEL_TAGS)
    if unknown:
        raise ValueError(f"unknown model tags {sorted(unknown)}; use some of {MODEL_TAGS}.")


@contextlib.contextmanager
def temporary_models():
    """Inside this block, models may be registered for a while: on leaving it the registry
    holds exactly the models it held on entering (for tests and experiments that register
    a family of their own and must leave the registry as they found it).

    Example:
        ```python
        with temporary_models():
            register_model(toy_net, family="toy_net")
            model = load("toy_net")
        ```
    """
    models, builders = dict(_MODELS), dict(_BUILDERS)  # the zoo's families included
    try:
        yield
    finally:
        _MODELS.clear()
        _MODELS.update(models)
        _BUILDERS.clear()
        _BUILDERS.update(builders)


def model_info(name):
    """The ``ModelInfo`` of a registered model (``"resnet26_el"`` or ``"resnet26_el.cifar10"``),
    or a clear error for an unknown name."""
    arch, _ = split_name(name)
    models = _MODELS
    if arch not in models:
        raise ValueError(
            f"Unknown model {arch!r}.{_did_you_mean(name, arch, models)} Registered models: "
            f"{', '.join(sorted(models))}."
        )
    return models[arch]


def _did_you_mean(name, arch, models):
    """The hint of ``model_info``'s unknown-name error: ``name`` in lower case when that is a
    registered name (``ResNet18_EL.cifar10``, ``RESNET26``: names are lower case, and the
    closest names by spelling missed an all-caps one), else the closest registered names,
    case aside. A name in other case is not taken: el-zoo list, file names and records all
    spell it one way."""
    if arch.lower() in models:
        return f" Did you mean {name.lower()!r}? Model names are lower case."
    close = difflib.get_close_matches(arch.lower(), list(models), n=3, cutoff=0.4)
    return f" Did you mean {', '.join(close)}?" if close else ""


def model_tags(name):
    """The tags a registered model was registered with (a frozenset)."""
    return model_info(name).tags


def split_name(name):
    """'resnet26_el.cifar10' -> ('resnet26_el', 'cifar10'); 'resnet26_el' -> (.., None)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name must be a non-empty string; got {name!r}.")
    if is_path_like(name):
        raise _path_as_name(name)
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def join_name(arch, tag):
    """('resnet26_el', 'cifar10') -> 'resnet26_el.cifar10'; ('resnet26_el', None) ->
    'resnet26_el' (``split_name`` undone)."""
    return arch if tag is None else f"{arch}.{tag}"


# The suffix of a TFLite flatbuffer's file: el-zoo benchmark, TFLite's and LCE's tools tell
# the files by it, so el_zoo writes them under no other (el_zoo.convert).
TFLITE_SUFFIX = ".tflite"
# The suffixes of an HDF5 file, to which Keras writes weights (save_weights) or a model
# saved whole (model.save("m.h5")); and that of a model saved whole in Keras' own format.
HDF5_SUFFIXES = (".h5", ".hdf5")
KERAS_SUFFIX = ".keras"


def is_path_like(text):
    """Whether ``text`` reads as a file path, not a model name or weights tag: it holds a
    folder separator or ends as a Keras weights or model file, or a converted model
    (``TFLITE_SUFFIX``), does (no registered name does either)."""
    return ("/" in text or os.sep in text
            or text.endswith((*HDF5_SUFFIXES, KERAS_SUFFIX, TFLITE_SUFFIX)))


def h5_files_in(folder):
    """The ``.h5`` files of ``folder`` (a run's folder, a copy of ``models/NAME.TAG/``),
    sorted: the weights files that the errors and warnings about a folder named where a
    model name goes point to."""
    return sorted(Path(folder).glob("*.h5"))


def _path_as_name(name):
    """The error for a file path given where a model name goes: it says how to load the
    file, instead of calling it an unknown (misspelt) model, and what to give the model to
    (``el-zoo convert tuned.keras`` was told to use el_zoo.predict or el_zoo.evaluate, and
    a whole model's ``.h5`` file to load it as weights, which refuses it)."""
    what = ("a folder path" if os.path.isdir(name) else "a file path" if os.path.exists(name)
            else "a path (to no file)")
    if name.endswith(TFLITE_SUFFIX):
        return _tflite_as_name(name, what)
    whole = load_model_call(name)
    weights_files = h5_files_in(name) if os.path.isdir(name) else []
    if weights_files:  # a run's folder, a copy of models/NAME.TAG/: its weights file
        how = (f"load the weights file in it with el_zoo.load(MODEL, weights="
               f"{os.path.join(name, weights_files[0].name)!r}) (MODEL: the architecture it "
               f"was saved from)")
    elif name.endswith(KERAS_SUFFIX) or os.path.isdir(name):
        how = f"load a saved model with {whole}"
    else:
        how = (f"load a weights file with el_zoo.load(MODEL, weights={name!r}) (MODEL: the "
               f"architecture it was saved from), or a model saved whole (model.save) with "
               f"{whole}")
    return ValueError(
        f"{name!r} is {what}, not a model name: {how}, and give that model to el_zoo's "
        "functions (el_zoo.predict, evaluate, convert, profile); the el-zoo commands take a "
        "registered NAME or a published NAME.TAG (el-zoo list, el-zoo list --pretrained)."
    )


def _tflite_as_name(name, what):
    """The error for a .tflite file given where a model name goes (it was "Unknown model
    'm'"): a converted model does not load back into Keras; it runs in an interpreter."""
    return ValueError(
        f"{name!r} is {what} of a converted TFLite model, not a model name: el_zoo.load "
        "builds Keras models and cannot load a .tflite file back into Keras. Run it with "
        f"interpreter_outputs({name!r}, images), from el_zoo.convert (images: RGB pixels in "
        "[0, 255], shape (N, H, W, 3); it returns the model's outputs) or LCE's "
        "larq_compute_engine.tflite.python.interpreter.Interpreter, time it with el-zoo "
        f"benchmark {name}, or load the Keras model it was converted from (its NAME.TAG, or "
        "el_zoo.load(MODEL, weights=FILE.h5)) for el_zoo.predict and evaluate."
    )


def has_elastic_link(name):
    """Whether model ``name`` (``"resnet26_el"``, ``"resnet26_el.cifar10"``) has Elastic-Link."""
    return model_info(name).has_elastic_link


def elastic_link_twin(name):
    """The same architecture with Elastic-Link toggled: 'resnet26' <-> 'resnet26_el'; a
    weight tag is kept ('resnet26_el.cifar10' -> 'resnet26.cifar10'). An error when the
    family has no twin."""
    info, (_, tag) = model_info(name), split_name(name)
    if info.twin is None:
        kind = "without" if info.has_elastic_link else "with"
        raise ValueError(f"{info.name} has no twin {kind} Elastic-Link registered.")
    return join_name(info.twin, tag)


def family_models(family):
    """The registered models of ``family``: the one without Elastic-Link first."""
    return [info.name for info in sorted(_MODELS.values(), key=lambda info: (
        info.has_elastic_link, info.name)) if info.family == family]


def families(*, include_research=True):
    """The registered families in the order they were registered (the order of the tables
    that benchmarks generate); with ``include_research=False``, only those with a model not
    tagged "research"."""
    found = [info.family for info in _MODELS.values()
             if include_research or "research" not in info.tags]
    return list(dict.fromkeys(found))


def get_builder(name):
    """The builder function of a registered architecture, or a clear error."""
    return _BUILDERS[model_info(name).name]


def list_models(pattern=None, pretrained=False, *, family=None, elastic_link=None, tags=(),
                include_research=True):
    """Sorted registered model names, filtered.

    Arguments:
        pattern: a shell-style pattern the name must match (``"resnet*"``).
        pretrained: list the published weights as ``name.tag`` instead (the filters apply
            to their model).
        family: only models of this family (``"resnet26"``: resnet26 and resnet26_el).
        elastic_link: True for only models with Elastic-Link, False for only those without.
        tags: only models carrying all of these tags.
        include_research: False leaves out models tagged "research".

    Example:
        ```python
        el_zoo.list_models(family="resnet26")  # ["resnet26", "resnet26_el"]
        el_zoo.list_models(elastic_link=True, include_research=False)
        ```
    """
    _check_filters(family, elastic_link, tags)
    names = published_names() if pretrained else sorted(_MODELS)

    def wanted(name):
        info = model_info(name)
        return ((pattern is None or fnmatch.fnmatch(name, pattern))
                and (family is None or info.family == family)
                and (elastic_link is None or info.has_elastic_link == bool(elastic_link))
                and set(tags) <= info.tags
                and (include_research or "research" not in info.tags))

    return [name for name in names if wanted(name)]



def _check_filters(family, elastic_link, tags):
    """Refuses ``list_models`` filters that would match nothing, or everything, by mistake:
    an unknown family or tag, an ``elastic_link`` that is not True, False or None."""
    _check_tags(tags)
    if elastic_link not in (None, True, False):
        raise TypeError(f"elastic_link must be True, False or None; got {elastic_link!r}.")
    known = families()
    if family is not None and family not in known:
        close = difflib.get_close_matches(str(family), known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown family {family!r}.{hint} Families: {', '.join(known)}.")
