"""Failure paths added with training and publishing: each names the problem and the fix."""

import json
import subprocess
import sys

import pytest

import el_zoo
from el_zoo import weights as weights_module
from tests.conftest import REPO, SMALL
from training import publish, recipes


def test_recipe_refuses_an_unknown_override():
    with pytest.raises(ValueError, match="cannot override 'momentum'"):
        recipes.get_recipe("cifar10", momentum=0.9)


def test_unpublished_name_is_a_clear_error():
    with pytest.raises(ValueError, match="is not published; see el-zoo list --pretrained"):
        weights_module.published_record("resnet18.nope")


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


def test_training_with_fewer_images_than_a_batch_is_a_clear_error(data_dir, tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "el_zoo.cli", "train", "resnet18", "--recipe", "cifar10",
         "--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--train-limit", "20",
         "--eval-limit", "20", "--batch-size", "32"],
        capture_output=True, text=True, cwd=REPO)
    assert process.returncode == 2
    assert "make no batch of 32: lower --batch-size" in process.stderr
