"""training/recipe_study.py: accuracy against CPU minutes, from run folders and its own JSON."""

import json

import pytest

from training import recipe_study


def fake_run(root, recipe, top1, stages, seed=0, cpu_seconds=None):
    """A finished run folder: metrics.json and a training_log.csv of 5-minute epochs
    (wall time), with ``cpu_seconds`` of CPU time each if given (an empty cell for None)."""
    folder = root / f"{recipe}-{seed}"
    folder.mkdir()
    rows, top1s = [], iter([0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    cpu = iter(cpu_seconds or [])
    for name, epochs in stages:
        rows += [f"{name},{epoch},{next(top1s)},300,{next(cpu, '')}"
                 for epoch in range(1, epochs + 1)]
    folder.joinpath("training_log.csv").write_text(
        "stage,epoch,val_top1,epoch_time_s,epoch_cpu_s\n" + "\n".join(rows) + "\n")
    folder.joinpath("metrics.json").write_text(json.dumps({
        "model": "resnet18_el", "recipe": recipe, "dataset": "cifar10", "top1": top1,
        "seed": seed, "eval_images": None, "train_time_s": 300.0 * len(rows),
        "recipe_config": {"width_multiplier": 0.5,
                          "stages": [{"name": n, "epochs": e} for n, e in stages]},
        "command": f"el-zoo train resnet18_el --recipe {recipe}", "git_commit": "0" * 40,
        "machine": "test machine", "date": "today"}))
    return str(folder)


def test_report_ranks_arms_by_top1_and_counts_every_stage(tmp_path, capsys):
    base = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)])
    kd = fake_run(tmp_path, "cifar10_kd", 0.75, [("float", 1), ("main", 2)])
    recipe_study.main([base, kd, "--output", str(tmp_path / "study")])
    text = (tmp_path / "study.md").read_text()
    assert text.index("| cifar10_kd |") < text.index("| cifar10 |")
    assert "| cifar10_kd | 0 | float 1 + main 2 | 15 wall | 75.00 % |" in text
    assert "- cifar10_kd seed 0: 1: 10 wall min 40.0 %; 2: 15 wall min 50.0 %" in text
    # the JSON keeps the records, so a later report starts from it without the run folders
    more = fake_run(tmp_path, "cifar10_two_stage", 0.72, [("stage1", 1), ("main", 2)])
    recipe_study.main([str(tmp_path / "study.json"), more, "--output", str(tmp_path / "two")])
    runs = json.loads((tmp_path / "two.json").read_text())["runs"]
    assert sorted(r["recipe"] for r in runs) == ["cifar10", "cifar10_kd", "cifar10_two_stage"]


def test_unfinished_or_subset_runs_are_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        recipe_study.main([str(tmp_path / "empty"), "--output", str(tmp_path / "x")])
    assert "is not a finished training run" in capsys.readouterr().err
    subset = fake_run(tmp_path, "cifar10", 0.5, [("main", 1)])
    metrics = json.loads((tmp_path / "cifar10-0" / "metrics.json").read_text())
    (tmp_path / "cifar10-0" / "metrics.json").write_text(json.dumps({**metrics,
                                                                     "eval_images": 100}))
    with pytest.raises(SystemExit):
        recipe_study.main([subset, "--output", str(tmp_path / "x")])
    assert "evaluated on a subset (100 images)" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_minutes_are_cpu_minutes_where_every_epoch_logged_its_cpu_time(tmp_path, capsys):
    measured = fake_run(tmp_path, "cifar10_kd", 0.75, [("float", 1), ("main", 2)],
                        cpu_seconds=[120, 240, 240])
    partly = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)], cpu_seconds=[240, 240])
    recipe_study.main([measured, partly, "--output", str(tmp_path / "study")])
    text = (tmp_path / "study.md").read_text()
    assert "| cifar10_kd | 0 | float 1 + main 2 | 10 CPU | 75.00 % |" in text
    assert "- cifar10_kd seed 0: 1: 6 CPU min 40.0 %; 2: 10 CPU min 50.0 %" in text
    # one epoch without its CPU time: the whole run is on the wall clock, never a mix
    assert "| cifar10 | 0 | main 3 | 15 wall | 70.00 % |" in text
