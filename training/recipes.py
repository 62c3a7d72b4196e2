"""Training recipes as plain Python data.

A recipe names a data set, an input size, an augmentation, a batch size, a width and one or
more *stages*. Each stage is trained to completion (with its own checkpoints) before the
next, which starts from the previous stage's weights.

Stage keys:
    epochs, lr (peak learning rate), schedule ("cosine" or "linear" decay to 0 over the
    stage), warmup_epochs (linear warm-up, default 0), weight_decay (decoupled, AdamW;
    0 = plain Adam), binary_weights (False = stage 1 of the two-stage recipe: binary
    activations with real-valued weights), binary_activations (False = real-valued
    activations, ``hard_tanh`` in place of sign; with real weights too, the model's float
    twin), label_smoothing, init ("previous": start from the previous stage's weights, by
    layer name; "fresh": a new initialisation), teacher (None, or the name of an earlier
    stage whose model, frozen, is distilled from: ReActNet's KL loss to its softmax).

Recipes:
    cifar10: our CPU-budget CIFAR-10 schedule. 32x32, cifar stem, pad-crop + flip, batch
        128, Adam peak 2e-3, cosine decay, one stage with binary weights and activations
        from the start. Default width 0.25 and 16 epochs, sized so that a model and its EL
        twin train side by side on a 2-core CPU, one core each, within a session
        (reports/train_throughput.md measures their speeds). The published CIFAR-10 models
        override width and epochs (their cards record each command; the budgets and what
        they reached: docs/elastic_link.md).
    imagenette: our CPU-budget Imagenette schedule at 128x128 (images are stored at 146x146
        and cropped, ImageNet-style: random-resized-crop + flip; eval resizes to 146 and
        centre-crops 128), imagenet stem, batch 64, Adam 2e-3 cosine, 40 epochs, width
        0.75: the published resnet18_el.imagenette (its card has the time and accuracy).
    The recipe study's arms, each compared with ``cifar10`` at equal CPU time: ``cifar10``
    with other stages before its "main" stage. Stage "float" trains the model's float twin
    (real weights, hard_tanh activations; one-cycle-like: 1 warm-up epoch, then cosine;
    label smoothing 0.1). The stage epochs are defaults; ``--stage-epochs NAME=N`` sets them.
    cifar10_float_init: the float twin initialises the binary net's latent weights. The
        study's winner (docs/elastic_link.md, "Training cost"): the recipe for new CIFAR-10
        runs; ``cifar10`` keeps its definition for the runs recorded under its name.
    cifar10_kd: the float twin is the teacher of a freshly initialised binary net.
    cifar10_float_init_kd: the float twin initialises the binary net and is its teacher.
    cifar10_two_stage: binary activations with real weights ("stage1"), then both binary.
    imagenet_paper: the two-stage schedule of ReActNet (Liu et al., 2020) and the
        binarization literature, at 224x224: stage 1 trains binary activations with
        real-valued weights (weight decay 5e-6), stage 2 binarizes both, initialised from
        stage 1, without weight decay; Adam, linear decay, batch 256, 256 epochs per stage
        (the paper's budget; override with --epochs). Optional distillation from a float
        teacher (--teacher NAME.TAG or a Keras model file), as ReActNet does.
"""

import copy
from collections.abc import Mapping

from el_zoo.arguments import int_hint, is_positive
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.registry import model_info

CIFAR10_MAIN = {"name": "main", "epochs": 16, "lr": 2e-3, "schedule": "cosine",
                "weight_decay": 0.0, "binary_weights": True}
# the float twin of a recipe-study arm: a fast float schedule, then teacher or initialiser
FLOAT_STAGE = {"name": "float", "epochs": 4, "lr": 2e-3, "schedule": "cosine",
               "warmup_epochs": 1, "label_smoothing": 0.1, "weight_decay": 0.0,
               "binary_weights": False, "binary_activations": False}

RECIPES = {
    "cifar10": {
        "dataset": "cifar10",
        "train_split": "train",
        "eval_split": "test",
        "image_size": 32,
        "stem": "cifar",
        "augment": "cifar",
        "batch_size": 128,
        "width_multiplier": 0.25,
        "stages": [CIFAR10_MAIN],
    },
    "cifar10_float_init": {
        "based_on": "cifar10",
        "stages": [FLOAT_STAGE, {**CIFAR10_MAIN, "epochs": 12}],
    },
    "cifar10_kd": {
        "based_on": "cifar10",
        "stages": [FLOAT_STAGE, {**CIFAR10_MAIN, "epochs": 12, "init": "fresh",
                                 "teacher": "float"}],
    },
    "cifar10_float_init_kd": {
        "based_on": "cifar10",
        "stages": [FLOAT_STAGE, {**CIFAR10_MAIN, "epochs": 12, "teacher": "float"}],
    },
    "cifar10_two_stage": {
        "based_on": "cifar10",
        "stages": [{**CIFAR10_MAIN, "name": "stage1", "epochs": 6, "binary_weights": False},
                   {**CIFAR10_MAIN, "epochs": 10}],
    },
    "imagenette": {
        "dataset": "imagenette",
        "train_split": "train",
        "eval_split": "val",
        "image_size": 128,
        "stored_size": 146,
        "stem": "imagenet",
        "augment": "imagenet",
        "batch_size": 64,
        "width_multiplier": 0.75,
        "stages": [
            {"name": "main", "epochs": 40, "lr": 2e-3, "schedule": "cosine",
             "weight_decay": 0.0, "binary_weights": True},
        ],
    },
    "imagenet_paper": {
        "dataset": "imagenet",
        "train_split": "train",
        "eval_split": "val",
        "image_size": 224,
        "stored_size": 256,
        "stem": "imagenet",
        "augment": "imagenet",
        "batch_size": 256,
        "width_multiplier": 1.0,
        "stages": [
            {"name": "stage1", "epochs": 256, "lr": 5e-4, "schedule": "linear",
             "weight_decay": 5e-6, "binary_weights": False},
            {"name": "stage2", "epochs": 256, "lr": 5e-4, "schedule": "linear",
             "weight_decay": 0.0, "binary_weights": True},
        ],
    },
}

STAGE_DEFAULTS = {"warmup_epochs": 0, "label_smoothing": 0.0, "binary_activations": True,
                  "init": "previous", "teacher": None}
STAGE_INITS = ("previous", "fresh")
OVERRIDABLE = ("epochs", "batch_size", "width_multiplier", "lr", "image_size")


def _resolved(name):
    """Recipe ``name`` with its ``based_on`` recipe's settings filled in (a deep copy)."""
    recipe = copy.deepcopy(RECIPES[name])
    base = recipe.pop("based_on", None)
    return {**_resolved(base), **recipe} if base else recipe


def _check_stages(name, stages):
    """Each stage's init is known and its teacher is an earlier stage of the recipe."""
    for index, stage in enumerate(stages):
        if stage["init"] not in STAGE_INITS:
            raise ValueError(f"recipe {name}: stage {stage['name']} has init="
                             f"{stage['init']!r}; use one of {STAGE_INITS}.")
        earlier = [s["name"] for s in stages[:index]]
        if stage["teacher"] is not None and stage["teacher"] not in earlier:
            raise ValueError(f"recipe {name}: stage {stage['name']}'s teacher "
                             f"{stage['teacher']!r} is not an earlier stage ({earlier}).")


def _set_stage_epochs(recipe, stage_epochs):
    if not isinstance(stage_epochs, Mapping):
        raise ValueError(f"stage_epochs must be a dict {{stage name: epochs}}, e.g. "
                         f"{{'main': 15}}; got {stage_epochs!r}.")
    names = [stage["name"] for stage in recipe["stages"]]
    for stage_name, epochs in stage_epochs.items():
        if stage_name not in names:
            raise ValueError(f"--stage-epochs {stage_name}: recipe {recipe['name']} has no "
                             f"stage {stage_name!r}; its stages are {', '.join(names)}.")
        _check_positive(f"--stage-epochs {stage_name}", epochs, whole=True)
        recipe["stages"][names.index(stage_name)]["epochs"] = epochs


# the overridable settings that are whole numbers; the others (lr, width_multiplier) are reals
WHOLE_OVERRIDES = ("epochs", "batch_size", "image_size")


def _check_override(key, value):
    """A positive, finite override, a whole number for ``WHOLE_OVERRIDES``."""
    _check_positive(f"--{key.replace('_', '-')}", value, whole=key in WHOLE_OVERRIDES)


def _check_positive(option, value, *, whole):
    """``value`` of ``option`` is a positive, finite number, a whole one with ``whole``
    (``el_zoo.arguments.is_positive``: numpy's numbers too, never a bool): what el-zoo's
    ``positive_int`` / ``positive_float`` accept on the command line (``training.command``),
    for callers from Python; else a ValueError naming ``option``. A float of whole value
    (``4.0``, as a JSON file may give it) is no whole number, as ``--epochs 4.0`` is none: the
    error names the int to give, and nothing records a float as an epoch count."""
    if is_positive(value, whole=whole):
        return
    what = "a whole number" if whole else "a number"
    hint = int_hint(value) if whole else ""
    raise ValueError(f"{option} must be {what} above 0; got {value!r}{hint}.")


def _stored_size(recipe, image_size):
    """The size images are decoded at for training size ``image_size``: the recipe's own
    stored-to-training ratio (146/128, 256/224), the one rule its table spells out, so
    that ``--image-size`` at the recipe's size leaves its stored size as it is."""
    return int(round(image_size * recipe["stored_size"] / recipe["image_size"]))


def get_recipe(name, stage_epochs=None, **overrides):
    """A deep copy of recipe ``name`` with overrides applied (None means keep).

    ``epochs`` and ``lr`` apply to every stage; ``stage_epochs`` ({stage name: epochs}) then
    sets single stages. Epochs, batch size and image size are whole numbers above 0 (ints,
    numpy's too): a bool or a float, even ``4.0``, is refused, as on the command line.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}.")
    recipe = _resolved(name)
    recipe["name"] = name
    recipe["stages"] = [{**STAGE_DEFAULTS, **stage} for stage in recipe["stages"]]
    _check_stages(name, recipe["stages"])
    for key, value in overrides.items():
        if key not in OVERRIDABLE:
            raise ValueError(f"cannot override {key!r}; overridable: {', '.join(OVERRIDABLE)}.")
        if value is None:
            continue
        _check_override(key, value)
        if key in ("epochs", "lr"):
            for stage in recipe["stages"]:
                stage[key] = value
        else:
            if key == "image_size" and "stored_size" in recipe:
                recipe["stored_size"] = _stored_size(recipe, value)
            recipe[key] = value
    _set_stage_epochs(recipe, stage_epochs or {})
    return recipe


# what one epoch of a stage computes, by (binary_weights, binary_activations)
STAGE_KINDS = {(False, False): "float", (False, True): "real_weights",
               (True, False): "real_activations", (True, True): "binary"}


def stage_kind(recipe, stage):
    """What one epoch of ``stage`` of ``recipe`` computes, which is what it costs: "float"
    (the float twin), "real_weights" (binary activations, real weights: stage 1 of the
    two-stage recipe), "real_activations" or "binary"; a stage with a teacher adds its
    teacher's forward pass: "binary + float teacher". ``benchmarks/stage_cost.py`` times an
    epoch of each kind; the recipe study adds them up (``training/recipe_study.py``).

    Example:
        ```python
        recipe = get_recipe("cifar10_kd")
        [stage_kind(recipe, s) for s in recipe["stages"]]  # ["float", "binary + float teacher"]
        ```
    """
    kind = STAGE_KINDS[(stage["binary_weights"], stage["binary_activations"])]
    if stage["teacher"] is None:
        return kind
    teacher = next(s for s in recipe["stages"] if s["name"] == stage["teacher"])
    return f"{kind} + {stage_kind(recipe, teacher)} teacher"


def recipe_preprocessing(recipe):
    """How the images of a run of ``recipe`` (a recipe, or a run's recorded
    ``"recipe_config"``) are prepared for evaluation, as the manifest records it for the
    published model: decoded at ``"resize"`` pixels square (the stored size, else the training
    size), then centre-cropped to the training size (``"crop"``) when they were stored larger
    (None: no crop)."""
    size, stored = recipe["image_size"], recipe.get("stored_size")
    return {"resize": stored or size, "crop": size if stored else None}


def run_elastic_link(model, pairs=()):
    """The full Elastic-Link options a run of ``model`` trains with, as its recipe records
    them (``as_dict``): the model's registered defaults with the ``--elastic-link KEY=VALUE``
    ``pairs`` replaced, checked before anything is written; None for a model without
    Elastic-Link, which takes no options."""
    info = model_info(model)
    if not info.has_elastic_link:
        if pairs:
            twin = f"train {info.twin}, or" if info.twin else "use a model with them, or"
            raise ValueError(f"--elastic-link changes Elastic-Link options, but {model} has "
                             f"no Elastic-Link: {twin} drop --elastic-link.")
        return None
    return ElasticLinkOptions.parse(pairs, base=info.elastic_link).as_dict()


def recorded_elastic_link(model, recipe):
    """The ``ElasticLinkOptions`` a recorded run of ``model`` with ``recipe`` (recipe.json's
    "recipe", metrics.json's "recipe_config") trained with; None for a model without
    Elastic-Link. Runs record every option; a record written before each family declared
    its own defaults keeps only the options that differed from the global defaults (or
    none), which applied to every family then: it resolves against those
    (``ElasticLinkOptions.from_record``), never against a family's newer defaults."""
    if not model_info(model).has_elastic_link:
        return None
    return ElasticLinkOptions.from_record(recipe.get("elastic_link"))
