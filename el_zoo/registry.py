"""The model registry: ``register_model``, ``list_models`` and ``load``.

Model names are registered builder names (``resnet26_el``); a name may carry a weight tag
as ``name.tag`` (``resnet26_el.cifar10``), timm-style.
"""

import difflib
import fnmatch

_BUILDERS = {}
_TAGS = {}
# A model tagged "research" is registered to measure something (e.g. which part of an
# architecture Elastic-Link helps) and has no published weights unless a result earns them.
MODEL_TAGS = ("research",)
# A registered name ending in EL_SUFFIX has Elastic-Link on every binary conv; the name
# without it is its plain twin (resnet26_el / resnet26).
EL_SUFFIX = "_el"


def _registered():
    """The builders, after the model families have registered theirs. The families import
    TensorFlow, so they register on first need, not on import: listing published weights or
    splitting a name stays free of it. (Inside a family's own import this returns at once.)"""
    import el_zoo.nets  # noqa: F401

    return _BUILDERS


def register_model(builder=None, *, tags=()):
    """Registers a model builder under its function name: ``@register_model``, or
    ``@register_model(tags=("research",))`` with tags from ``MODEL_TAGS``."""
    unknown = set(tags) - set(MODEL_TAGS)
    if unknown:
        raise ValueError(f"unknown model tags {sorted(unknown)}; use some of {MODEL_TAGS}.")
    if builder is None:
        return lambda function: register_model(function, tags=tags)
    name = builder.__name__
    if name in _registered():
        raise ValueError(f"a model named {name!r} is registered already.")
    _BUILDERS[name] = builder
    _TAGS[name] = frozenset(tags)
    return builder


def model_tags(name):
    """The tags a registered model was registered with (a frozenset)."""
    arch, _ = split_name(name)
    get_builder(arch)
    return _TAGS[arch]


def split_name(name):
    """'resnet26_el.cifar10' -> ('resnet26_el', 'cifar10'); 'resnet26_el' -> (.., None)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name must be a non-empty string; got {name!r}.")
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def has_elastic_link(name):
    """Whether model ``name`` (``"resnet26_el"``, ``"resnet26_el.cifar10"``) has Elastic-Link."""
    return split_name(name)[0].endswith(EL_SUFFIX)


def elastic_link_twin(name):
    """The same architecture with Elastic-Link toggled: 'resnet26' <-> 'resnet26_el'."""
    arch, _ = split_name(name)
    return arch[: -len(EL_SUFFIX)] if has_elastic_link(arch) else arch + EL_SUFFIX


def get_builder(name):
    """The builder function of a registered architecture, or a clear error."""
    arch, _ = split_name(name)
    if arch not in _registered():
        close = difflib.get_close_matches(arch, list(_BUILDERS), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model {arch!r}.{hint} Registered models: {', '.join(sorted(_BUILDERS))}."
        )
    return _BUILDERS[arch]


def list_models(pattern=None, pretrained=False):
    """Sorted registered model names, filtered by a shell-style ``pattern``.

    With ``pretrained=True``, lists the published weights as ``name.tag`` instead.
    """
    if pretrained:
        from el_zoo.weights import published_names

        names = published_names()
    else:
        names = sorted(_registered())
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def load(
    name,
    *,
    weights=None,
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
            of an HDF5 weights file. A file written by ``el_zoo.weights.save_weights`` (or
            with a published file's content) carries the configuration it was saved with:
            like a tag's, it fills in the arguments not given, and one that contradicts
            it (or another architecture) is an error.
        input_shape: ``(H, W, 3)``; defaults to 224x224 for the imagenet stem, 32x32 for the
            cifar stem, or the published input size.
        classes: classifier size; defaults to 1000, or to the published head's size when
            loading published weights.
        include_top, width_multiplier (default 1.0), stem (default ``"imagenet"``): as the
            builders take them; with published weights, width and stem default to the
            published configuration and may not contradict it.
        **kwargs: passed on to the builder (``pooling``, ``classifier_activation``,
            ``input_tensor``, ``elastic_link`` for ``_el`` models). Published weights
            trained with non-default ``elastic_link`` options (recorded in the manifest)
            are built with those options.

    A model with published weights and their head records their ``name.tag`` as
    ``model.published_name`` (a plain attribute, not part of the saved model), from which
    ``el_zoo.predict`` and ``el_zoo.evaluate`` take its class names and preprocessing.

    Example:
        ```python
        model = el_zoo.load("resnet26_el", input_shape=(32, 32, 3), stem="cifar", classes=10)
        ```
    """
    arch, tag = split_name(name)
    builder = get_builder(arch)
    if tag is not None:
        if weights is not None and weights != tag:
            raise ValueError(
                f"{name!r} names weights {tag!r} but weights={weights!r} was passed too; "
                "give the weights once."
            )
        weights = tag
    config = {
        "input_shape": input_shape,
        "classes": classes,
        "width_multiplier": width_multiplier,
        "stem": stem,
    }
    if "elastic_link" in kwargs:
        config["elastic_link"] = kwargs.pop("elastic_link")
    weights_path = published = None
    if weights is not None:
        from el_zoo.weights import looks_like_path, resolve_weights

        weights_path, config = resolve_weights(arch, weights, config, include_top=include_top)
        published = None if looks_like_path(weights) else f"{arch}.{weights}"
    defaults = {"classes": 1000, "width_multiplier": 1.0, "stem": "imagenet"}
    for key, value in defaults.items():
        if config[key] is None:
            config[key] = value
    model = builder(weights=weights_path, include_top=include_top, **config, **kwargs)
    if published and include_top:
        model.published_name = published  # not saved with the model; see the docstring
    return model
