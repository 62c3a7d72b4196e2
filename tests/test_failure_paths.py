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


def test_training_with_fewer_images_than_a_batch_is_a_clear_error(data_dir, tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "el_zoo.cli", "train", "resnet18", "--recipe", "cifar10",
         "--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--train-limit", "20",
         "--eval-limit", "20", "--batch-size", "32"],
        capture_output=True, text=True, cwd=REPO)
    assert process.returncode == 2
    assert "make no batch of 32: lower --batch-size" in process.stderr
