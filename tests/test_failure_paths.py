"""Failure paths added with training and publishing: each names the problem and the fix."""

import json

import pytest

import el_zoo
from el_zoo import pretrained
from tests.conftest import SMALL
from training import publish, recipes


def test_recipe_refuses_an_unknown_override():
    with pytest.raises(ValueError, match="cannot override 'momentum'"):
        recipes.get_recipe("cifar10", momentum=0.9)


def test_unpublished_name_is_a_clear_error():
    with pytest.raises(ValueError, match="is not published; see el-zoo list --pretrained"):
        pretrained.published_model("resnet18.nope")


def test_evaluating_an_unpublished_model_needs_a_data_set():
    model = el_zoo.load("resnet18", **SMALL)
    with pytest.raises(ValueError, match="needs dataset= and split="):
        el_zoo.evaluate(model)


def test_publish_refuses_a_run_evaluated_on_a_subset(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"eval_images": 200, "model": "resnet18"}))
    with pytest.raises(ValueError, match="evaluated on a subset"):
        publish.publish(publish.parse_args([str(tmp_path), "--tag", "x"]))


def test_publish_reads_a_published_folder_as_its_training_record(tmp_path):
    run = {"model": "resnet18_el", "top1": 0.7}
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"name": "resnet18_el.cifar10", "training": run, "publish": {"git_commit": "abc"}}))
    assert publish.training_record(tmp_path, None) == (run, "cifar10")
    assert publish.training_record(tmp_path, "cifar10") == (run, "cifar10")
    with pytest.raises(ValueError, match="published as resnet18_el.cifar10: re-measure it "
                                         "without --tag or with --tag cifar10"):
        publish.training_record(tmp_path, "imagenette")


def test_publish_of_a_run_needs_a_tag_and_a_metrics_file(tmp_path):
    with pytest.raises(ValueError, match="has no metrics.json: give a finished training run"):
        publish.training_record(tmp_path, "cifar10")
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "resnet18", "top1": 0.7}))
    with pytest.raises(ValueError, match="is a training run: give its weight tag"):
        publish.training_record(tmp_path, None)
    assert publish.training_record(tmp_path, "cifar10")[1] == "cifar10"


def test_training_with_fewer_images_than_a_batch_is_a_clear_error(data_dir, tmp_path,
                                                                   capsys):
    from el_zoo.cli import main  # in this process: it fails before a model is built

    code = main(["train", "resnet18", "--recipe", "cifar10", "--data-dir", str(data_dir),
                 "--output-dir", str(tmp_path), "--train-limit", "20", "--eval-limit", "20",
                 "--batch-size", "32"])
    assert code == 2
    assert "make no batch of 32: lower --batch-size" in capsys.readouterr().err
    assert not (tmp_path / "recipe.json").exists()  # nothing half-written


RUN = ["resnet18_el", "--recipe", "cifar10", "--epochs", "2", "--batch-size", "32",
       "--train-limit", "64", "--elastic-link", "position=after_bn"]


def started_run(folder, arguments=RUN, legacy=False):
    """A run folder as training.train leaves it after its first epoch (record + checkpoint),
    without training: what a resume is checked against. ``legacy``: the record as it was
    written before families declared their own Elastic-Link defaults (only the options the
    command gave that differ from the global defaults, and no key when none does)."""
    from el_zoo.elastic_link import ElasticLinkOptions
    from training import train

    args = train.parse_args([*arguments, "--output-dir", str(folder)])
    (folder / "checkpoints" / "main").mkdir(parents=True)
    (folder / "checkpoints" / "main" / "latest").write_text("epoch-0001")
    record = train.run_record(args, train.run_recipe(args))
    if legacy:
        given = ElasticLinkOptions.parse(args.elastic_link).overrides()
        del record["recipe"]["elastic_link"]
        if given:
            record["recipe"]["elastic_link"] = given
    (folder / "recipe.json").write_text(json.dumps(record))
    return args


def folder_contents(folder):
    return {path: path.read_bytes() if path.is_file() else None for path in folder.rglob("*")}


@pytest.mark.parametrize("change, differences", [
    (["--elastic-link", "position=before_bn"],
     ["--elastic-link: recorded position=after_bn, now position=before_bn"]),
    (["--epochs", "3", "--seed", "1"],
     ["--epochs: recorded 2, now 3", "--seed: recorded 0, now 1"]),
    (["--train-limit", "128", "--teacher", "resnet18.cifar10"],
     ["--train-limit: recorded 64, now 128", "--teacher: recorded not given, now resnet18.cifar10"]),
])
def test_resuming_with_other_options_is_refused_before_anything_is_written(
        tmp_path, capsys, change, differences):
    from training import train

    args = started_run(tmp_path)
    before = folder_contents(tmp_path)
    code = train.main([*RUN, *change, "--output-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("el-zoo train: error: ") and error.count("\n") == 1
    for difference in differences:
        assert difference in error
    assert f"rerun its command ({train.documented_command(args)})" in error
    assert "choose a new --output-dir" in error
    assert folder_contents(tmp_path) == before


def test_an_old_record_resumes_only_with_the_elastic_link_options_it_trained_with(
        tmp_path, capsys):
    from training import train

    # resnet18_el's defaults did not change: its old records resume as they did
    started_run(tmp_path / "resnet18_el", legacy=True)
    args = train.parse_args([*RUN, "--output-dir", str(tmp_path / "resnet18_el")])
    assert train.check_resumable(tmp_path / "resnet18_el", train.run_record(
        args, train.run_recipe(args)))
    # mobilenet_v1_el's links go after BN by default now; a run recorded without options
    # trained them before BN, and is never continued after BN without a word
    old = ["mobilenet_v1_el", *RUN[1:-2]]
    folder = tmp_path / "mobilenet_v1_el"
    started_run(folder, old, legacy=True)
    before = folder_contents(folder)
    assert train.main([*old, "--output-dir", str(folder)]) == 2
    assert "--elastic-link: recorded position=before_bn, now position=after_bn" in \
        capsys.readouterr().err
    assert folder_contents(folder) == before
    args = train.parse_args([*old, "--elastic-link", "position=before_bn", "--output-dir",
                             str(folder)])
    assert train.check_resumable(folder, train.run_record(args, train.run_recipe(args)))


def test_resuming_with_another_model_names_it_not_a_tensorflow_shape_error(tmp_path, capsys):
    from training import train

    started_run(tmp_path)
    code = train.main(["resnet26_el", *RUN[1:], "--output-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 2 and "other options (model: recorded resnet18_el, now resnet26_el);" in error


def test_resume_allows_options_that_only_change_how_a_run_runs(tmp_path):
    from training import train

    started_run(tmp_path)
    args = train.parse_args([*RUN, "--output-dir", str(tmp_path), "--data-dir", "/elsewhere",
                             "--threads", "1", "--verbose", "0", "--strategy", "mirrored",
                             "--stream", "--skip-bad-images", "--segment-minutes", "150"])
    assert train.check_resumable(tmp_path, train.run_record(args, train.run_recipe(args)))


def test_resume_of_a_run_recorded_before_the_limits_were_kept(tmp_path):
    """recipe.json of older runs holds model, recipe and seed only: those are compared."""
    from training import train

    args = started_run(tmp_path)
    old = {k: v for k, v in json.loads((tmp_path / "recipe.json").read_text()).items()
           if k in ("model", "recipe", "seed")}
    (tmp_path / "recipe.json").write_text(json.dumps(old))
    now = train.run_record(args, train.run_recipe(args))
    assert train.check_resumable(tmp_path, {**now, "train_limit": 99})
    with pytest.raises(ValueError, match=r"--seed: recorded 0, now 5\); .* rerun it with the "
                                         "recorded values"):
        train.check_resumable(tmp_path, {**now, "seed": 5})


def test_a_changed_recipe_default_is_named(tmp_path):
    from training import train

    args = started_run(tmp_path)
    now = train.run_record(args, train.run_recipe(args))
    now["recipe"]["stages"][0]["schedule"] = "linear"
    with pytest.raises(ValueError, match="recipe setting main.schedule: recorded cosine, now linear"):
        train.check_resumable(tmp_path, now)


def test_output_dir_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    from el_zoo.cli import main  # in this process: it fails before a model is built

    (tmp_path / "notes.txt").write_text("mine")
    code = main(["train", "resnet18", "--recipe", "cifar10",
                 "--output-dir", str(tmp_path / "notes.txt" / "run")])
    error = capsys.readouterr().err
    assert code == 2
    assert (f"el-zoo train: error: --output-dir {tmp_path}/notes.txt/run: {tmp_path}/notes.txt "
            "is a file, not a folder; give a folder") in error
    assert "Traceback" not in error
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_failed_start_leaves_no_run_folder(tmp_path, capsys):
    from training import train

    output = tmp_path / "runs" / "new"
    code = train.main(["resnet18", "--recipe", "cifar10", "--data-dir", str(tmp_path / "nope"),
                       "--output-dir", str(output)])
    assert code == 2 and "nope does not exist" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_failure_before_the_first_checkpoint_removes_what_the_run_wrote(tmp_path):
    from training.train import removed_if_failing_before_a_checkpoint

    created = tmp_path / "runs" / "new"
    with pytest.raises(RuntimeError), removed_if_failing_before_a_checkpoint(created):
        (created / "logs").mkdir(parents=True)
        (created / "recipe.json").write_text("{}")
        raise RuntimeError("killed in epoch 1")
    assert not (tmp_path / "runs").exists()

    existing = tmp_path / "mine"
    (existing / "logs").mkdir(parents=True)
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError), removed_if_failing_before_a_checkpoint(existing):
        (existing / "recipe.json").write_text("{}")
        raise RuntimeError("bad image")
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]

    kept = tmp_path / "kept"
    with pytest.raises(RuntimeError), removed_if_failing_before_a_checkpoint(kept):
        started_run(kept)  # a checkpoint exists: kept, to be resumed
        raise RuntimeError("bad image in epoch 2")
    assert (kept / "recipe.json").exists()


def cifar_like_folder(root, bad_name, bad_bytes):
    """A data root holding cifar10/{train,test}/{cat,dog}/ of small JPEGs, plus one bad file
    ``bad_name`` (with ``bad_bytes``) among the cat training images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg")
    (root / "cifar10" / "train" / "cat" / bad_name).write_bytes(bad_bytes)
    return root / "cifar10" / "train" / "cat" / bad_name


def jpeg_bytes():
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_bad_image_met_while_streaming_is_one_line_naming_the_file(tmp_path, capsys,
                                                                      toy_family):
    """--stream decodes images inside tf.data during fit: the error reaching the user is
    the same line as for cached data, not TensorFlow's error around a Python traceback.
    (A file that is no image at all: test_training's imagenet_paper test.) The toy family
    (tests/toy.py) trains: the pipeline and the error are training.train's, whatever the
    model, which is built and traced before the first batch is decoded."""
    from training import train

    bad = cifar_like_folder(tmp_path / "data", "truncated.jpg", jpeg_bytes()[:300])
    output = tmp_path / "run"
    code = train.main(["toy_net", "--recipe", "cifar10", "--data-dir", str(tmp_path / "data"),
                       "--output-dir", str(output), "--epochs", "1", "--batch-size", "4",
                       "--stream", "--verbose", "0"])
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error
    last = error.splitlines()[-1]
    assert last.startswith(f"el-zoo train: error: cannot read image {bad}: ")
    assert last.endswith(": Truncated File Read (pass --skip-bad-images to leave it out)")
    assert not output.exists()  # failed in its first epoch: nothing left
