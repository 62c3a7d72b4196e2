"""Publishing's recorded predictions: publishing a model records each evaluation image's
top-1, and ``--record-predictions`` adds them to a published folder, changing nothing else
in it, or refuses and writes nothing."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from el_zoo import data
from el_zoo import hub
from el_zoo.hub import sha256_of
from el_zoo.pretrained import manifest_json
from tests.conftest import DIRTY_COMMIT, REPO, assert_refused_as_dirty
from training import publish

NAME = "reactnet_a.cifar10"  # the smallest published model


def folder_contents(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def split_predictions(model, root):
    """``model``'s top-1 of every image of ``root``'s cifar10/test, in the split's order,
    computed without el_zoo.evaluate."""
    paths, _, _ = data.split_files("cifar10", "test", data_dir=root)
    images = np.stack([data.read_image(path, 32) for path in paths]).astype(np.float32)
    return model(images, training=False).numpy().argmax(-1)


def set_card(models, evaluation):
    """Changes the card's evaluation record of NAME and its manifest record, as publishing
    would have written them."""
    path = models / NAME / "metrics.json"
    published = json.loads(path.read_text())
    published["evaluation"].update(evaluation)
    path.write_text(json.dumps(published, indent=1) + "\n")
    publish.update_manifest(models, NAME, published)
    return published


@pytest.fixture
def tiny(tmp_path, data_dir, monkeypatch):
    """(models folder holding a copy of NAME as published, without predictions, whose card
    was measured on a data root holding 20 CIFAR-10 test images; that data root)."""
    images, labels, classes = data.load_split("cifar10", "test", data_dir=data_dir, limit=20)
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))  # arrays of the copy: not kept
    root = tmp_path / "data"
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / "cifar10" / "test" / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    models = tmp_path / "models"
    shutil.copytree(REPO / "models" / NAME, models / NAME)
    (models / NAME / publish.PREDICTIONS).unlink(missing_ok=True)
    set_card(models, {})
    return models, root


def record(models, root, folder=None):
    publish.main([str(folder or models / NAME), "--record-predictions", "--models-dir",
                  str(models), "--data-dir", str(root)])


def test_record_predictions_adds_the_file_and_its_manifest_record_only(tiny, monkeypatch):
    models, root = tiny
    published = json.loads((models / NAME / "metrics.json").read_text())
    built = publish.run_model(models / NAME, published["training"])
    # the command builds the same model: built once (seconds of autograph), handed to it
    monkeypatch.setattr(publish, "run_model", lambda folder, training: (
        built if (folder, training) == (models / NAME, published["training"]) else None))
    expected = split_predictions(built[0], root)
    _, labels, _ = data.split_files("cifar10", "test", data_dir=root)
    set_card(models, {"top1": float(np.mean(expected == labels)), "images": 20})
    before, manifest_before = folder_contents(models), manifest_json(models)

    record(models, root)
    path = models / NAME / publish.PREDICTIONS
    np.testing.assert_array_equal(publish.read_predictions(path), expected)
    manifest = manifest_json(models)
    assert manifest["files"].pop(f"{NAME}/{publish.PREDICTIONS}") == {
        "sha256": sha256_of(path), "size": path.stat().st_size}
    assert manifest == manifest_before
    after = folder_contents(models)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert changed == {path, models / "manifest.json"}  # weights, .tflite, card untouched


def fake_evaluation(monkeypatch, top1, images=20):
    """publish.evaluated without a model: an evaluation of ``top1`` on ``images`` images."""
    def evaluated(model, training, data_dir):
        return ({"top1": top1, "top5": 1.0, "images": images, "dataset": "cifar10",
                 "split": "test", "seconds": 0.0}, np.zeros(images, np.uint8))

    monkeypatch.setattr(publish, "run_model", lambda folder, training: (None, None))
    monkeypatch.setattr(publish, "evaluated", evaluated)


@pytest.mark.parametrize("top1, images, error", [
    (0.71, 20, f"error: re-measured top-1 0.7100 differs from {NAME}'s card 0.7000: the "
               "weights do not reproduce."),
    (0.70, 30, f"error: cifar10/test has 30 images, but {NAME} was measured on 20: give the "
               "--data-dir it was published with."),
])
def test_record_predictions_refuses_an_evaluation_other_than_the_cards(tiny, monkeypatch,
                                                                       top1, images, error):
    models, root = tiny
    set_card(models, {"top1": 0.70, "images": 20})
    fake_evaluation(monkeypatch, top1, images)
    before = folder_contents(models)
    with pytest.raises(SystemExit, match=f"^{error.replace('.', '[.]')}$"):
        record(models, root)
    assert folder_contents(models) == before
    fake_evaluation(monkeypatch, 0.704)  # within publish.TOP1_TOLERANCE
    record(models, root)
    assert (models / NAME / publish.PREDICTIONS).is_file()


def test_record_predictions_refuses_files_the_manifest_does_not_list_as_they_are(
        tiny, monkeypatch):
    models, root = tiny
    fake_evaluation(monkeypatch, 0.7)
    with open(models / NAME / "weights.h5", "ab") as f:
        f.write(b"retrained")
    before = folder_contents(models)
    with pytest.raises(SystemExit, match=r"weights\.h5 does not match its manifest record"):
        record(models, root)
    assert folder_contents(models) == before


def test_record_predictions_needs_a_published_folder_of_the_models_dir(tiny, tmp_path):
    models, root = tiny
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"model": "reactnet_a", "top1": 0.7}))
    with pytest.raises(SystemExit, match=f"error: {run} is not a published "
                                         "models/<name>.<tag> folder"):
        record(models, root, folder=run)
    elsewhere = tmp_path / "elsewhere" / NAME
    shutil.copytree(models / NAME, elsewhere)
    with pytest.raises(SystemExit, match=f"error: {elsewhere} is not {NAME}'s folder in "
                                         f"--models-dir {models}"):
        record(models, root, folder=elsewhere)


def test_publishing_records_the_predictions_it_measured(tiny, monkeypatch):
    models, _ = tiny
    published = json.loads((models / NAME / "metrics.json").read_text())
    measured = {key: published[key] for key in ("evaluation", "parity", "cost", "tflite",
                                                "x86_latency", "preprocessing")}
    predictions = np.arange(20, dtype=np.uint8) % 10
    monkeypatch.setattr(publish, "measure",
                        lambda run_dir, training, args: (b"flatbuffer", predictions, measured))
    publish.publish(publish.parse_args([str(models / NAME), "--models-dir", str(models),
                                        "--readme", ""]))
    path = models / NAME / publish.PREDICTIONS
    np.testing.assert_array_equal(publish.read_predictions(path), predictions)
    assert manifest_json(models)["files"][f"{NAME}/{publish.PREDICTIONS}"]["sha256"] == \
        sha256_of(path)


def test_publishing_into_the_repositorys_models_from_a_dirty_work_tree_is_refused_first(
        monkeypatch, capsys, dirty_work_tree):
    # a card said "measured ... at commit 7fc0827...+dirty", which no one can rerun
    monkeypatch.setattr(publish, "publishable", lambda args: pytest.fail("read first"))
    monkeypatch.setattr(publish, "measure", lambda *args: pytest.fail("measured first"))
    folder = str(REPO / "models" / NAME)  # re-measuring a published model, or a run
    for models in (str(REPO / "models"), "models", "./models/"):
        assert_refused_as_dirty(lambda: publish.main([folder, "--models-dir", models]), capsys,
                                models, "--models-dir")
    assert_refused_as_dirty(lambda: publish.main([folder]), capsys, str(REPO / "models"),
                            "--models-dir")  # the default

    # elsewhere a dirty tree may publish (to try a change)
    def publishable(args):
        assert publish.publish_commit(args) == DIRTY_COMMIT
        raise ValueError("checked, then read")

    monkeypatch.setattr(publish, "publishable", publishable)
    with pytest.raises(SystemExit, match="^error: checked, then read$"):
        publish.main([folder, "--models-dir", "/tmp/models"])
    # regenerating the cards or adding predictions records no commit
    monkeypatch.setattr(publish, "regenerate", lambda args: "regenerated")
    monkeypatch.setattr(publish, "record_predictions", lambda args: "recorded")
    assert publish.main(["--regenerate"]) == "regenerated"
    assert publish.main([folder, "--record-predictions"]) == "recorded"


def test_what_publishing_writes_does_not_make_the_work_tree_dirty(monkeypatch):
    # the second model of a pair published from one clean tree recorded "+dirty": the
    # first had rewritten the README's results table
    from el_zoo import provenance

    ignored = []
    monkeypatch.setattr(provenance, "git_commit",
                        lambda root=None, ignore=(): ignored.append(ignore) or "abc")
    assert publish.publish_commit(publish.parse_args(["run"])) == "abc"
    assert publish.publish_commit(publish.parse_args(["run", "--readme", ""])) == "abc"
    assert ignored == [("models", "README.md"), ("models",)]


def test_publishing_elsewhere_leaves_the_repositorys_readme_alone(tmp_path):
    # the refusal's advice, --models-dir /tmp/models, rewrote the repository's results table
    # with the models of /tmp/models alone (and that README's changes do not count as dirty)
    readme = str(REPO / "README.md")
    for models in (str(REPO / "models"), "models", "./models/"):
        assert publish.parse_args(["run", "--models-dir", models]).readme == readme
    assert publish.parse_args(["run"]).readme == readme
    assert publish.parse_args(["run", "--models-dir", str(tmp_path)]).readme == ""
    assert publish.parse_args(["--regenerate", "--models-dir", str(tmp_path)]).readme == ""
    given = str(tmp_path / "README.md")
    assert publish.parse_args(["run", "--models-dir", str(tmp_path), "--readme", given]
                              ).readme == given
    assert publish.parse_args(["run", "--readme", ""]).readme == ""
