"""ImageFolder data: archives, caching, decoding, errors."""

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
    assert folder == cache / "data" / "toy-jpeg" / "toy"
    marker = folder / "train" / "cat" / "0.jpg"
    stamp = marker.stat().st_mtime_ns
    assert data.dataset_dir("toy", data_root, cache) == folder
    assert marker.stat().st_mtime_ns == stamp
    assert [p.name for p in (cache / "data").iterdir()] == ["toy-jpeg"]  # no temp left


def test_failed_extraction_leaves_nothing_in_the_cache(tmp_path):
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "broken.tar.gz").write_bytes(b"\x1f\x8b truncated")
    cache = tmp_path / "cache"
    with pytest.raises((tarfile.TarError, EOFError, OSError)):
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
