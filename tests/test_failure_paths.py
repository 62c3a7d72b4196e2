"""Failure paths added with training and publishing: each names the problem and the fix."""

import json
import shlex
import shutil
import subprocess
import sys

import pytest

import el_zoo
from el_zoo import pretrained
from tests.conftest import REPO, SMALL
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


def test_publish_refuses_a_run_without_a_file_it_copies_before_measuring(tmp_path,
                                                                         monkeypatch):
    # training_curves.png missing (a run trained without matplotlib) and weights.h5 empty
    # were met only when copying them, after minutes of evaluation and LCE conversion
    published = REPO / "models" / "reactnet_a.cifar10"
    run = tmp_path / "my run"
    run.mkdir()
    training = json.loads((published / "metrics.json").read_text())["training"]
    (run / "metrics.json").write_text(json.dumps(training))
    shutil.copyfile(published / "training_log.csv", run / "training_log.csv")
    (run / "weights.h5").write_bytes(b"")
    monkeypatch.setattr(publish, "measure", lambda *args: pytest.fail("measured first"))
    monkeypatch.setattr(publish, "run_model", lambda *args: pytest.fail("built first"))
    command = [str(run), "--tag", "cifar10", "--models-dir", str(tmp_path / "models")]
    with pytest.raises(SystemExit) as refused:
        publish.main(command)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        f"error: cannot publish {run}: weights.h5 is empty (el-zoo train wrote it into the "
        "run folder: copy it back from where the run was trained, ")
    assert message.endswith(". Nothing was measured or written.")
    assert "; training_curves.png is missing (el-zoo train draws it from training_log.csv " \
           "when matplotlib is installed; draw it now: python -c '" in message
    assert not (tmp_path / "models").exists()
    # the command the message gives draws the curves from the run's log
    remedy = message.split("draw it now: ")[1]
    remedy = shlex.split(remedy[:remedy.index("')") + 1])  # the quoted code ends with ')
    assert remedy[:2] == ["python", "-c"]
    subprocess.run([sys.executable, *remedy[1:]], check=True, cwd=REPO)
    assert (run / "training_curves.png").read_bytes().startswith(b"\x89PNG")
    shutil.copyfile(published / "weights.h5", run / "weights.h5")
    assert publish.missing_copied_files(run) == ""
    # the copy and the check read one list: a file added to it is checked too
    monkeypatch.setattr(publish, "COPIED", (*publish.COPIED, "notes.txt"))
    assert publish.missing_copied_files(run).startswith("notes.txt is missing (")


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


def cifar_like_folder(root, bad_name=None, bad_bytes=None, classes=("cat", "dog")):
    """A data root holding cifar10/{train,test}/<class>/ (``classes``) of 4 small JPEGs each,
    plus one bad file ``bad_name`` (with ``bad_bytes``) among the first class's training
    images, if given; returns that file's path (else the root)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg")
    if bad_name is None:
        return root
    (root / "cifar10" / "train" / classes[0] / bad_name).write_bytes(bad_bytes)
    return root / "cifar10" / "train" / classes[0] / bad_name


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


def toy_run(data, output):
    """The command of a two-epoch toy run (tests/toy.py) on ``data`` (a cifar_like_folder:
    2 steps an epoch) whose invocations end after each epoch (--segment-minutes 0)."""
    return ["toy_net", "--recipe", "cifar10", "--data-dir", str(data), "--output-dir",
            str(output), "--epochs", "2", "--batch-size", "4", "--width-multiplier", "0.125",
            "--verbose", "0", "--segment-minutes", "0"]


def one_line_error(capsys):
    error = capsys.readouterr().err
    assert error.startswith("el-zoo train: error: ") and error.count("\n") == 1, error
    return error


def test_resuming_on_a_data_folder_of_other_classes_is_refused(tmp_path, capsys, toy_family):
    """--data-dir may differ between a run's invocations (the data moved), but not its
    classes: a resume on as many classes of other names trained on them in the same record
    without a word, and on another count failed in TensorFlow's restore ("Received
    incompatible tensor with shape (2,) ...")."""
    from training import train

    data = cifar_like_folder(tmp_path / "data")
    output = tmp_path / "run"
    assert train.main(toy_run(data, output)) == 0  # epoch 1, checkpointed
    capsys.readouterr()
    before = folder_contents(output)
    for classes in (("cat", "fox"), ("cat", "dog", "fox")):
        other = cifar_like_folder(tmp_path / "-".join(classes), classes=classes)
        assert train.main(toy_run(other, output)) == 2
        error = one_line_error(capsys)
        assert (f"{output} holds a run started on 2 class folders (cat, dog), but cifar10/train "
                f"in {other} has {len(classes)} ({', '.join(classes)}): resuming it would "
                "train one run on two data sets") in error
        assert f"--data-dir {data} " in error  # the run's own command
        assert folder_contents(output) == before
    assert train.main(toy_run(data, output)) == 0  # its own data resume it
    assert json.loads((output / "metrics.json").read_text())["epochs"] == 2


def test_a_second_process_training_into_a_run_folder_is_refused(tmp_path, capsys):
    """Two invocations of a run's command at once both trained into its folder, writing
    checkpoints, weights and metrics.json over each other's. A process training holds a
    lock (flock) on the folder: taken here as that other process would hold it."""
    import fcntl
    import os

    from training import train

    started_run(tmp_path / "run")
    (tmp_path / "new").mkdir()  # another process's run, started, not yet checkpointed
    (tmp_path / "new" / "recipe.json").write_text("{}")
    for folder in (tmp_path / "run", tmp_path / "new"):
        before = folder_contents(folder)
        handle = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            assert train.main([*RUN, "--output-dir", str(folder)]) == 2
        finally:
            os.close(handle)
        assert (f"another process is training in {folder}: a run folder is trained by one "
                "process at a time") in one_line_error(capsys)
        assert folder_contents(folder) == before  # nothing of the other process's removed
    with train.trained_alone(tmp_path / "run"):  # let go of when a process ends
        pass


@pytest.mark.parametrize("inside", ["", "train", "train/cat/run"])
def test_an_output_dir_inside_the_data_sets_folder_is_refused(tmp_path, capsys, toy_family,
                                                              inside):
    """The run's checkpoints/ and logs/ became class folders of its data (a rerun was told
    to remove them as empty classes) and its curves an image of a class."""
    from training import train

    data = cifar_like_folder(tmp_path / "data")
    before = folder_contents(data)
    output = data / "cifar10" / inside  # the data set's folder, a split, a class
    assert train.main(toy_run(data, output)) == 2
    assert (f"--output-dir {output} is inside the folder of the data set the run trains on, "
            f"{data / 'cifar10'}") in one_line_error(capsys)
    assert folder_contents(data) == before


def damage(run, name, part):
    """Damages file ``name`` of a run folder (``epoch/...``: in the newest checkpoint) as a
    full disk, a power cut or an incomplete copy may leave it: ``part`` of its bytes kept
    (0: empty), or removed (None)."""
    checkpoints = run / "checkpoints" / "main"
    path = (checkpoints / (checkpoints / "latest").read_text() / name[len("epoch/"):]
            if name.startswith("epoch/") else run / name)
    if part is None:
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * part)])
    return path


DAMAGES = [  # (file, part kept, the problem named)
    ("recipe.json", 0, "Expecting value"), ("checkpoints/main/latest", 0, "it names ''"),
    ("epoch/history.json", 0, "Expecting value"), ("epoch/segments.json", 0,
                                                          "Expecting value"),
    ("epoch/ckpt.index", None, "Failed to find any matching files"),
    ("epoch/ckpt.data-00000-of-00001", 0.1, "Read less bytes than requested"),
]


def test_a_damaged_run_file_is_one_line_naming_it(tmp_path, capsys, toy_family):
    """A run writes its files whole (atomically), but a full disk, a power cut or an
    incomplete copy can leave one cut short: json's bare "Expecting value: line 1 column 1
    (char 0)", TensorFlow's NotFoundError or IndexError in a traceback."""
    from training import train

    run = tmp_path / "run"
    data = cifar_like_folder(tmp_path / "data")
    assert train.main(toy_run(data, run)) == 0  # epoch 1
    assert train.main([*toy_run(data, run)[:-2]]) == 0  # epoch 2: checkpoints 1 and 2
    (run / "metrics.json").unlink()  # as if killed before it was written
    capsys.readouterr()
    for name, part, problem in DAMAGES:
        copy = tmp_path / "damaged"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(run, copy)
        path = damage(copy, name, part)
        if "ckpt" in name:  # TensorFlow's files are named by their prefix
            path = path.parent / "ckpt"
        assert train.main(toy_run(data, copy)) == 2, name
        error = one_line_error(capsys)
        assert f"{path} is damaged (" in error and problem in error and "choose a new " \
            "--output-dir" in error, error
        if name.startswith("epoch/"):  # the checkpoint of epoch 1 is there to resume from
            assert f"write epoch-0001 into {copy}/checkpoints/main/latest" in error
    (run / "metrics.json").write_text('{"top1": 0.')  # cut short
    assert train.main(toy_run(data, run)) == 2
    assert (f"{run}/metrics.json is damaged (") in one_line_error(capsys)
    (run / "metrics.json").unlink()  # as the error says: the run is finished again
    assert train.main(toy_run(data, run)) == 0
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2
