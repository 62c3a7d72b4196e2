"""Image-classification data in ImageFolder layout (``<split>/<class>/<image>``).

A data set named ``NAME`` is found under the data root (``data_dir=``, else the
``EL_ZOO_DATA`` environment variable) either as a folder ``NAME/`` or as one archive
``NAME.tar.gz`` or ``NAME-VARIANT.tar.gz`` holding ``NAME/`` (``is_archive_of``).
Archives are extracted once into the cache folder (``el_zoo.hub.cache_root()``:
``EL_ZOO_CACHE``, default ``~/.cache/el_zoo``), atomically:
into a temporary folder that is renamed when complete, so an interrupted extraction never
looks finished.

Decoded splits are cached as ``.npy`` arrays of uint8 RGB images (grayscale images become
RGB, 16-bit and float images are scaled to 8 bits), written the same atomic way, and fed to Keras
through ``tf.data``. Every cache entry is named after what it was made from (see
``source_key``), so data from another folder or a replaced archive is never mistaken for it.
"""

import contextlib
import gzip
import hashlib
import os
import shutil
import warnings
import tarfile
import tempfile
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from el_zoo.arguments import check_count
from el_zoo.atomic import atomic_path
from el_zoo.hub import cache_root, check_cache_writable, user_path
from el_zoo.layers import IMAGENET_MEAN, IMAGENET_STD

DATA_ENV = "EL_ZOO_DATA"
# The files of a class folder that are images (other files, .DS_Store or notes, are left
# out): every format read_image reads, 16-bit TIFF and PGM/PPM too, as torchvision's
# ImageFolder takes them, and the other names of those formats that photos are saved under
# (a browser saves a JPEG as .jfif), which predict read but evaluate and training left out
# without a word. HEIC/HEIF (a phone's photos) and AVIF are read when Pillow can (HEIC with
# the pillow-heif plugin); a file it cannot read is an error naming it (``HEIF_HINT``), as
# any unreadable image is, not a photo left out of its class unseen.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif",
                  ".tiff", ".pgm", ".ppm", ".pbm", ".pnm", ".avif", ".heic", ".heif")
HEIF_SUFFIXES = (".heic", ".heif")
HEIF_HINT = ("; Pillow reads HEIC/HEIF photos with the pillow-heif plugin (pip install "
             "pillow-heif, then pillow_heif.register_heif_opener()), or convert them to JPEG")

# Per-data-set normalisation of images scaled to [0, 1] (mean, std per channel). CIFAR-10's
# means are those of its train set (../shared/README.md); its stds are the usual ones.
NORMALIZATION = {
    "cifar10": ((0.4913, 0.4821, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenette": (IMAGENET_MEAN, IMAGENET_STD),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}

# Imagenette's folders are ImageNet WordNet ids; these are the names users expect to read.
IMAGENETTE_NAMES = {
    "n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
    "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn",
    "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball",
    "n03888257": "parachute",
}


def composed(name):
    """A class name in Unicode's composed form (NFC), in which names are compared: macOS
    (HFS+, and archives made there) names folders in the decomposed form, so a folder
    ``café`` from a Mac did not match the class ``café`` typed or saved elsewhere, and the
    error listed the two as the same name."""
    return unicodedata.normalize("NFC", name)


def readable_class_names(folder_names):
    """Class folder names as people read them: known WordNet ids become names; every name
    ``composed``."""
    return [composed(IMAGENETTE_NAMES.get(name, name)) for name in folder_names]


def labels_by_class_name(labels, folder_names, class_names, where):
    """``labels`` (indices into ``folder_names``, as ``image_folder`` gives them) as indices
    into a model's ``class_names``, matched by name, not by folder position: a folder that
    holds only ``cat/`` and ``dog/`` is labelled 3 and 5 for CIFAR-10's classes, not 0 and
    1. Folders named by WordNet id match their readable names, or the ids themselves when
    the model's classes are named by them. Names are compared ``composed`` (a folder named
    on a Mac matches the name typed elsewhere). Any subset of the classes is fine; a folder
    that names none of them is an error listing the expected names.
    """
    index = {composed(name): i for i, name in enumerate(class_names)}
    readable = [composed(folder) if composed(folder) in index else name
                for folder, name in zip(folder_names, readable_class_names(folder_names))]
    unknown = [folder for folder, name in zip(folder_names, readable) if name not in index]
    if unknown:
        raise ValueError(
            f"{where} has class folder(s) {', '.join(map(repr, unknown))} that name no class "
            f"of the model. Name each class folder after one of its classes (any subset of "
            f"them): {', '.join(class_names)}."
        )
    return np.asarray([index[name] for name in readable], np.int32)[labels]


def data_root(data_dir=None):
    """The folder that holds data sets: ``data_dir``, else ``$EL_ZOO_DATA``."""
    root = data_dir or os.environ.get(DATA_ENV)
    if not root:
        raise ValueError(
            "No data folder given: pass --data-dir DIR (data_dir=DIR) or set "
            f"{DATA_ENV}=DIR, where DIR holds ImageFolder data sets or their .tar.gz archives."
        )
    root = user_path(root, f"the data folder (--data-dir, {DATA_ENV})")
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist.")
    return root


def source_key(files):
    """A short digest of what a cache entry is made from: the path, size and modification
    time of each of ``files``, in order. Give resolved paths (resolve their folder once:
    resolving each of 50,000 files costs seconds), so two routes to one folder agree.

    Why not a hash of the contents: hashing a 130 MB archive, or every image of a split,
    costs seconds on every load, where stat costs microseconds a file (0.4 s for CIFAR-10's
    50,000 training images, against minutes to decode them). Replacing, re-downloading or
    editing a file changes its size or modification time, and the resolved path tells two
    data folders apart; only a same-size copy that also keeps another file's modification
    time (``cp -p`` over it) would go unnoticed.
    """
    digest = hashlib.sha256()
    for path in files:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


# What a bad archive raises while it is read: a truncated one EOFError (or a TarError),
# damaged compressed data zlib.error or BadGzipFile.
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
ARCHIVE_SUFFIX = ".tar.gz"  # a data set's archive: a gzipped tar file


def archive_stem(archive):
    """The name of archive file ``archive`` without ``ARCHIVE_SUFFIX`` (its stem, for a file
    that does not end with it): ``imagenette2-320.tar.gz`` -> ``imagenette2-320``."""
    archive = Path(archive)
    name = archive.name
    return name[:-len(ARCHIVE_SUFFIX)] if name.endswith(ARCHIVE_SUFFIX) else archive.stem


def extract_archive(archive, cache_dir=None):
    """Extracts a .tar.gz once into the cache; returns the extracted folder.

    The folder is named after the archive and its ``source_key``, so another archive of
    the same name (another data folder, a re-download) gets its own extraction. An archive
    that is truncated, corrupt or unsafe (a member that would land outside the folder)
    raises a ValueError naming it, and leaves nothing in the cache.
    """
    archive, name = Path(archive), archive_stem(archive)
    target = cache_root(cache_dir) / "data" / f"{name}-{source_key([archive.resolve()])}"
    if target.is_dir():
        return target
    check_cache_writable(target, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(temporary, filter="data")  # refuses absolute paths and links out
        except tarfile.FilterError as error:
            raise ValueError(
                f"archive {archive} is unsafe: {error}. Nothing was extracted; replace "
                f"{archive.name} with a trusted copy of the data set."
            ) from None
        except ARCHIVE_ERRORS as error:
            raise ValueError(
                f"archive {archive} is truncated or corrupt ({type(error).__name__}: "
                f"{error}). Nothing was extracted; re-download or replace {archive.name}."
            ) from None
        try:
            os.replace(temporary, target)
        except OSError:
            if not target.is_dir():  # not just another process finishing first
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


# Other names a data set's archives go by: fast.ai publishes Imagenette as imagenette2.
ARCHIVE_ALIASES = {"imagenette": ("imagenette2",)}
ARCHIVE_SEPARATORS = "-_"  # not ".": CIFAR-10.1 (cifar10.1) is another test set


def is_archive_of(archive_name, name):
    """Whether an archive named ``archive_name`` (without .tar.gz) holds data set ``name``:
    it is named ``name`` (or an alias), alone or followed by a separator and a variant
    (``cifar10-jpeg``, ``imagenette2-320``). Why not any name that starts with it:
    ``cifar100`` starts with ``cifar10``, and its archive was read as CIFAR-10."""
    for prefix in (name, *ARCHIVE_ALIASES.get(name, ())):
        rest = archive_name[len(prefix):] if archive_name.startswith(prefix) else None
        if rest == "" or (rest and rest[0] in ARCHIVE_SEPARATORS):
            return True
    return False


def dataset_archive(root, name):
    """The one ``.tar.gz`` archive of data set ``name`` in folder ``root``; an error when
    there is none, or more than one (which one is meant is not for el_zoo to guess:
    ``imagenette2-160`` and ``imagenette2-320`` hold other image sizes)."""
    archives = sorted(path for path in root.glob(f"*{ARCHIVE_SUFFIX}")
                      if is_archive_of(archive_stem(path), name))
    if not archives:
        raise FileNotFoundError(
            f"data set {name!r} not found in {root}: expected a folder {name}/ or an "
            f"archive {name}{ARCHIVE_SUFFIX} or {name}-VARIANT{ARCHIVE_SUFFIX}."
        )
    if len(archives) > 1:
        raise ValueError(
            f"{root} holds {len(archives)} archives of data set {name!r} "
            f"({', '.join(path.name for path in archives)}): keep one, or extract the one "
            f"to use as the folder {root / name}/."
        )
    return archives[0]


def dataset_dir(name, data_dir=None, cache_dir=None):
    """The folder of data set ``name`` (a folder of the data root, or its extracted archive)."""
    root = data_root(data_dir)
    if (root / name).is_dir():
        return root / name
    archive = dataset_archive(root, name)
    extracted = extract_archive(archive, cache_dir)
    if (extracted / name).is_dir():
        return extracted / name
    entries = [p for p in extracted.iterdir() if p.is_dir()]
    if len(entries) == 1:
        return entries[0]
    raise ValueError(f"archive {archive} does not hold a folder {name}/.")


def _visible(path):
    """Whether ``path`` is data: hidden entries are what tools leave beside it (Jupyter's
    ``.ipynb_checkpoints/``, macOS's ``._photo.jpg`` in archives made on a Mac), which were
    read as a class folder the model does not know, or as an image that cannot be read."""
    return not path.name.startswith(".")


def image_folder(split_dir):
    """(paths, labels, class names) of an ImageFolder split; classes in sorted order, each
    with the images of its folder and its subfolders (``class_images``). Hidden folders and
    files (``_visible``) are left out."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"split folder {split_dir} does not exist.")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and _visible(p))
    if not classes:
        raise ValueError(f"{split_dir} has no class folders (expected <split>/<class>/<image>).")
    paths, labels = [], []
    for label, class_name in enumerate(classes):
        files = class_images(split_dir / class_name)
        paths.extend(files)
        labels.extend([label] * len(files))
    if not paths:
        raise ValueError(f"{split_dir} has class folders but no images.")
    return paths, np.asarray(labels, dtype=np.int32), classes


def class_images(folder):
    """The image files of class folder ``folder``, sorted, its subfolders' too (``cat/
    2023/0.jpg``), as Keras' image_dataset_from_directory and torchvision's ImageFolder read
    a class: only the folder's own were read, so a class kept in subfolders was scored on
    part of its images, or on none, without a word. Hidden ones are left out; links to
    folders are not followed (a link to a parent would never end)."""
    files = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        files.extend(Path(parent) / name for name in names
                     if _visible(Path(name)) and Path(name).suffix.lower() in IMAGE_SUFFIXES)
    return sorted(path for path in files if path.is_file())


# PIL modes of grayscale images with integer samples wider than 8 bits, read as 16-bit
# (``sixteen_bit_to_8_bit``): "I;16*" for 16-bit PNG and TIFF files; "I" (32-bit signed) for
# 16-bit PGM/PPM ones, and for 32-bit or signed integer TIFFs, whose samples may lie outside
# 16 bits (``integer_sample_bits`` tells them apart). PIL's convert("RGB") clips their
# samples at 255 instead of scaling them, which turns almost every pixel white.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
SIXTEEN_BIT_MAX = 65535  # 257 * 255


# PIL's mode of grayscale images with 32-bit float samples (a float TIFF, as scientific
# and HDR tools write them); convert("RGB") clips them too, so [0, 1] turned black.
FLOAT_MODE = "F"


class ImageRangeError(ValueError):
    """A float image whose values are neither in [0, 1] nor in [0, 255], an integer image
    whose samples are not 16-bit ones (outside [0, 65535]), or a 32-bit integer image whose
    samples could be 8-bit ones (all in [0, 255])."""


def integer_sample_bits(image):
    """Bits per sample of an integer grayscale image as its file stores them: 32 for a 32-bit
    integer TIFF, 16 otherwise (16-bit PNG, TIFF and PGM/PPM files, signed 16-bit TIFFs, and
    the 10- or 12-bit PGM files PIL stretches to 16 bits). Read from the raw mode PIL decodes
    the opened file with ("I;32S", "I;16B"; "I" is 32 bits), which loading drops: call it
    before. 16, the reading of every integer image before, when PIL does not say."""
    if image.mode != "I" or not image.tile:
        return 16
    args = image.tile[0][3]
    rawmode = args if isinstance(args, str) else args[0]
    return 32 if rawmode == "I" or rawmode.startswith("I;32") else 16


def to_8_bit(image, bits=16):
    """A PIL image with 8-bit samples: 16-bit grayscale is scaled (65535 -> 255,
    ``sixteen_bit_to_8_bit``, given the file's ``integer_sample_bits``); float grayscale in
    [0, 1] is scaled by 255, in [0, 255] taken as it is (``float_to_8_bit``)."""
    if image.mode == FLOAT_MODE:
        return Image.fromarray(float_to_8_bit(np.asarray(image, dtype=np.float64)), "L")
    if image.mode not in SIXTEEN_BIT_MODES:
        return image
    return Image.fromarray(sixteen_bit_to_8_bit(np.asarray(image, dtype=np.int64), bits), "L")


def sixteen_bit_to_8_bit(samples, bits=16):
    """Integer samples in [0, 65535] as uint8 (65535 -> 255). Samples outside it (a 32-bit
    or signed integer TIFF: counts, depths, labels) are an ImageRangeError: clipped, they
    would feed the model other pixels without a word. So are the samples of a 32-bit file
    (``bits`` 32) that all lie in [0, 255]: 8-bit data saved in a 32-bit container (a common
    way to save it) was read as 16-bit, almost black, without a word, and nothing in the file
    says whether they are 8-bit or dark 16-bit data (a guess by range would read 255 as white
    and 256 as almost black). A 32-bit file with a sample above 255 is read as 16-bit."""
    low, high = (int(samples.min()), int(samples.max())) if samples.size else (0, 0)
    if low < 0 or high > SIXTEEN_BIT_MAX:
        raise ImageRangeError(
            f"it is an integer image with samples from {low} to {high}, and integer images "
            f"are read as 8 or 16 bits (0 to 255, 0 to {SIXTEEN_BIT_MAX}): rescale it to 8 or "
            "16 bits and save it again")
    if bits > 16 and high <= 255:
        raise ImageRangeError(
            f"it is a {bits}-bit integer image with samples from {low} to {high}, which could "
            "be 8-bit or dark 16-bit data: save it as an 8-bit or 16-bit image")
    return np.round(samples / (SIXTEEN_BIT_MAX / 255)).astype(np.uint8)


def float_to_8_bit(samples):
    """Float samples as uint8: [0, 1] (the usual range of float images) scaled by 255,
    [0, 255] as they are. Any other range (negative values, above 255, NaN: a depth map,
    standardised data) is an ImageRangeError: a guess at its scale would feed the model
    another image without a word."""
    low, high = (float(samples.min()), float(samples.max())) if samples.size else (0.0, 0.0)
    if not (np.isfinite(samples).all() and low >= 0 and high <= 255):
        raise ImageRangeError(
            f"it is a float image with values from {low:g} to {high:g}, and float images are "
            "read as [0, 1] (scaled by 255) or [0, 255]: rescale it to one of them, or save "
            "it as an 8-bit image")
    scale = 255 if high <= 1 else 1
    return np.clip(np.round(samples * scale), 0, 255).astype(np.uint8)


def upright(image):
    """A PIL image as viewers show it: its EXIF orientation applied. Phone cameras store
    a portrait photo sideways and tag it; read as stored, a model saw it lying on its
    side. An EXIF block too damaged to read leaves the image as stored (as before)."""
    try:
        return ImageOps.exif_transpose(image)
    except (ValueError, TypeError, KeyError, IndexError, SyntaxError, OSError):
        return image


# Part of every decoded split's cache name: raise it when read_image decodes differently,
# so that no split decoded the old way is served from the cache (2: EXIF orientation; 3:
# float images scaled, not clipped; 4: integer images beyond 16 bits refused, not clipped;
# 5: 32-bit integer images of samples in [0, 255] refused, not read as 16-bit).
READER_VERSION = 5


def read_image(path, size=None):
    """An image file as uint8 RGB (H, W, 3), upright (``upright``), resized to ``size`` x
    ``size`` if given."""
    try:
        with Image.open(path) as image:
            bits = integer_sample_bits(image)  # before upright loads it
            image = to_8_bit(upright(image), bits).convert("RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as error:
        raise ValueError(
            f"cannot read image {path}: {error} Replace it with a smaller image, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ImageRangeError) as error:
        hint = HEIF_HINT if isinstance(error, UnidentifiedImageError) and \
            Path(path).suffix.lower() in HEIF_SUFFIXES else ""
        raise ValueError(f"cannot read image {path}: {error}{hint}") from None


def skip_or_raise(error, skip_bad_images):
    """A file that is not a readable image (``error`` from ``read_image``): an error naming
    the way out, or with ``skip_bad_images`` a warning naming the file."""
    if not skip_bad_images:
        raise ValueError(f"{error} (pass --skip-bad-images to leave it out)") from None
    warnings.warn(f"skipping {error}", stacklevel=3)


def check_limit(limit):
    """``limit`` (a number of images) is None or a positive integer, else a ValueError."""
    if limit is not None:
        check_count(limit, "limit", " of images (leave it out for all of them)")


def load_split(name, split, *, data_dir=None, cache_dir=None, image_size=None, limit=None,
               skip_bad_images=False):
    """(images uint8 [N, H, W, 3], labels int32 [N], class names) of one split.

    ``limit`` (a positive integer) takes the first ``limit`` images of a class-balanced
    interleaving (``split_files``), so a small subset still holds every class. Decoded
    arrays are cached per size and per source: the ``source_key`` of the image files they
    were decoded from, in a file named after the last part of ``name`` (a data set given as
    a path, ``"/home/me/pets"``, was cached beside it, in the user's data folder). A file
    that is not a readable image raises an error naming it, or with ``skip_bad_images`` is
    left out with a warning naming it (a split with bad images is then not cached).
    """
    paths, labels, classes = split_files(name, split, data_dir=data_dir, cache_dir=cache_dir,
                                         limit=limit)
    size_tag = image_size or "orig"
    source = source_key(paths)
    cache = (cache_root(cache_dir) / "arrays" / f"{Path(name).name}-{Path(split).name}-"
             f"{size_tag}-{len(paths)}-{source}-r{READER_VERSION}.npy")
    if cache.exists():
        return np.load(cache, allow_pickle=False), labels, classes
    check_cache_writable(cache, cache_dir)  # before minutes of decoding
    images, kept = [], []
    for i, path in enumerate(paths):
        try:
            images.append(read_image(path, image_size))
            kept.append(i)
        except ValueError as error:
            skip_or_raise(error, skip_bad_images)
    if not images:
        raise ValueError(f"{paths[0].parent.parent} holds no readable image.")
    images = np.stack(images)
    if len(kept) == len(paths):
        with atomic_path(cache) as temporary, open(temporary, "wb") as f:
            np.save(f, images, allow_pickle=False)
    return images, labels[np.asarray(kept)], classes


def split_files(name, split, *, data_dir=None, cache_dir=None, limit=None):
    """(image paths, labels int32 [N], class names) of one split, in the order
    ``load_split`` gives its images, without decoding any: classes interleaved (class 0, 1,
    ..., K-1, 0, 1, ...; files sorted within a class), so that the first ``limit`` are a
    class-balanced subset. Per-image records (a published model's recorded predictions)
    are in this order.

    Example:
        ```python
        paths, labels, classes = split_files("cifar10", "test", limit=100)
        ```
    """
    check_limit(limit)
    split_dir = (dataset_dir(name, data_dir, cache_dir) / split).resolve()  # see source_key
    paths, labels, classes = image_folder(split_dir)
    order = _class_interleaved(labels)[:limit]
    return [paths[i] for i in order], labels[order], classes


def _class_interleaved(labels):
    """Indices ordered class 0, 1, ..., K-1, 0, 1, ... (stable within each class)."""
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    rank = np.empty(len(labels), dtype=np.int64)
    for indices in per_class:
        rank[indices] = np.arange(len(indices))
    return np.lexsort((labels, rank))


@tf.autograph.experimental.do_not_convert
def cifar_augment(image, label, seed=None):
    """Pad by 4, random 32x32 crop, random horizontal flip (the standard CIFAR recipe)."""
    size = tf.shape(image)[:2]
    image = tf.image.pad_to_bounding_box(image, 4, 4, size[0] + 8, size[1] + 8)
    image = tf.image.random_crop(image, tf.concat([size, [3]], 0), seed=seed)
    return tf.image.random_flip_left_right(image, seed=seed), label


def random_resized_crop(image, size, *, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), seed=None):
    """ImageNet-style augmentation: a random crop of ``scale`` of the area and ``ratio``
    aspect, resized to ``size`` x ``size``, then a random horizontal flip."""
    begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale,
        max_attempts=10, use_image_if_no_bounding_boxes=True, seed=seed or 0,
    )
    crop = tf.slice(image, begin, crop_size)
    crop = tf.image.resize(crop, (size, size), method="bilinear")
    return tf.image.random_flip_left_right(crop, seed=seed)


def center_crop(image, size):
    """The central ``size`` x ``size`` window (evaluation preprocessing, after the image
    was resized to a slightly larger square when it was decoded)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - size) // 2, (width - size) // 2
    return tf.image.crop_to_bounding_box(image, top, left, size, size)


def center_crop_batch(images, size):
    """``center_crop`` for a NumPy batch (N, H, W, C); ``size=None`` returns it as is."""
    if not size:
        return images
    top, left = (images.shape[1] - size) // 2, (images.shape[2] - size) // 2
    return images[:, top:top + size, left:left + size]


AUGMENTATIONS = (None, "cifar", "imagenet")


def _preprocess_fn(training, augment, crop_size, seed):
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment={augment!r} is not supported; use one of {AUGMENTATIONS}.")

    @tf.autograph.experimental.do_not_convert
    def preprocess(image, label):
        image = tf.cast(image, tf.float32)
        if training and augment == "cifar":
            image, label = cifar_augment(image, label, seed=seed)
        elif training and augment == "imagenet":
            image = random_resized_crop(image, crop_size, seed=seed)
        elif crop_size is not None:
            image = center_crop(image, crop_size)
        return image, label

    return preprocess


def _finish(dataset, *, size, batch_size, training, augment, crop_size, seed):
    if training:
        dataset = dataset.shuffle(min(size, 50_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_preprocess_fn(training, augment, crop_size, seed),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return _batch_and_prefetch(dataset, batch_size, training)


def _batch_and_prefetch(dataset, batch_size, training):
    dataset = dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(pipeline_options())


def pipeline_options():
    """tf.data options of every el_zoo pipeline: the autotuner is off.

    Why: in TF 2.16, deleting an iterator of an autotuned pipeline waits for the autotuner's
    next wake-up, which comes 10 ms x (2^k - 1) after the iterator was made (..., 2.55,
    5.11, 10.23, 20.47, 40.95, 81.91 s), then every 60 s. Keras makes a new iterator for
    every training epoch and every ``fit``/``evaluate`` call, so each of them could end with
    an idle wait of up to 60 s: the published models' training logs show gaps of up to 60 s
    between epochs. ``reports/data_autotune.md`` measures a short fit both ways: the
    gaps go, the training steps take as long as before. To turn it back on:
    ``options = tf.data.Options(); options.autotune.enabled = True;
    dataset = dataset.with_options(options)``.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def array_dataset(images, labels, *, batch_size, training, augment=None, seed=None,
                  crop_size=None):
    """A batched tf.data pipeline over uint8 arrays, yielding float32 [0, 255] images.

    ``augment``: None, ``"cifar"`` (pad-crop + flip) or ``"imagenet"`` (random-resized-crop
    to ``crop_size`` + flip); both apply to training pipelines only. Evaluation pipelines
    centre-crop to ``crop_size`` when it is given. Training pipelines shuffle every epoch.
    """
    if augment == "imagenet" and crop_size is None:
        raise ValueError("augment='imagenet' needs crop_size (the training resolution).")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return _finish(dataset, size=len(images), batch_size=batch_size, training=training,
                   augment=augment, crop_size=crop_size, seed=seed)


def file_dataset(paths, labels, *, image_size, batch_size, training, augment=None,
                 seed=None, crop_size=None, skip_bad_images=False):
    """Like ``array_dataset`` but decodes image files as it goes (data sets too large to
    hold in memory, e.g. ImageNet-1k in ImageFolder layout). Each file is decoded and
    resized to ``image_size`` x ``image_size``; a bad file raises an error naming it, or
    with ``skip_bad_images`` is dropped with a warning naming it."""
    paths = [str(p) for p in paths]

    def decode(path):
        path = path.decode()
        try:
            return read_image(path, image_size), True
        except ValueError as error:
            try:
                skip_or_raise(error, skip_bad_images)
            except ValueError as unreadable:
                _streamed_image_errors.append(unreadable)  # see streamed_image_errors
                raise
            return np.zeros((image_size, image_size, 3), np.uint8), False

    @tf.autograph.experimental.do_not_convert
    def load(path, label):
        image, ok = tf.numpy_function(decode, [path], (tf.uint8, tf.bool), stateful=False)
        image.set_shape((image_size, image_size, 3))
        return image, label, ok

    dataset = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, np.int32)))
    if training:  # shuffle file names (cheap) before decoding
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.filter(lambda image, label, ok: ok).map(lambda i, l, ok: (i, l))
    dataset = dataset.map(_preprocess_fn(training, augment, crop_size, seed),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return _batch_and_prefetch(dataset, batch_size, training)


# The errors of bad image files met by file_dataset pipelines. Raised inside tf.data, they
# reach whoever iterates the pipeline (Keras' fit) as TensorFlow's own error type with a
# Python traceback in its message; streamed_image_errors raises the original instead.
_streamed_image_errors = []


@contextlib.contextmanager
def streamed_image_errors():
    """Inside this block, a bad image file that a ``file_dataset`` pipeline meets raises the
    one-line ValueError naming the file and the fix (as ``load_split`` does for cached
    data), instead of TensorFlow's error around it.

    Example:
        with streamed_image_errors():
            model.fit(file_dataset(paths, labels, image_size=32, batch_size=8, training=True))
    """
    _streamed_image_errors.clear()
    try:
        yield
    except tf.errors.OpError:
        if _streamed_image_errors:
            raise _streamed_image_errors[0] from None
        raise


def tfds_dataset(name, split, *, data_dir=None, image_size, batch_size, training,
                 augment=None, seed=None, crop_size=None):
    """A prepared TensorFlow Datasets data set (e.g. ``imagenet2012``, which TFDS cannot
    download: prepare it as the TFDS catalogue explains), through the same preprocessing.
    Needs ``pip install tensorflow-datasets``."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError(
            "reading TFDS data sets needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from None
    dataset = tfds.load(name, split=split, data_dir=data_dir, as_supervised=True,
                        download=False, shuffle_files=training)

    @tf.autograph.experimental.do_not_convert
    def resize(image, label):
        image = tf.image.resize(image, (image_size, image_size), method="bilinear")
        return tf.cast(tf.round(image), tf.uint8), tf.cast(label, tf.int32)

    dataset = dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(dataset, size=50_000, batch_size=batch_size, training=training,
                   augment=augment, crop_size=crop_size, seed=seed)
