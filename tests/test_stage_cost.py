"""benchmarks/stage_cost.py: seconds per epoch of each stage kind, alone; its report keeps
earlier models' entries."""

import json
from pathlib import Path

import pytest

from tests.conftest import assert_refused_as_dirty, benchmark_script

stage_cost = benchmark_script("stage_cost")

STUDY = ["cifar10", "cifar10_float_init", "cifar10_kd", "cifar10_two_stage"]
# the Elastic-Link options of toy_net_el's links as a run records them: its family's own
# default position (tests/toy.py), not the global one
TOY_OPTIONS = "position=after_bn"


def test_the_study_recipes_use_four_stage_kinds_timed_in_one_process():
    plans = stage_cost.planned_kinds(STUDY, width=0.5)
    assert list(plans) == [("cifar10", "train", "test", 32, "cifar", "cifar", 128, 0.5)]
    assert plans[next(iter(plans))] == [
        {"kind": "binary", "recipe": "cifar10", "stage": "main",
         "recipes": ["cifar10", "cifar10_float_init", "cifar10_two_stage"]},
        {"kind": "float", "recipe": "cifar10_float_init", "stage": "float",
         "recipes": ["cifar10_float_init", "cifar10_kd"]},
        {"kind": "binary + float teacher", "recipe": "cifar10_kd", "stage": "main",
         "recipes": ["cifar10_kd"]},
        {"kind": "real_weights", "recipe": "cifar10_two_stage", "stage": "stage1",
         "recipes": ["cifar10_two_stage"]}]
    # another batch size or data set is another process
    assert len(stage_cost.planned_kinds(["cifar10", "imagenette"])) == 2


def test_an_epoch_is_its_steps_and_an_evaluation_pass():
    result = {"kinds": {"binary": {"el_options": "defaults",
                                   "train_step_s": [0.5, 0.4, 0.6],
                                   "eval_s_per_image": [0.001, 0.002, 0.003]}},
              "steps_per_epoch": 390, "timed_eval_images": 1280, "dataset": "cifar10",
              "image_size": 32, "batch_size": 128, "peak_gflops": [200.0, 180.0, 210.0]}
    options = {"model": "resnet18_el", "width": 0.5, "warmup": 3, "steps": 20, "windows": 3,
               "eval_batches": 10, "train_limit": 2560, "matmul_size": 1024,
               "train_images": 50000, "eval_images": 10000,
               "kinds": [{"kind": "binary", "recipe": "cifar10", "stage": "main",
                          "recipes": ["cifar10"]}]}
    [entry] = stage_cost.entries_of(result, options, {"command": "c", "date": "d"})
    assert entry["epoch_s"] == 0.5 * 390 + 0.002 * 10000 == 215.0
    assert entry["epoch_s_range"] == [0.4 * 390 + 0.001 * 10000, 0.6 * 390 + 0.003 * 10000]
    assert (entry["kind"], entry["timed_as"], entry["command"]) == ("binary", "cifar10/main", "c")
    assert (entry["peak_gflops"], entry["train_images"]) == (200.0, 50000)


def entry(model, kind, seconds, date="earlier"):
    """A stage cost entry as the report keeps it."""
    return {"model": model, "width": 0.25, "dataset": "cifar10", "image_size": 32,
            "batch_size": 128, "el_options": "defaults", "kind": kind, "epoch_s": seconds,
            "epoch_s_range": [seconds - 1, seconds + 1], "train_step_s": 0.1,
            "eval_s_per_image": 0.001, "steps_per_epoch": 390, "train_images": 50000,
            "eval_images": 10000, "timed_as": "cifar10/main", "recipes": ["cifar10"],
            "timing": {"windows": 5, "steps": 20}, "peak_gflops": 200.0,
            "peak_gflops_windows": [190.0, 200.0, 210.0], "command": f"measure {model}",
            "git_commit": "a" * 40, "machine": "test machine", "date": date,
            "wall_time_s": 60.0, "note": ""}


def test_an_entry_measured_again_replaces_the_earlier_one_of_its_key():
    earlier = [entry("reactnet_a_el", "binary", 100.0), entry("resnet18_el", "binary", 200.0)]
    new = [entry("resnet18_el", "binary", 150.0, date="now"),
           entry("resnet18_el", "float", 90.0, date="now")]
    merged = stage_cost.merged(earlier, new)
    assert [(e["model"], e["kind"], e["epoch_s"]) for e in merged] == [
        ("reactnet_a_el", "binary", 100.0), ("resnet18_el", "binary", 150.0),
        ("resnet18_el", "float", 90.0)]


def test_an_out_that_is_another_report_is_refused(tmp_path):
    (tmp_path / "deploy.json").write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match=r"deploy.json is not a stage_cost report"):
        stage_cost.earlier_entries(str(tmp_path / "deploy.md"))
    assert stage_cost.earlier_entries(str(tmp_path / "none.md")) == []


@pytest.mark.parametrize("argv, message", [
    (["no_such_model"], "Unknown model 'no_such_model'"),
    (["resnet18_el", "--recipes", "cifar100"], "unknown recipe 'cifar100'"),
    (["resnet18_el", "--data-dir", "/no/such/folder"], "data folder /no/such/folder does not")])
def test_what_can_be_checked_is_checked_before_any_measuring(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        stage_cost.main([*argv, "--out", str(tmp_path / "stage_cost.md")])
    assert f"stage_cost: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "stage_cost.md").exists()


def test_a_report_from_a_dirty_work_tree_is_refused_before_measuring(monkeypatch, capsys,
                                                                     dirty_work_tree):
    from el_zoo import benchmark

    monkeypatch.setattr(benchmark, "run_in_fresh_process", lambda *args: pytest.fail("ran"))
    assert_refused_as_dirty(lambda: stage_cost.main(["resnet18_el"]), capsys,
                            "reports/stage_cost.md")


def measured_in_this_process(script, options):
    """What ``run_in_fresh_process(script, options)`` returns, measured in this process:
    the options and the result pass through JSON, as they cross its process boundary."""
    assert Path(script) == Path(stage_cost.__file__)
    return json.loads(json.dumps(stage_cost.measure_kinds(json.loads(json.dumps(options)))))


def test_a_tiny_run_times_each_kind_and_adds_to_an_earlier_report(data_dir, tmp_path, capsys,
                                                                   toy_family, monkeypatch):
    """The toy family (tests/toy.py), measured in this process: the kinds timed and the
    report are the script's, whatever the model. (The fresh process a configuration is
    measured in, and the answer it prints, are tested in tests/test_cli.py.)"""
    from el_zoo import benchmark, data

    monkeypatch.setattr(benchmark, "run_in_fresh_process", measured_in_this_process)
    out = tmp_path / "stage_cost.md"
    earlier = entry("reactnet_a_el", "binary", 100.0)
    out.with_suffix(".json").write_text(json.dumps({"entries": [earlier]}))
    stage_cost.main(["toy_net_el", "--width-multiplier", "0.25", "--recipes", "cifar10_kd",
                     "--batch-size", "16", "--warmup", "1", "--steps", "1", "--windows", "2",
                     "--eval-batches", "1", "--train-limit", "32", "--matmul-size", "256",
                     "--data-dir", str(data_dir), "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["entries"][0] == earlier  # kept, with its own provenance
    entries = {e["kind"]: e for e in report["entries"][1:]}
    assert list(entries) == ["binary + float teacher", "float"]  # sorted by key
    train_images = len(data.split_files("cifar10", "train", data_dir=data_dir)[0])
    eval_images = len(data.split_files("cifar10", "test", data_dir=data_dir)[0])
    for kind, e in entries.items():
        # the whole splits' epoch, not --train-limit's 32 images
        assert (e["train_images"], e["eval_images"]) == (train_images, eval_images)
        assert e["steps_per_epoch"] == train_images // 16
        assert (e["model"], e["width"], e["batch_size"], e["image_size"], e["el_options"]) == \
            ("toy_net_el", 0.25, 16, 32, TOY_OPTIONS)
        assert len(e["windows"]["train_step_s"]) == len(e["windows"]["eval_s_per_image"]) == 2
        low, high = e["epoch_s_range"]
        assert 0 < low <= e["epoch_s"] <= high
        assert e["epoch_s"] == pytest.approx(
            e["train_step_s"] * e["steps_per_epoch"] + e["eval_s_per_image"] * eval_images,
            abs=0.05)
        assert e["command"].startswith("python ") and \
            "stage_cost.py toy_net_el --width-multiplier 0.25 --recipes cifar10_kd" in \
            e["command"]
        assert e["timed_as"] == {"float": "cifar10_kd/float",
                                 "binary + float teacher": "cifar10_kd/main"}[kind]
    text = out.read_text()
    assert "## reactnet_a_el, width 0.25, cifar10 32x32, batch 128, Elastic-Link options: " \
           "defaults" in text
    assert "## toy_net_el, width 0.25, cifar10 32x32, batch 16, Elastic-Link options: " \
           f"{TOY_OPTIONS}" in text
    assert f"| float | {entries['float']['epoch_s']:.0f} (" in text
    assert "| binary | 100 (99-101) | 100.0 | 1.0 | 200 (190-210) | cifar10/main | 5 x 20 | " \
           "earlier, commit aaaaaaaaaaaa |" in text
    assert all(e["peak_gflops"] > 0 and len(e["peak_gflops_windows"]) == 2
               for e in entries.values())
    assert "| binary + float teacher |" in text and "- `measure reactnet_a_el` (commit" in text
