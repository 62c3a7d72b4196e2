"""ImageFolder data: archives, caching, decoding, errors."""

import os
import re
import tarfile

import numpy as np
import pytest
from PIL import Image

from el_zoo import data


def make_image_folder(root, classes=("cat", "dog"), per_class=3, size=8, mode="RGB"):
    for split in ("train", "test"):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.full((size, size, 3), 40 * index + i, np.uint8)
                Image.fromarray(pixels).convert(mode).save(folder / f"{i}.jpg")
    return root


def make_archive(tmp_path, name="toy"):
    source = make_image_folder(tmp_path / "src" / name)
    data_root = tmp_path / "data"
    data_root.mkdir()
    with tarfile.open(data_root / f"{name}-jpeg.tar.gz", "w:gz") as tar:
        tar.add(source, arcname=name)
    return data_root


def test_archive_is_extracted_once_into_the_cache(tmp_path):
    data_root, cache = make_archive(tmp_path), tmp_path / "cache"
    folder = data.dataset_dir("toy", data_root, cache)
    key = data.source_key([(data_root / "toy-jpeg.tar.gz").resolve()])
    assert folder == cache / "data" / f"toy-jpeg-{key}" / "toy"
    marker = folder / "train" / "cat" / "0.jpg"
    stamp = marker.stat().st_mtime_ns
    assert data.dataset_dir("toy", data_root, cache) == folder
    assert marker.stat().st_mtime_ns == stamp
    assert [p.name for p in (cache / "data").iterdir()] == [f"toy-jpeg-{key}"]  # no temp left


@pytest.mark.parametrize("archive, name, holds", [
    ("cifar10", "cifar10", True), ("cifar10-jpeg", "cifar10", True),
    ("imagenette-224", "imagenette", True), ("imagenette2-320", "imagenette", True),
    ("imagenette_160", "imagenette", True), ("cifar100", "cifar10", False),
    ("cifar100-jpeg", "cifar10", False), ("cifar10jpeg", "cifar10", False),
    ("imagenettev2", "imagenette", False), ("imagewoof2-320", "imagenette", False),
    ("cifar10.1-v6", "cifar10", False),  # CIFAR-10.1, another test set
])
def test_an_archive_holds_a_data_set_only_by_its_name_or_alias(archive, name, holds):
    assert data.is_archive_of(archive, name) is holds


def test_a_cifar100_archive_is_not_read_as_cifar10(tmp_path):
    data_root = make_archive(tmp_path, "cifar100")  # holds a single folder, cifar100/
    with pytest.raises(FileNotFoundError, match=r"data set 'cifar10' not found in .*: expected "
                                                r"a folder cifar10/ or an archive cifar10.tar.gz"):
        data.dataset_dir("cifar10", data_root, tmp_path / "cache")


def test_two_archives_of_one_data_set_are_an_error_not_a_guess(tmp_path):
    data_root = make_archive(tmp_path)
    (data_root / "toy-png.tar.gz").write_bytes((data_root / "toy-jpeg.tar.gz").read_bytes())
    with pytest.raises(ValueError, match=r"holds 2 archives of data set 'toy' \(toy-jpeg.tar.gz, "
                                         r"toy-png.tar.gz\): keep one, or extract the one to use "
                                         r"as the folder .*toy/"):
        data.dataset_dir("toy", data_root, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before extracting anything


def test_failed_extraction_leaves_nothing_in_the_cache(tmp_path):
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "broken.tar.gz").write_bytes(b"\x1f\x8b truncated")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="broken.tar.gz is truncated or corrupt .*re-download "
                                         "or replace broken.tar.gz"):
        data.dataset_dir("broken", data_root, cache)
    assert list((cache / "data").iterdir()) == []


def test_load_split_decodes_caches_and_balances_classes(tmp_path):
    data_root, cache = make_archive(tmp_path), tmp_path / "cache"
    images, labels, classes = data.load_split("toy", "train", data_dir=data_root,
                                              cache_dir=cache, limit=4)
    assert classes == ["cat", "dog"] and images.shape == (4, 8, 8, 3)
    assert labels.tolist() == [0, 1, 0, 1]
    assert len(list((cache / "arrays").glob("*.npy"))) == 1
    again = data.load_split("toy", "train", data_dir=data_root, cache_dir=cache, limit=4)[0]
    np.testing.assert_array_equal(again, images)


def test_a_split_decoded_by_an_older_reader_is_decoded_again(tmp_path, monkeypatch):
    data_root, cache = make_archive(tmp_path), tmp_path / "cache"
    data.load_split("toy", "train", data_dir=data_root, cache_dir=cache, limit=4)
    monkeypatch.setattr(data, "READER_VERSION", data.READER_VERSION + 1)
    data.load_split("toy", "train", data_dir=data_root, cache_dir=cache, limit=4)
    assert len(list((cache / "arrays").glob("*.npy"))) == 2


def test_grayscale_images_become_rgb(tmp_path):
    root = make_image_folder(tmp_path / "gray", mode="L")
    image = data.read_image(root / "train" / "dog" / "1.jpg")
    assert image.shape == (8, 8, 3) and np.all(image[..., 0] == image[..., 1])


def test_corrupt_image_error_names_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="cannot read image .*bad.jpg"):
        data.read_image(bad)


def test_missing_data_folder_names_both_ways_to_give_it(monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    with pytest.raises(ValueError, match="--data-dir DIR .* EL_ZOO_DATA"):
        data.data_root()


def test_missing_data_set_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data set 'imagenet' not found"):
        data.dataset_dir("imagenet", tmp_path)


def test_cifar10_from_the_shared_archive(data_dir):
    images, labels, classes = data.load_split("cifar10", "test", data_dir=data_dir, limit=20)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert classes[:3] == ["airplane", "automobile", "bird"]
    assert sorted(set(labels.tolist())) == list(range(10))


def test_training_pipeline_augments_and_batches():
    images = np.random.default_rng(0).integers(0, 255, (10, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(10, dtype=np.int32)
    batches = list(data.array_dataset(images, labels, batch_size=4, training=True,
                                      augment="cifar", seed=1))
    assert len(batches) == 2 and batches[0][0].shape == (4, 32, 32, 3)
    assert batches[0][0].dtype.name == "float32"
    with pytest.raises(ValueError, match="augment='mixup' is not supported"):
        data.array_dataset(images, labels, batch_size=4, training=True, augment="mixup")


def test_pipelines_run_without_the_tf_data_autotuner():
    # With it, every iterator Keras deletes (after each epoch and fit call) waited up to 60 s
    # for the autotuner's next wake-up: see data.pipeline_options.
    images = np.zeros((4, 8, 8, 3), np.uint8)
    labels = np.arange(4, dtype=np.int32)
    arrays = data.array_dataset(images, labels, batch_size=2, training=True, augment="cifar")
    files = data.file_dataset(["a.jpg", "b.jpg"], [0, 1], image_size=8, batch_size=2,
                              training=True)
    for dataset in (arrays, arrays.repeat(), files):
        assert dataset.options().autotune.enabled is False


def test_data_folder_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder .* does not exist"):
        data.data_root(tmp_path / "nowhere")


def test_imagenet_style_augmentation_and_centre_crop():
    import numpy as np

    images = np.zeros((4, 40, 40, 3), np.uint8)
    images[:, 10:30, 10:30] = 255  # a bright centre square
    labels = np.arange(4, dtype=np.int32)
    train = next(iter(data.array_dataset(images, labels, batch_size=4, training=True,
                                         augment="imagenet", crop_size=24, seed=0)))[0]
    assert train.shape == (4, 24, 24, 3)
    evaluation = next(iter(data.array_dataset(images, labels, batch_size=4, training=False,
                                              augment="imagenet", crop_size=20)))[0].numpy()
    assert evaluation.shape == (4, 20, 20, 3) and evaluation.min() == 255  # exactly the centre
    with pytest.raises(ValueError, match="needs crop_size"):
        data.array_dataset(images, labels, batch_size=4, training=True, augment="imagenet")


def test_file_pipeline_names_a_bad_file_or_skips_it(tmp_path):
    import numpy as np
    from PIL import Image

    good = tmp_path / "good.jpg"
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(good)  # grayscale
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"no image here")
    paths, labels = [good, bad, good], [0, 1, 0]
    strict = data.file_dataset(paths, labels, image_size=8, batch_size=3, training=False)
    with pytest.raises(Exception, match="bad.jpg"):
        list(strict)
    lenient = data.file_dataset(paths, labels, image_size=8, batch_size=3, training=False,
                                skip_bad_images=True)
    with pytest.warns(UserWarning, match="bad.jpg"):
        batches = list(lenient)
    assert batches[0][0].shape == (2, 8, 8, 3) and batches[0][1].numpy().tolist() == [0, 0]


def test_tfds_without_tensorflow_datasets_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tfds(name, *args, **kwargs):
        if name == "tensorflow_datasets":
            raise ImportError("No module named 'tensorflow_datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tfds)
    with pytest.raises(ImportError, match="pip install tensorflow-datasets"):
        data.tfds_dataset("imagenet2012", "train", image_size=32, batch_size=2, training=True)


def test_imagenette_wordnet_ids_read_as_class_names():
    assert data.readable_class_names(["n01440764", "n03888257", "cat"]) == \
        ["tench", "parachute", "cat"]
    assert len(set(data.IMAGENETTE_NAMES.values())) == 10


def test_centre_crop_of_a_batch_matches_the_pipeline_crop():
    images = np.arange(2 * 7 * 6 * 3).reshape(2, 7, 6, 3)
    cropped = data.center_crop_batch(images, 4)
    assert cropped.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(cropped[1], data.center_crop(images[1], 4).numpy())
    assert data.center_crop_batch(images, None) is images


# ------------------------------------------------------------------ caches keyed by source
def swap_class_folders(split_dir, first="cat", second="dog"):
    (split_dir / first).rename(split_dir / "swap")
    (split_dir / second).rename(split_dir / first)
    (split_dir / "swap").rename(split_dir / second)


def decoded(data_root, cache, **options):
    return data.load_split("toy", "train", data_dir=data_root, cache_dir=cache, **options)[0]


@pytest.mark.parametrize("swapped_first", [False, True])
def test_decoded_cache_is_keyed_by_the_folder_it_was_decoded_from(tmp_path, swapped_first):
    # Two data folders with the same data set name, split and image count, one with its class
    # folders swapped: each must get its own images, whichever was decoded first.
    plain = make_image_folder(tmp_path / "plain" / "toy").parent
    swapped = make_image_folder(tmp_path / "swapped" / "toy").parent
    swap_class_folders(swapped / "toy" / "train")
    expected = {root: decoded(root, tmp_path / f"fresh-{root.name}", limit=4)
                for root in (plain, swapped)}
    assert not np.array_equal(expected[plain], expected[swapped])
    cache = tmp_path / "shared-cache"
    for root in (swapped, plain) if swapped_first else (plain, swapped):
        np.testing.assert_array_equal(decoded(root, cache, limit=4), expected[root])
    assert len(list((cache / "arrays").glob("*.npy"))) == 2


def test_decoded_cache_notices_a_replaced_image(tmp_path):
    root, cache = make_image_folder(tmp_path / "data" / "toy").parent, tmp_path / "cache"
    before = decoded(root, cache)
    image = root / "toy" / "train" / "cat" / "0.jpg"
    stamp = image.stat().st_mtime_ns
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(image)
    os.utime(image, ns=(stamp + 10**9, stamp + 10**9))  # a later edit, whatever the clock
    after = decoded(root, cache)
    assert before[0].mean() < 10 and after[0].mean() > 190


@pytest.mark.parametrize("replaced_first", [False, True])
def test_archive_extraction_is_keyed_by_the_archive(tmp_path, replaced_first):
    # Two archives of the same name in two data folders, their class folders swapped in one.
    original = make_archive(tmp_path / "a")
    source = tmp_path / "b" / "src" / "toy"
    make_image_folder(source)
    swap_class_folders(source / "train")
    replaced = tmp_path / "b" / "data"
    replaced.mkdir()
    with tarfile.open(replaced / "toy-jpeg.tar.gz", "w:gz") as tar:
        tar.add(source, arcname="toy")
    expected = {root: decoded(root, tmp_path / f"fresh-{root.parent.name}")
                for root in (original, replaced)}
    cache = tmp_path / "shared-cache"
    for root in (replaced, original) if replaced_first else (original, replaced):
        np.testing.assert_array_equal(decoded(root, cache), expected[root])
    assert len(list((cache / "data").iterdir())) == 2


# ------------------------------------------------------------------ bad archives and images
def test_truncated_archive_is_a_clear_error_that_leaves_nothing(tmp_path):
    data_root, cache = make_archive(tmp_path), tmp_path / "cache"
    archive = data_root / "toy-jpeg.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"archive .*toy-jpeg.tar.gz is truncated or corrupt "
                                         r"\(.*\)\. Nothing was extracted; re-download or "
                                         r"replace toy-jpeg.tar.gz"):
        data.load_split("toy", "train", data_dir=data_root, cache_dir=cache)
    assert list((cache / "data").iterdir()) == []


def test_archive_with_a_path_out_of_its_folder_is_refused(tmp_path):
    data_root, cache = tmp_path / "data", tmp_path / "cache"
    data_root.mkdir()
    payload = tmp_path / "payload.txt"
    payload.write_text("overwrite me")
    with tarfile.open(data_root / "evil.tar.gz", "w:gz") as tar:
        tar.add(payload, arcname="evil/train/cat/ok.txt")
        tar.add(payload, arcname="evil/../../escaped.txt")
    with pytest.raises(ValueError, match=r"archive .*evil.tar.gz is unsafe: .*escaped.txt.* "
                                         r"outside .*Nothing was extracted; replace evil.tar.gz "
                                         r"with a trusted copy"):
        data.dataset_dir("evil", data_root, cache)
    assert list((cache / "data").iterdir()) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_decompression_bomb_is_a_clear_error_naming_the_file(tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "data" / "toy", per_class=1)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # the 8x8 images are "bombs" now
    with pytest.raises(ValueError, match=r"cannot read image .*0.jpg: .*decompression bomb.* "
                                         r"Replace it with a smaller image, or raise "
                                         r"PIL.Image.MAX_IMAGE_PIXELS"):
        data.read_image(folder / "train" / "cat" / "0.jpg")
    with pytest.raises(ValueError, match=r"0.jpg: .*\(pass --skip-bad-images to leave it out\)"):
        data.load_split("toy", "train", data_dir=folder.parent, cache_dir=tmp_path / "cache")


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 257 * 100, 32896, 65535]], np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    image = data.read_image(tmp_path / "deep.png")
    assert image.shape == (1, 4, 3)
    assert image[0, :, 0].tolist() == [0, 100, 128, 255] and np.all(image[..., 2] == image[..., 0])


def test_a_sixteen_bit_pgm_and_a_32_bit_tiff_of_16_bit_samples_are_scaled(tmp_path):
    # PIL opens both as mode "I" (32-bit signed samples)
    levels = np.array([[0, 257 * 100, 32896, 65535]], np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.pgm")
    Image.fromarray(levels.astype(np.int32), "I").save(tmp_path / "deep.tif")
    for name in ("deep.pgm", "deep.tif"):
        assert Image.open(tmp_path / name).mode == "I"
        assert data.read_image(tmp_path / name)[0, :, 1].tolist() == [0, 100, 128, 255]


@pytest.mark.parametrize("values, found", [([0, 70000], "from 0 to 70000"),
                                           ([-5, 300], "from -5 to 300")])
def test_an_integer_image_beyond_16_bits_is_refused_naming_it(tmp_path, values, found):
    # a 32-bit (or signed) integer TIFF was read as 16-bit and clipped: 70000 as 255 and
    # -5 as 0, other pixels without a word
    Image.fromarray(np.array([values], np.int32), "I").save(tmp_path / "counts.tif")
    with pytest.raises(ValueError, match=rf"^cannot read image .*counts.tif: it is an integer "
                                         rf"image with samples {found}, and integer images are "
                                         r"read as 8 or 16 bits \(0 to 255, 0 to 65535\): "
                                         r"rescale it to 8 or 16 bits and save it again$"):
        data.read_image(tmp_path / "counts.tif")


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])  # PIL's own decoder, libtiff's
def test_a_32_bit_integer_tiff_of_8_bit_samples_is_refused_naming_it(tmp_path, compression):
    # 8-bit data saved in a 32-bit container (Image.fromarray of an int32 array) was read as
    # 16-bit, scaled by 1/257: 200 as 1, an almost black image, without a word
    Image.fromarray(np.array([[0, 100, 200]], np.int32), "I").save(
        tmp_path / "eight.tif", compression=compression)
    assert Image.open(tmp_path / "eight.tif").mode == "I"  # as a 16-bit PGM's
    refused = (r"cannot read image .*eight.tif: it is a 32-bit integer image with samples from "
               r"0 to 200, which could be 8-bit or dark 16-bit data: save it as an 8-bit or "
               r"16-bit image")
    with pytest.raises(ValueError, match=rf"^{refused}$"):
        data.read_image(tmp_path / "eight.tif")  # as predict reads it
    folder = tmp_path / "data" / "toy" / "test" / "cat"
    folder.mkdir(parents=True)
    (tmp_path / "eight.tif").rename(folder / "eight.tif")
    Image.fromarray(np.full((1, 3), 200, np.uint8)).save(folder / "plain.png")
    with pytest.raises(ValueError, match=rf"^{refused} \(pass --skip-bad-images to leave it"):
        data.load_split("toy", "test", data_dir=tmp_path / "data", cache_dir=tmp_path / "c")
    with pytest.warns(UserWarning, match=rf"^skipping {refused}$"):
        images, labels, _ = data.load_split("toy", "test", data_dir=tmp_path / "data",
                                            cache_dir=tmp_path / "c", skip_bad_images=True)
    assert images.shape == (1, 1, 3, 3) and np.all(images == 200) and labels.tolist() == [0]


def test_a_32_bit_integer_tiff_with_a_sample_above_255_is_read_as_16_bit(tmp_path):
    Image.fromarray(np.array([[0, 257, 200, 1000]], np.int32), "I").save(tmp_path / "ten.tif")
    assert data.read_image(tmp_path / "ten.tif")[0, :, 0].tolist() == [0, 1, 1, 4]


def test_a_16_bit_image_of_samples_up_to_255_is_still_read_as_16_bit(tmp_path):
    # a 16-bit file says its samples are 16-bit, however dark: only 32-bit ones are refused
    levels = np.array([[0, 100, 200, 255]], np.uint16)
    for name, mode, tags in (("dark.png", "I;16", {}), ("dark.tif", "I;16", {}),
                             ("dark.pgm", "I", {}), ("signed.tif", "I", {339: 2})):
        Image.fromarray(levels).save(tmp_path / name, tiffinfo=tags)  # 339: SampleFormat
        assert Image.open(tmp_path / name).mode == mode
        assert data.read_image(tmp_path / name)[0, :, 2].tolist() == [0, 0, 1, 1]


def test_a_float_tiff_is_scaled_not_clipped(tmp_path):
    # a 32-bit float TIFF of values in [0, 1] (mode "F") was clipped by PIL's
    # convert("RGB") to 0 and 1: read black everywhere images are decoded
    levels = np.array([[0.0, 100 / 255, 0.5, 1.0]], np.float32)
    Image.fromarray(levels).save(tmp_path / "float.tif")
    assert Image.open(tmp_path / "float.tif").mode == "F"
    image = data.read_image(tmp_path / "float.tif")
    assert image[0, :, 0].tolist() == [0, 100, 128, 255] and np.all(image[..., 2] == image[..., 0])
    Image.fromarray(levels * 255).save(tmp_path / "float255.tif")  # [0, 255]: as it is
    assert data.read_image(tmp_path / "float255.tif")[0, :, 1].tolist() == [0, 100, 128, 255]
    folder = tmp_path / "data" / "toy" / "test" / "cat"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(folder / "0.tif")
    images, _, _ = data.load_split("toy", "test", data_dir=tmp_path / "data",
                                   cache_dir=tmp_path / "cache", image_size=8)
    assert np.all(images == 128)  # evaluate and training decode it as predict does


@pytest.mark.parametrize("values", [[-1.0, 0.5], [0.0, 300.0], [0.0, np.nan]])
def test_a_float_image_of_another_range_is_refused_naming_it(tmp_path, values):
    # a depth map, standardised data: any guess at its scale feeds the model another image
    Image.fromarray(np.array([values], np.float32)).save(tmp_path / "depth.tif")
    with pytest.raises(ValueError, match=r"cannot read image .*depth.tif: it is a float image "
                                         r"with values from .* and float images are read as "
                                         r"\[0, 1\] \(scaled by 255\) or \[0, 255\]: "
                                         r"rescale it"):
        data.read_image(tmp_path / "depth.tif")


def test_a_photo_tagged_with_an_exif_orientation_is_read_upright(tmp_path):
    # a phone's portrait photo: stored sideways (wide) with orientation 6, "turn 90 degrees
    # clockwise to show"; it was read as stored, so a model saw it lying on its side
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = 255  # the left half white: the top half once turned upright
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    image = data.read_image(tmp_path / "portrait.jpg")
    assert image.shape == (40, 20, 3)
    assert image[:18].mean() > 240 and image[22:].mean() < 15
    assert data.read_image(tmp_path / "portrait.jpg", 16).shape == (16, 16, 3)


def test_class_folders_named_on_a_mac_match_the_same_names_typed_elsewhere(tmp_path):
    # macOS names folders in Unicode's decomposed form: a folder "café" from a Mac (or an
    # archive made there) was "no class of the model" for the class "café", the error
    # listing the two as one name; a run trained on such folders saved the decomposed names
    import unicodedata

    decomposed = [unicodedata.normalize("NFD", name) for name in ("café", "thé")]
    for name in decomposed:
        folder = tmp_path / "drinks" / "test" / name
        folder.mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "0.png")
    _, labels, folders = data.image_folder(tmp_path / "drinks" / "test")
    assert folders == decomposed  # as the file system names them
    assert data.labels_by_class_name(labels, folders, ["thé", "water", "café"],
                                     "drinks/test").tolist() == [2, 0]
    assert data.readable_class_names(folders) == ["café", "thé"]  # composed, as typed
    assert data.readable_class_names(folders) != decomposed
    # and the other way round: a model that saved decomposed names, folders composed
    assert data.labels_by_class_name(labels, ["café", "thé"], decomposed[::-1],
                                     "drinks/test").tolist() == [1, 0]


@pytest.mark.parametrize("limit, got", [
    (-5, "-5"), (0, "0"), (2.5, "2.5"), ("10", "'10' (a string: give the int 10)"),
    (True, "True")])
def test_limit_must_be_a_positive_integer(tmp_path, limit, got):
    # Checked before the data folder is even looked at: no folder here.
    with pytest.raises(ValueError, match=rf"limit must be a positive whole number of images "
                                         rf"\(leave it out for all of them\); got "
                                         rf"{re.escape(got)}\."):
        data.load_split("toy", "train", data_dir=tmp_path / "nowhere", limit=limit)


def test_class_folders_map_to_the_models_classes_by_name():
    cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    labels = np.array([0, 1, 1, 0])
    assert data.labels_by_class_name(labels, ["cat", "dog"], cifar, "x").tolist() == [3, 5, 5, 3]
    imagenette = data.readable_class_names(sorted(data.IMAGENETTE_NAMES))
    assert data.labels_by_class_name(labels, ["n01440764", "n03888257"], imagenette,
                                     "x").tolist() == [0, 9, 9, 0]
    # a model whose classes are the WordNet ids themselves (a head trained on
    # image_dataset_from_directory's class_names): its folders were "no class of the model"
    wordnet_ids = sorted(data.IMAGENETTE_NAMES)
    assert data.labels_by_class_name(labels, ["n01440764", "n03888257"], wordnet_ids,
                                     "x").tolist() == [0, 9, 9, 0]
    with pytest.raises(ValueError, match="toy/test has class folder\\(s\\) 'kitten' that name no "
                                         "class of the model. Name each class folder after one "
                                         "of its classes \\(any subset of them\\): airplane, "
                                         "automobile, bird"):
        data.labels_by_class_name(labels, ["cat", "kitten"], cifar, "toy/test")


def test_a_cache_that_is_a_file_is_a_clear_error_before_anything_is_decoded(tmp_path,
                                                                           monkeypatch):
    # failed with a bare "[Errno 20] Not a directory: '.../data'", naming neither the cache
    # nor $EL_ZOO_CACHE; the arrays' cache failed only after every image was decoded
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    refused = rf"cannot write .*: {re.escape(str(cache))} is a file, not a folder; it is " \
              rf"in el_zoo's cache {re.escape(str(cache))}: pass a cache_dir= you can write in"
    with pytest.raises(NotADirectoryError, match=refused):
        data.dataset_dir("toy", make_archive(tmp_path), cache)
    monkeypatch.setattr(data, "read_image", lambda *args: pytest.fail("decoded first"))
    with pytest.raises(NotADirectoryError, match=refused):
        data.load_split("plain", "train", data_dir=make_image_folder(tmp_path / "plain").parent,
                        cache_dir=cache)


def test_tiff_pgm_and_ppm_images_are_read_from_a_class_folder(tmp_path):
    # read_image reads them (16-bit too), but image_folder left them out without a word
    folder = tmp_path / "scans" / "train" / "cell"
    folder.mkdir(parents=True)
    levels = np.full((4, 4), 65535, np.uint16)
    Image.fromarray(levels).save(folder / "deep.tif")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "plain.pgm")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "colour.ppm")
    (folder / "notes.txt").write_text("not an image")
    paths, labels, classes = data.image_folder(folder.parent)
    assert sorted(p.name for p in paths) == ["colour.ppm", "deep.tif", "plain.pgm"]
    images = data.load_split("scans", "train", data_dir=tmp_path, cache_dir=tmp_path / "cache")[0]
    assert sorted(images.reshape(3, -1).max(-1).tolist()) == [0, 0, 255]


def test_photos_saved_as_jfif_jpe_or_heic_are_not_left_out_of_their_class(tmp_path):
    # predict read a JPEG saved as .jfif (a browser's name for it) or .jpe, and a .pbm/.pnm,
    # but evaluate and training left them out without a word: a class of such photos was
    # "empty"; a phone's .heic photos, which Pillow reads with a plugin, were left out too
    folder = tmp_path / "photos" / "train" / "cat"
    folder.mkdir(parents=True)
    for name in ("web.jfif", "old.jpe"):
        Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(folder / name, "JPEG")
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(folder / "scan.pnm", "PPM")
    paths, _, _ = data.image_folder(folder.parent)
    assert sorted(p.name for p in paths) == ["old.jpe", "scan.pnm", "web.jfif"]
    images = data.load_split("photos", "train", data_dir=tmp_path, cache_dir=tmp_path / "c")[0]
    assert images.shape == (3, 4, 4, 3) and images.min() > 190
    (folder / "phone.heic").write_bytes(b"\0\0\0\x18ftypheic" + bytes(64))
    with pytest.raises(ValueError, match=r"cannot read image .*phone\.heic: .*; Pillow reads "
                       r"HEIC/HEIF photos with the pillow-heif plugin \(pip install "
                       r"pillow-heif, then pillow_heif\.register_heif_opener\(\)\), or convert "
                       r"them to JPEG \(pass --skip-bad-images to leave it out\)"):
        data.load_split("photos", "train", data_dir=tmp_path, cache_dir=tmp_path / "c")


def test_a_data_set_given_as_a_path_is_cached_in_the_cache_not_beside_it(tmp_path):
    # dataset="/home/me/pets" reads that folder (the path joins the data root as itself),
    # but its decoded arrays were written to /home/me/pets-test-...npy, in the user's data
    # folder and outside el_zoo's cache
    make_image_folder(tmp_path / "mine" / "pets")
    cache = tmp_path / "cache"
    images, _, classes = data.load_split(str(tmp_path / "mine" / "pets"), "train",
                                         data_dir=tmp_path, cache_dir=cache)
    assert len(images) and classes
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["pets"]
    assert [p.name.split("-")[:2] for p in (cache / "arrays").glob("*.npy")] == [
        ["pets", "train"]]


def test_a_data_folder_and_a_cache_given_as_tilde_paths_are_in_the_home_folder(
        tmp_path, monkeypatch):
    # "~/..." from os.environ or a config file: the cache became a folder named "~" in the
    # working directory, and the data folder "did not exist"
    from el_zoo import hub

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    make_image_folder(tmp_path / "data" / "toy")
    monkeypatch.setenv(data.DATA_ENV, "~/data")
    monkeypatch.setenv(hub.CACHE_ENV, "~/cache")
    assert data.data_root() == tmp_path / "data"
    assert hub.cache_root() == tmp_path / "cache"
    data.load_split("toy", "train")
    assert (tmp_path / "cache" / "arrays").is_dir() and not (tmp_path / "~").exists()


def test_a_tilde_data_folder_for_a_user_without_a_home_is_a_clear_error(monkeypatch):
    # Path.expanduser raised a bare RuntimeError("Could not determine home directory.")
    import pathlib

    def no_home(*args):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(pathlib.Path, "expanduser", no_home)  # as Python does then
    with pytest.raises(ValueError, match=r"the data folder \(--data-dir, EL_ZOO_DATA\) is "
                                         r"~/data, but this user has no home folder .*: give "
                                         r"a path without ~, or set HOME"):
        data.data_root("~/data")


def test_hidden_folders_and_files_beside_the_data_are_left_out(tmp_path):
    # Jupyter's .ipynb_checkpoints/ was a class folder the model does not know, and a Mac's
    # ._0.jpg (AppleDouble metadata, in archives made on a Mac) an unreadable image
    split = make_image_folder(tmp_path / "toy") / "train"
    (split / ".ipynb_checkpoints").mkdir()
    (split / "cat" / "._0.jpg").write_bytes(b"\0\5\26\7 AppleDouble")
    paths, labels, classes = data.image_folder(split)
    assert classes == ["cat", "dog"] and len(paths) == 6
    assert data.load_split("toy", "train", data_dir=tmp_path, cache_dir=tmp_path / "c")[0].shape \
        == (6, 8, 8, 3)


def test_images_in_a_class_folders_subfolders_are_read_as_that_class(tmp_path):
    # only a class folder's own files were read: cat/2023/*.jpg were left out without a word
    # (evaluate scored part of the split; all of them nested gave "no images")
    split = make_image_folder(tmp_path / "toy") / "test"
    nested = split / "cat" / "2023"
    nested.mkdir()
    for name in ("0.jpg", "1.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(nested / name)
    (split / "dog" / ".thumbnails").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(split / "dog" / ".thumbnails" / "0.jpg")
    (nested / "notes.txt").write_text("not an image")
    paths, labels, classes = data.image_folder(split)
    assert [p.relative_to(split).as_posix() for p in paths] == [
        "cat/0.jpg", "cat/1.jpg", "cat/2.jpg", "cat/2023/0.jpg", "cat/2023/1.png",
        "dog/0.jpg", "dog/1.jpg", "dog/2.jpg"]
    assert labels.tolist() == [0] * 5 + [1] * 3 and classes == ["cat", "dog"]
