"""Weight files: the manifest of published weights, resolution and verified loading.

Published weights live in ``models/<name>.<tag>/`` and are listed, with the sha256 and size
of every file and the configuration each was trained with, in ``models/manifest.json``.
Weight files are HDF5 (``model.save_weights("weights.h5")``): no pickle anywhere.

A published file is looked for, in order: in the repo's ``models/`` (installed with the
package as ``el_zoo/published`` by a non-editable install), in the user cache
(``$EL_ZOO_CACHE/weights``, default ``~/.cache/el_zoo/weights``), and finally downloaded
from the manifest's ``base_url`` (or ``$EL_ZOO_WEIGHTS_URL``) into that cache. Every file
is checked against the manifest's size and sha256 before use; a download is written to a
temporary file that is renamed only once it has been verified.

Downloads are flat: ``models/resnet26_el.cifar10/weights.h5`` is fetched as
``<base_url>/resnet26_el.cifar10.weights.h5`` (see ``release_asset``), because a release's
assets (GitHub's included) are one folder whose names cannot contain "/".
``python -m training.release`` stages exactly those files for upload.
"""

import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import h5py

from el_zoo.atomic import atomic_path

URL_ENV = "EL_ZOO_WEIGHTS_URL"


def _models_dir():
    """The repo's models/ (a checkout or editable install), else the installed copy."""
    checkout = Path(__file__).resolve().parent.parent / "models"
    if (checkout / "manifest.json").exists():
        return checkout
    installed = Path(__file__).resolve().parent / "published"
    return installed if installed.is_dir() else checkout


MODELS_DIR = _models_dir()
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


def release_asset(relative):
    """The download name of published file ``relative``: 'resnet26_el.cifar10/weights.h5'
    -> 'resnet26_el.cifar10.weights.h5'. Release assets live in one flat folder; model
    names (``arch.tag``) contain no "/", so the mapping is one-to-one."""
    return relative.replace("/", ".")


def looks_like_path(weights):
    text = os.fspath(weights)
    return (
        text.endswith((".h5", ".hdf5"))
        or os.sep in text
        or "/" in text
        or os.path.exists(text)
    )


def _check_file(path, record, relative):
    size, digest = path.stat().st_size, sha256_of(path)
    if size != record["size"] or digest != record["sha256"]:
        raise ValueError(
            f"{path} has size {size} and sha256 {digest} but the manifest records "
            f"{record['size']} and {record['sha256']} for {relative}: the file is corrupt "
            "or was changed; delete it (it is fetched again) or reinstall el_zoo."
        )
    return path


def _published_file(models_dir, manifest, relative, cache_dir=None):
    """The published file ``relative``: the repo's copy, the cached copy or a download,
    verified against the manifest's size and sha256."""
    record = manifest["files"].get(relative)
    if record is None:
        raise ValueError(f"the manifest lists no file {relative}; the manifest is inconsistent.")
    local = Path(models_dir) / relative
    if local.exists():
        return _check_file(local, record, relative)
    from el_zoo.data import cache_root

    cached = cache_root(cache_dir) / "weights" / relative
    if cached.exists():
        return _check_file(cached, record, relative)
    base_url = os.environ.get(URL_ENV) or manifest.get("base_url")
    if not base_url:
        raise FileNotFoundError(
            f"published file {relative} is neither in {models_dir} nor in the cache "
            f"{cached.parent}, and the manifest gives no download URL; set {URL_ENV} or "
            "pass weights='path/to/weights.h5'."
        )
    return download(base_url.rstrip("/") + "/" + release_asset(relative), cached, record)


def download(url, target, record, *, progress=None, timeout=60):
    """Downloads ``url`` to ``target`` if its size and sha256 match ``record``.

    Written to a temporary file beside ``target`` and renamed only when verified, so the
    cache never holds a partial or wrong file. Progress goes to stderr on a terminal.
    """
    target = Path(target)
    progress = sys.stderr.isatty() if progress is None else progress
    digest, received = hashlib.sha256(), 0
    try:
        with atomic_path(target) as temporary:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(temporary, "wb") as f:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if progress:
                        print(f"\rdownloading {target.name}: {received / 1e6:.1f} of "
                              f"{record['size'] / 1e6:.1f} MB", end="", file=sys.stderr)
            if progress:
                print(file=sys.stderr)
            if received != record["size"]:
                raise ValueError(
                    f"download of {url} is incomplete or wrong: {received} bytes received, "
                    f"{record['size']} expected. Nothing was cached; try again."
                )
            if digest.hexdigest() != record["sha256"]:
                raise ValueError(
                    f"download of {url} has sha256 {digest.hexdigest()} but the manifest "
                    f"records {record['sha256']}: refusing to use it. Nothing was cached."
                )
    except urllib.error.URLError as error:
        raise FileNotFoundError(
            f"cannot download {url}: {getattr(error, 'reason', error)}. Check the network "
            f"or {URL_ENV}, or pass weights='path/to/weights.h5'."
        ) from None
    except (ConnectionError, TimeoutError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"download of {url} failed: {error}. Nothing was cached; try "
                         "again.") from None
    return target


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
    if arch.endswith("_el"):
        config["elastic_link"] = _published_elastic_link(
            arch, tag, published.get("elastic_link"), config.get("elastic_link"))
    return config


def _published_elastic_link(arch, tag, published, requested):
    """The Elastic-Link options to build published weights with.

    The manifest records a model's non-default ElasticLink options (absent: the defaults).
    Other options would change what the weights compute without changing any weight shape,
    so loading would succeed and silently give another model: contradicting them is an error.
    """
    from el_zoo.nets._blocks import elastic_link_options

    trained = published or True
    if requested is not None and elastic_link_options(requested) != elastic_link_options(trained):
        raise ValueError(
            f"{arch}.{tag} was trained with Elastic-Link options {published or 'defaults'}; "
            f"elastic_link={requested!r} cannot use those weights. Drop the argument or "
            "use weights=None."
        )
    return trained


def published_file(name, relative_name, *, models_dir=None, cache_dir=None):
    """The verified local path of file ``relative_name`` (e.g. ``"model.tflite"``) of the
    published model ``name`` (``"resnet26_el.cifar10"``), fetched if needed."""
    models_dir = Path(models_dir or MODELS_DIR)
    manifest = read_manifest(models_dir)
    if name not in manifest["models"]:
        raise ValueError(f"{name!r} is not published; see el-zoo list --pretrained.")
    return _published_file(models_dir, manifest, f"{name}/{relative_name}", cache_dir)


def published_record(name, models_dir=None):
    """The manifest's record of published model ``name.tag``."""
    record = read_manifest(models_dir or MODELS_DIR)["models"].get(name)
    if record is None:
        raise ValueError(f"{name!r} is not published; see el-zoo list --pretrained.")
    return record


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
