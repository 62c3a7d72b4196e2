"""training/recipe_study.py: accuracy against minutes alone (stage kinds' measured seconds per
epoch), with the minutes measured under sharing beside them, from run folders and its own
JSON."""

import json
from pathlib import Path

import pytest

from training import recipe_study
from training.recipes import get_recipe, stage_kind

from tests.conftest import assert_refused_as_dirty

KINDS = {"main": {"binary_weights": True, "binary_activations": True},
         "float": {"binary_weights": False, "binary_activations": False},
         "stage1": {"binary_weights": False, "binary_activations": True}}
# seconds per epoch alone (with the range over windows) of each kind, as stage_cost writes them
COSTS = {"float": (120.0, [110.0, 130.0]), "binary": (300.0, [280.0, 330.0]),
         "binary + float teacher": (360.0, [340.0, 400.0]),
         "real_weights": (270.0, [250.0, 300.0])}


def fake_run(root, recipe, top1, stages, seed=0, cpu_seconds=None, teacher=None):
    """A finished run folder: metrics.json and a training_log.csv of 5-minute epochs
    (wall time), with ``cpu_seconds`` of CPU time each if given (an empty cell for None).
    A stage named "main" after a "float" stage distils from it when ``teacher`` is set."""
    folder = root / f"{recipe}-{seed}"
    folder.mkdir()
    rows, top1s = [], iter([0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    cpu = iter(cpu_seconds or [])
    for name, epochs in stages:
        rows += [f"{name},{epoch},{next(top1s)},300,{next(cpu, '')}"
                 for epoch in range(1, epochs + 1)]
    folder.joinpath("training_log.csv").write_text(
        "stage,epoch,val_top1,epoch_time_s,epoch_cpu_s\n" + "\n".join(rows) + "\n")
    recipe_stages = [{"name": n, "epochs": e, **KINDS[n],
                      "teacher": teacher if n == "main" else None} for n, e in stages]
    folder.joinpath("metrics.json").write_text(json.dumps({
        "model": "resnet18_el", "recipe": recipe, "dataset": "cifar10", "top1": top1,
        "seed": seed, "eval_images": None, "train_time_s": 300.0 * len(rows),
        "train_limit": None, "teacher": None,
        "recipe_config": {"width_multiplier": 0.5, "image_size": 32, "batch_size": 128,
                          "stages": recipe_stages},
        "command": f"el-zoo train resnet18_el --recipe {recipe} --output-dir /runs/{recipe}",
        "git_commit": "0" * 40, "machine": "test machine", "date": "today"}))
    return str(folder)


def cost_report(root, kinds=tuple(COSTS), name="stage_cost.json"):
    """A stage cost report (benchmarks/stage_cost.py's JSON) of resnet18_el at width 0.5
    with entries for ``kinds``."""
    entries = [{"model": "resnet18_el", "width": 0.5, "dataset": "cifar10", "image_size": 32,
                "batch_size": 128, "el_options": "defaults", "kind": kind,
                "epoch_s": COSTS[kind][0], "epoch_s_range": COSTS[kind][1],
                "train_images": 50000, "machine": "test machine"} for kind in kinds]
    path = root / name
    path.write_text(json.dumps({"entries": entries}))
    return str(path)


def study(root, sources, output="study", costs=None):
    recipe_study.main([*sources, "--output", str(root / output),
                       "--stage-cost", costs or cost_report(root)])
    return (root / f"{output}.md").read_text(), json.loads((root / f"{output}.json").read_text())


def test_report_ranks_arms_by_top1_and_counts_every_stage(tmp_path, capsys):
    base = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)])
    kd = fake_run(tmp_path, "cifar10_kd", 0.75, [("float", 1), ("main", 2)], teacher="float")
    text, _ = study(tmp_path, [base, kd])
    assert text.index("| cifar10_kd |") < text.index("| cifar10 |")
    # minutes alone: float 120 s + 2 x 360 s (binary with its float teacher) = 14 min; the
    # log's 15 wall minutes beside them
    assert "| cifar10_kd | 0 | float 1 + main 2 | 14.0 (13.2-15.5) | 15 wall | 75.00 % |" in text
    assert "- cifar10_kd seed 0: 1: 8.0 min 40.0 %; 2: 14.0 min 50.0 %" in text
    assert "| cifar10 | 0 | main 3 | 15.0 (14.0-16.5) | 15 wall | 70.00 % |" in text
    # the JSON keeps the records, so a later report starts from it without the run folders
    more = fake_run(tmp_path, "cifar10_two_stage", 0.72, [("stage1", 1), ("main", 2)])
    _, two = study(tmp_path, [str(tmp_path / "study.json"), more], output="two")
    runs = two["runs"]
    assert sorted(r["recipe"] for r in runs) == ["cifar10", "cifar10_kd", "cifar10_two_stage"]
    arms = {arm["recipe"]: arm for arm in two["arms"]}
    assert arms["cifar10_two_stage"]["minutes_alone"] == pytest.approx((270 + 2 * 300) / 60)
    assert arms["cifar10_two_stage"]["minutes_alone_range"] == pytest.approx(
        [(250 + 2 * 280) / 60, (300 + 2 * 330) / 60])
    assert arms["cifar10_kd"]["curve_alone"] == [["float", 1, 2.0, 0.3], ["main", 1, 8.0, 0.4],
                                                 ["main", 2, 14.0, 0.5]]


def test_minutes_alone_add_each_stages_epochs_at_its_kinds_seconds():
    record = {"model": "resnet18_el", "recipe": "r", "width": 0.5, "dataset": "d",
              "image_size": 32, "batch_size": 64,
              "el_options": "defaults", "machine": "here", "train_limit": None,
              "stages": [["float", 2], ["main", 3]], "stage_kinds": ["float", "binary"],
              "curve": [["float", 1, 9.0, 0.1], ["float", 2, 19.0, 0.2],
                        ["main", 1, 33.0, 0.3], ["main", 3, 60.0, None]]}

    def entry(kind, seconds, low, high):
        return {"model": "resnet18_el", "width": 0.5, "dataset": "d", "image_size": 32,
                "batch_size": 64, "el_options": "defaults", "kind": kind, "epoch_s": seconds,
                "epoch_s_range": [low, high], "train_images": 1000, "machine": "here"}

    costs = {recipe_study.cost_key(e): e for e in (entry("float", 30.0, 24.0, 36.0),
                                                   entry("binary", 90.0, 60.0, 120.0))}
    arm = recipe_study.minutes_alone(record, costs)
    assert arm["minutes"] == pytest.approx((2 * 30 + 3 * 90) / 60)  # 5.5
    assert arm["range"] == pytest.approx([(2 * 24 + 3 * 60) / 60, (2 * 36 + 3 * 120) / 60])
    assert arm["curve"] == [["float", 1, 0.5, 0.1], ["float", 2, 1.0, 0.2],
                            ["main", 1, 2.5, 0.3], ["main", 3, 5.5, None]]
    assert arm["notes"] == []
    # another batch size is another entry: none here, so no minutes, never 0
    other = recipe_study.minutes_alone({**record, "batch_size": 128}, costs)
    assert other["minutes"] is None and other["curve"] is None
    assert "batch 128" in other["notes"][0]
    # a run of fewer images per epoch (--train-limit) is not on the entries' epochs
    limited = recipe_study.minutes_alone({**record, "train_limit": 500}, costs)
    assert limited["minutes"] is None
    assert limited["notes"] == ["trained on --train-limit 500 images per epoch; the stage "
                                "costs are epochs of the whole training split"]
    # costs measured on another machine are that machine's minutes: said so
    moved = recipe_study.minutes_alone({**record, "machine": "there"}, costs)
    assert moved["minutes"] == pytest.approx(5.5)
    assert moved["notes"] == ["trained on there; its stage costs were measured on here: the "
                              "minutes alone are that machine's"]


def test_an_arm_without_a_cost_entry_gets_a_note_and_no_number(tmp_path, capsys):
    kd = fake_run(tmp_path, "cifar10_kd", 0.75, [("float", 1), ("main", 2)], teacher="float",
                  cpu_seconds=[120, 240, 240])
    base = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)])
    text, record = study(tmp_path, [kd, base],
                         costs=cost_report(tmp_path, kinds=("float", "binary")))
    assert "| cifar10_kd | 0 | float 1 + main 2 | no cost entry (see notes) | 10 CPU | " \
           "75.00 % |" in text
    # its curve is on the clock it measured, labelled as such
    assert "- cifar10_kd seed 0: (CPU minutes measured under sharing, no minutes alone) 1: " \
           "6 min 40.0 %; 2: 10 min 50.0 %" in text
    assert ("- resnet18_el cifar10_kd seed 0: no stage cost entry for resnet18_el width 0.5, "
            "cifar10 32x32, batch 128, Elastic-Link options defaults, stage kind "
            "'binary + float teacher'. Measure it: `python benchmarks/stage_cost.py "
            "resnet18_el --width-multiplier 0.5 --batch-size 128 --image-size 32 --recipes "
            "cifar10_kd --data-dir DATA`") in text
    arms = {arm["recipe"]: arm for arm in record["arms"]}
    assert arms["cifar10_kd"]["minutes_alone"] is None
    assert arms["cifar10"]["minutes_alone"] == pytest.approx(15.0)


def test_no_cost_report_is_an_error_naming_the_commands_that_measure_it(tmp_path, capsys):
    kd = fake_run(tmp_path, "cifar10_kd", 0.75, [("float", 1), ("main", 2)], teacher="float")
    base = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)])
    with pytest.raises(SystemExit):
        study(tmp_path, [kd, base], costs=str(tmp_path / "none.json"))
    error = capsys.readouterr().err
    assert f"no stage cost report at {tmp_path / 'none.json'}" in error
    assert ("`python benchmarks/stage_cost.py resnet18_el --width-multiplier 0.5 --batch-size "
            "128 --image-size 32 --recipes cifar10 cifar10_kd --data-dir DATA`") in error
    assert not (tmp_path / "study.md").exists()


def test_a_record_saved_before_stage_kinds_is_refused_naming_its_run_folder(tmp_path, capsys):
    base = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)])
    _, saved = study(tmp_path, [base])
    for record in saved["runs"]:
        del record["stage_kinds"]
    (tmp_path / "old.json").write_text(json.dumps(saved))
    with pytest.raises(SystemExit):
        study(tmp_path, [str(tmp_path / "old.json")], output="again")
    assert ("its record of resnet18_el cifar10 seed 0 was written before the study kept each "
            "stage's kind, batch and image size (the minutes-alone clock needs them): give its "
            "run folder instead (/runs/cifar10)") in capsys.readouterr().err


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


def test_a_report_from_a_dirty_work_tree_is_refused_before_reading_runs(monkeypatch, capsys,
                                                                        dirty_work_tree):
    monkeypatch.setattr(recipe_study, "read_records", lambda source: pytest.fail("read"))
    assert_refused_as_dirty(lambda: recipe_study.main(["/runs/a"]), capsys,
                            "reports/recipe_study", "--output")


def test_a_published_folder_is_studied_as_the_run_that_made_its_weights(tmp_path):
    # training.publish copies the log and keeps the run's record under "training"; every
    # reader of a run folder takes it from training.compare.read_run_record
    run = Path(fake_run(tmp_path, "cifar10", 0.70, [("main", 3)]))
    folder = tmp_path / "models" / "resnet18_el.cifar10"
    folder.mkdir(parents=True)
    folder.joinpath("training_log.csv").write_text((run / "training_log.csv").read_text())
    folder.joinpath("metrics.json").write_text(json.dumps({
        "name": "resnet18_el.cifar10", "publish": {},
        "training": json.loads((run / "metrics.json").read_text())}))
    _, from_run = study(tmp_path, [str(run)], output="from_run")
    _, from_published = study(tmp_path, [str(folder)], output="from_published")
    assert from_published["runs"] == from_run["runs"]


def test_minutes_are_cpu_minutes_where_every_epoch_logged_its_cpu_time(tmp_path, capsys):
    measured = fake_run(tmp_path, "cifar10_kd", 0.75, [("float", 1), ("main", 2)],
                        cpu_seconds=[120, 240, 240], teacher="float")
    partly = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)], cpu_seconds=[240, 240])
    text, record = study(tmp_path, [measured, partly])
    assert "| cifar10_kd | 0 | float 1 + main 2 | 14.0 (13.2-15.5) | 10 CPU | 75.00 % |" in text
    runs = {run["recipe"]: run for run in record["runs"]}
    assert runs["cifar10_kd"]["curve"] == [["float", 1, 2.0, 0.3], ["main", 1, 6.0, 0.4],
                                           ["main", 2, 10.0, 0.5]]
    # one epoch without its CPU time: the whole run is on the wall clock, never a mix
    assert "| cifar10 | 0 | main 3 | 15.0 (14.0-16.5) | 15 wall | 70.00 % |" in text


def test_stage_kinds_of_the_study_recipes():
    def kinds(name):
        recipe = get_recipe(name)
        return [stage_kind(recipe, stage) for stage in recipe["stages"]]

    assert kinds("cifar10") == ["binary"]
    assert kinds("cifar10_float_init") == ["float", "binary"]
    assert kinds("cifar10_kd") == kinds("cifar10_float_init_kd") == [
        "float", "binary + float teacher"]
    assert kinds("cifar10_two_stage") == ["real_weights", "binary"]
    # a --teacher model adds its forward pass to stages without a teacher stage
    metrics = {"recipe_config": get_recipe("cifar10_kd"), "teacher": "reactnet_a.cifar10"}
    assert recipe_study.stage_kinds(metrics) == ["float + teacher reactnet_a.cifar10",
                                                 "binary + float teacher"]


def test_a_runs_train_limit_comes_from_its_run_record_when_metrics_lack_it(tmp_path, capsys):
    # metrics.json kept --train-limit only from some commit on; recipe.json always had it
    run = fake_run(tmp_path, "cifar10", 0.70, [("main", 3)])
    metrics = json.loads((tmp_path / "cifar10-0" / "metrics.json").read_text())
    del metrics["train_limit"]
    (tmp_path / "cifar10-0" / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "cifar10-0" / "recipe.json").write_text(json.dumps({"train_limit": 5000}))
    text, record = study(tmp_path, [run])
    assert record["runs"][0]["train_limit"] == 5000
    assert "| cifar10 | 0 | main 3 | no cost entry (see notes) | 15 wall | 70.00 % |" in text
    assert "- resnet18_el cifar10 seed 0: trained on --train-limit 5000 images per epoch; the " \
           "stage costs are epochs of the whole training split" in text
    (tmp_path / "cifar10-0" / "recipe.json").write_text(json.dumps({}))
    with pytest.raises(SystemExit):
        study(tmp_path, [run], output="again")
    assert "neither metrics.json nor recipe.json records the run's --train-limit" in \
        capsys.readouterr().err
