"""The published models: ``models/manifest.json`` read into typed records.

Published weights live in ``models/<name>.<tag>/``. The manifest lists, for every published
``name.tag``, the configuration its weights were trained with (``ModelConfig``), how its
images are preprocessed (``Preprocessing``), its class names, and every file of its folder
with its size and sha256 (``PublishedFile``); ``read_manifest`` gives them as a
``Manifest`` of ``PublishedModel`` records. Everything that uses a published model reads
these records; only the publishing step (``training/publish.py``), which writes the
manifest, handles its JSON (``manifest_json``).

The repo's ``models/`` is ``MODELS_DIR`` (installed with the package as ``el_zoo/published``
by a non-editable install); files it lacks come from the cache or the weight host
(``el_zoo.hub``).
"""

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from el_zoo import hub
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.model_record import published_weights_of
from el_zoo.provenance import REPOSITORY

MANIFEST_NAME = "manifest.json"
NOT_PUBLISHED = "{name!r} is not published; see el-zoo list --pretrained."
# The folder of published models in a checkout, relative to its root (the default
# --models-dir of training.publish and training.release, which publish into it).
MODELS_FOLDER = "models"


def _models_dir():
    """The repo's models/ (a checkout or editable install), else the installed copy."""
    checkout = REPOSITORY / MODELS_FOLDER
    if (checkout / MANIFEST_NAME).exists():
        return checkout
    installed = Path(__file__).resolve().parent / "published"
    return installed if installed.is_dir() else checkout


MODELS_DIR = _models_dir()


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """One published file: its path under the models folder (``"resnet26_el.cifar10/
    weights.h5"``), its size in bytes and its hex sha256."""

    path: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The builder arguments weights were trained with, those that fix what they compute or
    the head they fit (None: not recorded). ``elastic_link``: the options recorded with
    them (``ElasticLinkOptions.from_record`` resolves a partial record of an older
    publication); None for weights without Elastic-Link, or with the global defaults
    recorded by omission before families declared their own."""

    input_shape: Optional[tuple] = None
    classes: Optional[int] = None
    width_multiplier: Optional[float] = None
    stem: Optional[str] = None
    elastic_link: Optional[ElasticLinkOptions] = None

    @classmethod
    def from_record(cls, record):
        """The config of a manifest record's ``"config"`` (a dict)."""
        shape, options = record.get("input_shape"), record.get("elastic_link")
        return cls(input_shape=tuple(shape) if shape else None, classes=record.get("classes"),
                   width_multiplier=record.get("width_multiplier"), stem=record.get("stem"),
                   elastic_link=None if options is None else
                   ElasticLinkOptions.from_record(options))


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a published model's images are prepared: decoded (and resized) to ``resize``
    pixels square, then centre-cropped to ``crop`` (None: no crop). ``dataset`` and
    ``split``: the data set split its published accuracy was measured on."""

    dataset: Optional[str]
    split: Optional[str]
    resize: Optional[int]
    crop: Optional[int]


@dataclasses.dataclass(frozen=True)
class PublishedModel:
    """A published ``name.tag``: the config its weights were trained with, its
    preprocessing, its class names (None if not recorded), its weights and ``.tflite``
    files (``tflite`` None if not published) and every file of its folder."""

    name: str
    config: ModelConfig
    preprocessing: Preprocessing
    class_names: Optional[tuple]
    weights: PublishedFile
    tflite: Optional[PublishedFile]
    files: tuple

    def file(self, relative_name):
        """The ``PublishedFile`` named ``relative_name`` (``"model.tflite"``) in its folder."""
        for published in self.files:
            if published.path == f"{self.name}/{relative_name}":
                return published
        raise ValueError(f"{self.name} has no published file {relative_name!r}; it has "
                         f"{', '.join(f.path.split('/', 1)[1] for f in self.files)}.")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The manifest of models folder ``folder``: ``models`` by ``name.tag``, ``files`` by
    path, and ``base_url``, where the weight host serves them (None: not downloadable)."""

    folder: Path
    models: Mapping[str, PublishedModel]
    files: Mapping[str, PublishedFile]
    base_url: Optional[str]


def manifest_json(models_dir=None):
    """The manifest file as JSON (a dict with "models" and "files"; empty ones when nothing
    is published), for the publishing step that writes it. Readers use ``read_manifest``."""
    path = Path(models_dir or MODELS_DIR) / MANIFEST_NAME
    if not path.exists():
        return {"models": {}, "files": {}}
    with open(path) as f:
        manifest = json.load(f)
    manifest.setdefault("models", {})
    manifest.setdefault("files", {})
    return manifest


def read_manifest(models_dir=None):
    """The ``Manifest`` of ``models_dir`` (default ``MODELS_DIR``); an empty one when
    nothing is published.

    Example:
        ```python
        manifest = read_manifest()
        manifest.models["resnet26_el.cifar10"].preprocessing.resize  # 32
        ```
    """
    folder = Path(models_dir or MODELS_DIR)
    raw = manifest_json(folder)
    files = {path: PublishedFile(path, record["size"], record["sha256"])
             for path, record in raw["files"].items()}
    models = {name: _published_model(name, record, files)
              for name, record in raw["models"].items()}
    return Manifest(folder, models, files, raw.get("base_url"))


def _published_model(name, record, files):
    """The ``PublishedModel`` of manifest record ``record`` of ``name``."""
    def listed(path):
        if path not in files:
            raise ValueError(f"the manifest lists no file {path}; the manifest is "
                             "inconsistent.")
        return files[path]

    config = ModelConfig.from_record(record["config"])
    size = config.input_shape[0] if config.input_shape else None
    preprocessing = Preprocessing(record.get("dataset"), record.get("eval_split"),
                                  record.get("resize", size), record.get("crop"))
    names = record.get("class_names")
    tflite = record.get("tflite")
    return PublishedModel(
        name=name, config=config, preprocessing=preprocessing,
        class_names=tuple(names) if names is not None else None,
        weights=listed(record["weights"]), tflite=listed(tflite) if tflite else None,
        files=tuple(f for path, f in files.items() if path.startswith(f"{name}/")))


def published_names(models_dir=None):
    """Every published ``name.tag``, sorted."""
    return sorted(read_manifest(models_dir).models)


def published_model(name, models_dir=None):
    """The ``PublishedModel`` of published ``name`` (``"resnet26_el.cifar10"``)."""
    return _model_in(read_manifest(models_dir), name)


def _model_in(manifest, name):
    """The ``PublishedModel`` of ``name`` in ``manifest``; an error if it is not published."""
    record = manifest.models.get(name)
    if record is None:
        raise ValueError(NOT_PUBLISHED.format(name=name))
    return record


def fetch(manifest, published, cache_dir=None):
    """The verified local path of ``published`` (a ``PublishedFile`` of ``manifest``): its
    copy in the models folder, in the cache, or downloaded (``el_zoo.hub.fetch``)."""
    return hub.fetch(published.path, size=published.size, sha256=published.sha256,
                     base_url=hub.base_url(manifest.base_url), local_dir=manifest.folder,
                     cache_dir=cache_dir)


def published_file(name, relative_name, *, models_dir=None, cache_dir=None):
    """The verified local path of file ``relative_name`` (e.g. ``"model.tflite"``) of the
    published model ``name`` (``"resnet26_el.cifar10"``), fetched if needed.

    Example:
        ```python
        flatbuffer = published_file("resnet26_el.cifar10", "model.tflite").read_bytes()
        ```
    """
    manifest = read_manifest(models_dir)
    return fetch(manifest, _model_in(manifest, name).file(relative_name), cache_dir)


def published_weights(name, *, models_dir=None, cache_dir=None):
    """The verified local path of the weights file of published model ``name``, the one
    its manifest record names, fetched if needed."""
    manifest = read_manifest(models_dir)
    return fetch(manifest, _model_in(manifest, name).weights, cache_dir)


def published_with_content(path, models_dir=None):
    """The ``PublishedModel`` whose weights file has the content of the file at ``path``,
    or None. (Sizes are compared first: most files need no hashing.)"""
    models = read_manifest(models_dir).models.values()
    size = Path(path).stat().st_size
    candidates = [record for record in models if record.weights.size == size]
    if not candidates:
        return None
    digest = hub.sha256_of(path)
    return next((record for record in candidates if record.weights.sha256 == digest), None)


def decode_sizes(model):
    """(resize, crop): how el_zoo prepares images for ``model`` (``predict``, ``evaluate``,
    and what ``el-zoo convert`` says its file takes): decoded to ``resize`` pixels square,
    then centre-cropped to ``crop`` (None: no crop). Those the published weights it holds
    were published with (``published_weights_of`` the model, or of a model it calls as a
    layer, at any depth: ``Sequential([tuned])`` of a new head on a backbone), as long as it
    still takes their input size, square; else its own input height (None for a model of
    any size). Why: ``resnet18_el.imagenette``'s images (146, centre crop 128) squashed to
    128 cost it accuracy (docs/reliability.md); a 128x160 input takes no 128x128 crop.

    Example:
        ```python
        decode_sizes(el_zoo.load("resnet18_el.imagenette"))  # (146, 128)
        decode_sizes(el_zoo.load("resnet18_el.cifar10"))  # (32, None)
        ```
    """
    height, width = model.input_shape[1:3]
    published = next(filter(None, map(published_weights_of, _models_in(model))), None)
    if published and height == width:
        pre = published_model(published).preprocessing
        if (pre.crop or pre.resize) == height:
            return pre.resize, pre.crop
    return height, None


def _models_in(model):
    """``model`` and every layer in it, those of the models it calls as layers too, depth
    first."""
    yield model
    for layer in getattr(model, "layers", ()):
        yield from _models_in(layer)
