"""Weight files: the manifest of published weights, resolution and verified loading.

Published weights live in ``models/<name>.<tag>/`` and are listed, with the sha256 and size
of every file and the configuration each was trained with, in ``models/manifest.json``.
Weight files are HDF5 (``model.save_weights("weights.h5")``): no pickle anywhere.
"""

import hashlib
import json
import os
from pathlib import Path

import h5py

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
MANIFEST_NAME = "manifest.json"
CONFIG_KEYS = ("input_shape", "classes", "width_multiplier", "stem")


def read_manifest(models_dir=None):
    """The manifest as a dict; an empty one when nothing is published."""
    path = Path(models_dir or MODELS_DIR) / MANIFEST_NAME
    if not path.exists():
        return {"models": {}, "files": {}}
    with open(path) as f:
        manifest = json.load(f)
    manifest.setdefault("models", {})
    manifest.setdefault("files", {})
    return manifest


def published_names(models_dir=None):
    return sorted(read_manifest(models_dir)["models"])


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def looks_like_path(weights):
    text = os.fspath(weights)
    return (
        text.endswith((".h5", ".hdf5"))
        or os.sep in text
        or "/" in text
        or os.path.exists(text)
    )


def _published_file(models_dir, manifest, relative):
    """The local published file, verified against the manifest's sha256."""
    record = manifest["files"].get(relative)
    path = Path(models_dir) / relative
    if record is None or not path.exists():
        raise FileNotFoundError(
            f"published file {relative} is listed in the manifest but not present in "
            f"{models_dir}; reinstall el_zoo or pass weights='path/to/weights.h5'."
        )
    actual = sha256_of(path)
    if actual != record["sha256"]:
        raise ValueError(
            f"{path} has sha256 {actual} but the manifest records {record['sha256']}: "
            "the file is corrupt or was changed; reinstall el_zoo or delete the file."
        )
    return path


def _merge_config(arch, tag, published, requested, include_top):
    config = dict(requested)
    for key in CONFIG_KEYS:
        value = published.get(key)
        if key == "input_shape" and value is not None:
            value = tuple(value)
        if config.get(key) is None:
            config[key] = value
        elif key in ("width_multiplier", "stem") and config[key] != value:
            raise ValueError(
                f"{arch}.{tag} was trained with {key}={value!r}; {key}={config[key]!r} "
                "cannot use those weights. Drop the argument or use weights=None."
            )
        elif key == "classes" and include_top and config[key] != value:
            raise ValueError(
                f"{arch}.{tag} has a {value}-class head but classes={config[key]} was "
                "asked for; pass include_top=False to use the backbone with a new head."
            )
    return config


def resolve_weights(arch, weights, config, *, include_top=True, models_dir=None):
    """(path of the weights file, builder config) for ``weights`` = a tag or a path."""
    if looks_like_path(weights):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {path} does not exist; pass an existing .h5 file, a "
                "published tag, or weights=None for a random initialisation."
            )
        return path, config
    models_dir = Path(models_dir or MODELS_DIR)
    manifest = read_manifest(models_dir)
    record = manifest["models"].get(f"{arch}.{weights}")
    if record is None:
        tags = [n.split(".", 1)[1] for n in manifest["models"] if n.split(".", 1)[0] == arch]
        available = ", ".join(tags) if tags else "none yet"
        raise ValueError(
            f"no published weights {weights!r} for {arch} (published tags: {available}). "
            "Pass a path to an .h5 file, or see el_zoo.list_models(pretrained=True)."
        )
    path = _published_file(models_dir, manifest, record["weights"])
    return path, _merge_config(arch, weights, record["config"], config, include_top)


def _file_layers(path):
    """{layer name: [weight shapes]} of a Keras HDF5 weights file."""
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
        layers = {}
        for name in names:
            weight_names = group[name].attrs["weight_names"]
            layers[name] = [
                tuple(group[name][w.decode() if isinstance(w, bytes) else w].shape)
                for w in weight_names
            ]
        return layers


def load_weights_file(model, path, *, include_top=True):
    """Loads an HDF5 weights file into ``model`` by layer name, with clear errors.

    The file may hold more than the model (a full model's file into a backbone built with
    ``include_top=False``), never less: every layer with weights must be in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist.")
    if not h5py.is_hdf5(path):
        raise ValueError(
            f"{path} is not an HDF5 weights file; el_zoo loads files written by "
            "model.save_weights('weights.h5')."
        )
    try:
        stored = _file_layers(path)
    except KeyError as error:
        raise ValueError(f"{path} is HDF5 but not a Keras weights file ({error}).") from None
    wanted = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}
    missing = sorted(name for name in wanted if name not in stored)
    if missing:
        raise ValueError(
            f"{path} does not match {model.name}: it has no weights for "
            f"{len(missing)} layer(s), e.g. {missing[:3]}. Was it saved from another "
            "architecture or width_multiplier?"
        )
    for name, shapes in wanted.items():
        if stored[name] != shapes:
            if name == "predictions" and include_top:
                raise ValueError(
                    f"{path} has a classifier of shape {stored[name][0]} but the model's "
                    f"is {shapes[0]}: pass classes={stored[name][0][-1]}, or "
                    "include_top=False to load the backbone only."
                )
            raise ValueError(
                f"{path} does not match {model.name}: layer {name!r} has weights of shapes "
                f"{stored[name]} in the file but {shapes} in the model (another "
                "width_multiplier or architecture?)."
            )
    model.load_weights(str(path), by_name=True)
    return model
