"""training.compare pairs EL runs with plain twins under an identical budget only."""

import json

import pytest

from training import compare


def fake_run(root, model, top1, seed=0, width=0.25, epochs=16, eval_images=None):
    folder = root / f"{model}-{seed}-{width}"
    folder.mkdir()
    folder.joinpath("metrics.json").write_text(json.dumps({
        "model": model, "recipe": "cifar10", "dataset": "cifar10", "top1": top1,
        "epochs": epochs, "seed": seed, "eval_images": eval_images, "train_time_s": 600,
        "command": f"el-zoo train {model}", "git_commit": "0" * 40, "date": "today",
        "recipe_config": {"width_multiplier": width, "image_size": 32, "batch_size": 128}}))
    return str(folder)


def test_pairs_only_identical_budgets_and_averages_seeds(tmp_path, capsys):
    runs = [fake_run(tmp_path, "mobilenet_v1", 0.40, seed=0),
            fake_run(tmp_path, "mobilenet_v1_el", 0.45, seed=0),
            fake_run(tmp_path, "mobilenet_v1", 0.42, seed=1),
            fake_run(tmp_path, "mobilenet_v1_el", 0.43, seed=1),
            fake_run(tmp_path, "resnet26_el", 0.70, width=0.5)]  # its twin is another width
    fake_run(tmp_path, "resnet26", 0.60, width=0.25)
    compare.main([*runs, str(tmp_path / "resnet26-0-0.25"), "--output", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out.json").read_text())
    (row,) = result["summary"]
    assert row["model"] == "mobilenet_v1" and row["seeds"] == 2
    assert row["el_minus_plain"] == pytest.approx(0.03)
    assert row["min_diff"] == pytest.approx(0.01) and row["max_diff"] == pytest.approx(0.05)
    text = (tmp_path / "out.md").read_text()
    assert "+3.00 pt (+1.00 / +5.00)" in text
    assert "without a twin" in text and "resnet26_el (seed 0)" in text


def test_subset_runs_and_runs_without_twins_are_refused(tmp_path, capsys):
    subset = fake_run(tmp_path, "resnet18", 0.5, eval_images=500)
    with pytest.raises(SystemExit) as raised:
        compare.main([subset, "--output", str(tmp_path / "out")])
    assert raised.value.code == 2 and "subset" in capsys.readouterr().err
    lonely = fake_run(tmp_path, "resnet18_el", 0.5)
    with pytest.raises(SystemExit):
        compare.main([lonely, "--output", str(tmp_path / "out")])
    assert "no EL run has a plain twin" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    assert "no metrics.json" in capsys.readouterr().err
    assert not (tmp_path / "out.md").exists()
