"""training.compare pairs EL runs with plain twins under an identical budget only."""

import json

import pytest

from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.registry import split_name
from training import compare

from tests.conftest import assert_refused_as_dirty


def fake_run(root, model, top1, seed=0, width=0.25, epochs=16, eval_images=None,
             elastic_link=None, batch_size=128, **recorded):
    folder = root / (f"{model}-{seed}-{width}{'-variant' if elastic_link else ''}"
                     f"{'' if batch_size == 128 else f'-batch{batch_size}'}")
    folder.mkdir()
    recipe = {"width_multiplier": width, "image_size": 32, "batch_size": batch_size}
    if elastic_link:
        recipe["elastic_link"] = elastic_link
    folder.joinpath("metrics.json").write_text(json.dumps({
        "model": model, "recipe": "cifar10", "dataset": "cifar10", "top1": top1,
        "epochs": epochs, "seed": seed, "eval_images": eval_images, "train_time_s": 600,
        "command": f"el-zoo train {model}", "git_commit": "0" * 40, "date": "today",
        "recipe_config": recipe, **recorded}))
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


def test_training_times_that_include_pauses_are_marked(tmp_path, capsys):
    # a record without paused_s was logged before training left its stopped time out
    runs = [fake_run(tmp_path, "mobilenet_v1", 0.40),
            fake_run(tmp_path, "mobilenet_v1_el", 0.45, train_time_s=900, paused_s=3000.0)]
    compare.main([*runs, "--output", str(tmp_path / "out")])
    text = (tmp_path / "out.md").read_text()
    assert "| +5.00 pt | 10* / 15 min |" in text
    assert "* marks a time that includes the time its process sat stopped" in text


def test_el_variants_pair_with_the_plain_twin_on_rows_of_their_own(tmp_path, capsys):
    runs = [fake_run(tmp_path, "resnet26", 0.69), fake_run(tmp_path, "resnet26_el", 0.69),
            fake_run(tmp_path, "resnet26_el", 0.73,
                     elastic_link={"position": "after_bn", "gamma_initializer": 0.5})]
    compare.main([*runs, "--output", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out.json").read_text())
    rows = {row["el_options"]: row for row in result["summary"]}
    assert set(rows) == {"defaults", "gamma_initializer=0.5, position=after_bn"}
    assert rows["defaults"]["el_minus_plain"] == pytest.approx(0.0)
    assert rows["gamma_initializer=0.5, position=after_bn"]["el_minus_plain"] == pytest.approx(
        0.04)
    assert len(result["runs"]) == 3
    text = (tmp_path / "out.md").read_text()
    assert "| resnet26 | gamma_initializer=0.5, position=after_bn | 0 | 69.00 % | 73.00 %" in text
    assert text.count("- resnet26 seed 0:") == 1  # the shared plain twin is listed once


def test_runs_pool_by_the_options_they_trained_with_whenever_recorded(tmp_path, capsys):
    # mobilenet_v1_el's links go after BN by default now, and runs record every option; a
    # run recorded before kept only the options that differed from the global defaults
    # (none: before BN). Seeds pool by what they trained, never by the family's new default.
    after_bn = ElasticLinkOptions(position="after_bn").as_dict()
    runs = [fake_run(tmp_path, "mobilenet_v1_el", 0.47, seed=0, elastic_link=after_bn),
            fake_run(tmp_path, "mobilenet_v1_el", 0.45, seed=1,
                     elastic_link={"position": "after_bn"}),  # an old record of after BN
            fake_run(tmp_path, "mobilenet_v1_el", 0.43, seed=2)]  # an old record: before BN
    runs += [fake_run(tmp_path, "mobilenet_v1", 0.40, seed=seed) for seed in range(3)]
    compare.main([*runs, "--output", str(tmp_path / "out")])
    rows = {row["el_options"]: row for row in json.loads(
        (tmp_path / "out.json").read_text())["summary"]}
    assert {key: row["seeds"] for key, row in rows.items()} == {"position=after_bn": 2,
                                                                "defaults": 1}
    assert rows["position=after_bn"]["el_top1"] == pytest.approx(0.46)
    # the report says "defaults" are the global ones, and which models register others
    text = (tmp_path / "out.md").read_text()
    assert "\"defaults\" is those" in text and "position=before_bn" in text
    assert "`mobilenet_v1_el` (position=after_bn)" in text


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


def test_a_report_from_a_dirty_work_tree_is_refused_before_reading_runs(monkeypatch, capsys,
                                                                        dirty_work_tree):
    monkeypatch.setattr(compare, "read_runs", lambda source: pytest.fail("read"))
    assert_refused_as_dirty(lambda: compare.main(["/runs/a"]), capsys, "reports/el_vs_plain",
                            "--output")


def test_a_compare_output_and_published_folders_are_sources_too(tmp_path, capsys):
    first = [fake_run(tmp_path, "mobilenet_v1", 0.40), fake_run(tmp_path, "mobilenet_v1_el", 0.45)]
    compare.main([*first, "--output", str(tmp_path / "first")])
    assert len(json.loads((tmp_path / "first.json").read_text())["runs"]) == 2
    # A run published later: its folder's metrics.json keeps the record under "training".
    folder = tmp_path / "published"
    folder.mkdir()
    record = json.loads((tmp_path / "mobilenet_v1-0-0.25" / "metrics.json").read_text())
    folder.joinpath("metrics.json").write_text(json.dumps(
        {"name": "mobilenet_v1.cifar10", "training": {**record, "seed": 1, "top1": 0.41},
         "publish": {"git_commit": "1" * 40}}))
    second = [fake_run(tmp_path, "mobilenet_v1_el", 0.47, seed=1), str(folder)]
    compare.main([str(tmp_path / "first.json"), *second, "--output", str(tmp_path / "second")])
    result = json.loads((tmp_path / "second.json").read_text())
    assert [(m["model"], m["seed"]) for m in result["runs"]] == [
        ("mobilenet_v1", 0), ("mobilenet_v1", 1), ("mobilenet_v1_el", 0), ("mobilenet_v1_el", 1)]
    (row,) = result["summary"]
    assert row["seeds"] == 2 and row["el_minus_plain"] == pytest.approx(0.055)
    (tmp_path / "old.json").write_text(json.dumps({"summary": [], "pairs": []}))
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "old.json"), "--output", str(tmp_path / "third")])
    assert "holds no run records" in capsys.readouterr().err


def published(name, top1, seed=0):
    model = split_name(name)[0]
    return {"name": name, "evaluation": {"top1": top1}, "training": {
        "model": model, "recipe": "cifar10", "dataset": "cifar10", "epochs": 16, "seed": seed,
        "top1": top1, "train_time_s": 16 * 270.0, "img_per_s": 50_000 / 270.0,
        "recipe_config": {"width_multiplier": 0.25, "image_size": 32, "batch_size": 128}}}


def fake_throughput_report(path):
    from training import cards

    path.write_text(json.dumps({
        "families": {"mobilenet_v1": {"plain": 2000.0, "el": 1800.0}},
        "experiments": {cards.EXPERIMENT_DEFAULT: {"el": 400.0},
                        cards.WIDTH_ONE: {"el": 50.0}}}))
    return path


def test_card_targets_compare_with_the_twin_only_under_the_same_budget(tmp_path, monkeypatch):
    from training import cards

    monkeypatch.setattr(cards, "THROUGHPUT_REPORT",
                        fake_throughput_report(tmp_path / "throughput.json"))
    monkeypatch.setattr(cards, "EL_VS_PLAIN_REPORT", tmp_path / "no_seed_report.json")
    el, plain = published("mobilenet_v1_el.cifar10", 0.42), published("mobilenet_v1.cifar10", 0.38)
    assert cards.twin_name("mobilenet_v1_el.cifar10") == "mobilenet_v1.cifar10"
    assert cards.twin_name("mobilenet_v1.cifar10") == "mobilenet_v1_el.cifar10"
    lines = cards.target_lines(el["name"], el, plain)
    assert "88% top-1" in lines[0] and "46.0 points short" in lines[0]
    # 1800 img/s at width 0.25, 400 / 50 = 8x slower at width 1.0: 225 img/s, 50,000 images
    assert ("`mobilenet_v1_el` trains at 1800 img/s at width 0.25, and `resnet26_el` at width "
            "1.0 is 8.0x slower than at 0.25; at that slowdown a width-1.0 epoch (50,000 "
            "images) would take about 4 min") in lines[1]
    assert lines[2].startswith("- What the curve predicts")
    assert "EL minus plain +4.00 points; target >= +3 points: met" in lines[3]
    assert "88%" not in " ".join(cards.target_lines(plain["name"], plain, el))
    other_seed = published("mobilenet_v1.cifar10", 0.30, seed=1)
    assert "No twin without EL" in cards.target_lines(el["name"], el, other_seed)[3]
    worse = published("resnet26_el.cifar10", 0.70)
    lines = cards.target_lines(worse["name"], worse, published("resnet26.cifar10", 0.71))
    assert "-1.00 points; target >= +3 points: not met" in lines[3]


def fake_seed_report(path, **row):
    base = {"model": "mobilenet_v1", "recipe": "cifar10", "width": 0.25, "epochs": 16,
            "seeds": 2, "plain_top1": 0.40, "el_top1": 0.41, "el_minus_plain": 0.01,
            "min_diff": -0.02, "max_diff": 0.04}
    path.write_text(json.dumps({"summary": [{**base, **row}]}))
    return path


def test_card_judges_the_el_gain_target_on_the_seed_mean_when_seeds_were_pooled(tmp_path):
    from training import cards

    el, plain = published("mobilenet_v1_el.cifar10", 0.42), published("mobilenet_v1.cifar10", 0.38)
    two_seeds = fake_seed_report(tmp_path / "two.json")
    lines = cards.el_gain_lines(el, plain, report_path=two_seeds)
    # this pair alone is +4 points (it would meet +3); the two-seed mean, +1, does not
    assert lines[0].endswith("EL minus plain +4.00 points (this seed).")
    assert lines[1] == ("- Over 2 seeds of this recipe, width and epochs "
                        "(`reports/el_vs_plain.md`): EL minus plain +1.00 points on average "
                        "(-2.00 to +4.00); target >= +3 points: not met (judged on the mean).")
    assert cards.el_gain_lines(plain, el, report_path=two_seeds)[1] == lines[1]
    met = fake_seed_report(tmp_path / "met.json", el_minus_plain=0.031)
    assert "+3.10 points on average" in cards.el_gain_lines(el, plain, met)[1]
    assert cards.el_gain_lines(el, plain, met)[1].endswith(": met (judged on the mean).")
    # a row for another width, a single seed, or no report: judged on this pair alone
    for report in (fake_seed_report(tmp_path / "w.json", width=1.0),
                   fake_seed_report(tmp_path / "v.json", el_options="position=after_bn"),
                   fake_seed_report(tmp_path / "one.json", seeds=1), tmp_path / "missing.json"):
        (line,) = cards.el_gain_lines(el, plain, report)
        assert "+4.00 points; target >= +3 points: met (one run each" in line
    no_goal = published("resnet18_el.cifar10", 0.42), published("resnet18.cifar10", 0.38)
    lines = cards.el_gain_lines(*no_goal, fake_seed_report(tmp_path / "r.json", model="resnet18"))
    assert lines[1].endswith("(-2.00 to +4.00).") and "target" not in lines[1]


def test_card_targets_give_next_steps_only_when_a_target_is_missed(tmp_path):
    from training import cards

    met = published("resnet18_el.imagenette", 0.91)  # the target is 90 % (training.targets)
    lines = cards.target_lines(met["name"], met, None)
    assert "90% top-1" in lines[0] and "(met)" in lines[0]
    assert not any("Next steps" in line for line in lines)
    full_width = published("resnet18_el.imagenette", 0.70)
    full_width["training"]["recipe_config"]["width_multiplier"] = 1.0
    line = cards.target_lines(full_width["name"], full_width, None)[1]
    assert "more epochs; this run is already at width 1.0" in line and "more width" not in line
    short = published("mobilenet_v1_el.cifar10", 0.42)
    short["training"]["recipe_config"]["width_multiplier"] = 0.5
    report = fake_throughput_report(tmp_path / "throughput.json")
    line = cards.scale_up_line(short["training"], report_path=report)
    assert "a width-1.0 epoch (50,000 images) would take about 4 min" in line  # any width < 1
    line = cards.scale_up_line(short["training"], report_path=tmp_path / "missing.json")
    assert line.endswith("more epochs and more width.")  # no measured speeds: no estimate


def test_a_restarted_runs_next_step_reads_its_recorded_images_per_epoch(tmp_path):
    """After a restart from a weights file, time and speed cover only the epochs logged (here
    2 of 16): images per epoch come from the record, not from speed x time / epochs."""
    from training import cards

    short = published("mobilenet_v1_el.cifar10", 0.42)
    short["training"].update(train_time_s=2 * 270.0, images_per_epoch=50_000, logged_epochs=2)
    line = cards.scale_up_line(short["training"], report_path=fake_throughput_report(
        tmp_path / "throughput.json"))
    assert "a width-1.0 epoch (50,000 images) would take about 4 min" in line
    assert cards.train_time_text(short["training"]) == (
        "9 min of training in the 2 epochs logged (185 img/s; any time its process sat "
        "stopped included)")  # a record from before pauses were logged
    short["training"].update(paused_s=0.0)
    assert cards.train_time_text(short["training"]).endswith("logged (185 img/s)")
    short["training"].update(paused_s=3000.0)
    assert cards.train_time_text(short["training"]).endswith(
        "(185 img/s; 50 min stopped, left out)")


def test_a_training_record_is_read_alike_from_run_and_published_folders():
    run = published("resnet18.cifar10", 0.5)["training"]
    assert compare.recorded_training(run) is run
    assert compare.recorded_training({"name": "resnet18.cifar10", "training": run,
                                      "publish": {}}) is run


def test_cards_and_the_manifest_carry_a_published_variants_elastic_link_options(tmp_path):
    from training import cards, publish

    el, plain = published("mobilenet_v1_el.cifar10", 0.45), published("mobilenet_v1.cifar10", 0.38)
    options = {"position": "after_bn"}
    el["training"]["recipe_config"]["elastic_link"] = options
    el["training"]["config"] = {"stem": "cifar"}
    # the manifest records every option (behaviour change: only the non-default ones before)
    assert publish.model_config(el["training"]) == {
        "stem": "cifar", "elastic_link": ElasticLinkOptions(position="after_bn").as_dict()}
    assert cards.el_text(el["training"]) == "with Elastic-Link, position=after_bn"
    assert cards.el_column(el["training"]) == "yes (position=after_bn)"
    assert cards.el_column(plain["training"]) == "no"
    defaults = published("mobilenet_v1_el.cifar10", 0.41)
    assert cards.el_text(defaults["training"]) == "with Elastic-Link"
    # the variant's card reads the variant's seed mean, never the defaults' (and vice versa)
    report = tmp_path / "report.json"
    base = {"model": "mobilenet_v1", "recipe": "cifar10", "width": 0.25, "epochs": 16,
            "seeds": 3, "plain_top1": 0.40, "min_diff": 0.0, "max_diff": 0.08}
    report.write_text(json.dumps({"summary": [
        {**base, "el_options": "defaults", "el_top1": 0.43, "el_minus_plain": 0.03},
        {**base, "el_options": "position=after_bn", "el_top1": 0.46, "el_minus_plain": 0.06}]}))
    assert "+6.00 points on average" in cards.el_gain_lines(el, plain, report)[1]
    assert "+6.00 points on average" in cards.el_gain_lines(plain, el, report)[1]
    assert "+3.00 points on average" in cards.el_gain_lines(defaults, plain, report)[1]


def test_cards_show_what_other_widths_and_epochs_gave_the_same_model(tmp_path, monkeypatch):
    from training import cards

    runs = [fake_run(tmp_path, "resnet18_el", 0.70, seed=0),
            fake_run(tmp_path, "resnet18_el", 0.72, seed=1),
            fake_run(tmp_path, "resnet18_el", 0.78, width=0.5, epochs=18),
            fake_run(tmp_path, "resnet18", 0.71, seed=0),  # another model
            fake_run(tmp_path, "resnet18_el", 0.60, seed=2,  # another EL variant
                     elastic_link={"position": "after_bn"}),
            # another batch size: another budget (compare.seedless_budget), never pooled in
            fake_run(tmp_path, "resnet18_el", 0.10, seed=3, batch_size=64),
            fake_run(tmp_path, "resnet18_el", 0.20, seed=3, width=0.5, epochs=8, batch_size=64)]
    compare.main(runs + ["--output", str(tmp_path / "report")])
    this_run = json.loads(open(f"{runs[2]}/metrics.json").read())
    line = cards.other_budgets_line(this_run, tmp_path / "report.json")
    assert line.endswith("width 0.25, 16 epochs: 71.00% (2 seeds); this run: width 0.5, 18 "
                         "epochs.")
    narrow = json.loads(open(f"{runs[0]}/metrics.json").read())
    assert "width 0.5, 18 epochs: 78.00% (1 seed);" in cards.other_budgets_line(
        narrow, tmp_path / "report.json")
    assert cards.other_budgets_line(this_run, tmp_path / "missing.json") is None
    # in the card: after the next steps, only when the 88 % target is missed
    monkeypatch.setattr(cards, "EL_VS_PLAIN_REPORT", tmp_path / "report.json")
    monkeypatch.setattr(cards, "THROUGHPUT_REPORT", tmp_path / "missing.json")
    el = {"name": "resnet18_el.cifar10", "evaluation": {"top1": 0.78}, "training": this_run}
    lines = cards.target_lines(el["name"], el, None)
    assert lines[1].startswith("- Next steps toward it") and lines[3] == line
    el["evaluation"]["top1"] = 0.90
    assert not any("other budgets" in text for text in cards.target_lines(el["name"], el, None))


def test_publishing_refuses_a_run_trained_with_other_than_its_models_elastic_link_defaults():
    from training import publish

    # a tag is weights for its model's architecture (el_zoo.load("X.tag") builds load("X"))
    old_after_bn = {"elastic_link": {"position": "after_bn"}}  # recorded before, after BN
    publish.check_default_elastic_link({"model": "mobilenet_v1_el", "recipe_config": old_after_bn})
    publish.check_default_elastic_link({"model": "resnet18", "recipe_config": {}})
    for model, recipe in (("resnet18_el", old_after_bn),
                          ("mobilenet_v1_el", {})):  # an old record: before BN
        with pytest.raises(ValueError, match=rf"{model} was trained with Elastic-Link options "
                                             r"other than its defaults \(position="):
            publish.check_default_elastic_link({"model": model, "recipe_config": recipe})


def test_cards_say_what_the_curve_of_schedule_ends_predicts_for_a_missed_target(tmp_path):
    from training import cards

    # a chain continued from 18 to 40 epochs (the finished source's segments carried over)
    run = published("resnet18_el.cifar10", 0.84)["training"]
    run.update(epochs=40, images_per_epoch=50_000, segments=[
        {"ended_by": "finished", "epochs": [1, 18], "top1": 0.785},
        {"ended_by": "interrupted", "epochs": [19, 25], "top1": 0.70},  # mid-schedule: left out
        {"ended_by": "finished", "epochs": [26, 40], "top1": 0.84}])
    empty = tmp_path / "missing.json"
    assert cards.schedule_ends(run, empty) == [(18, 0.785), (40, 0.84)]
    line = cards.forecast_line(run, 0.88, empty)
    assert ("width 0.25 (18 epochs: 78.50%; 40 epochs: 84.00%) gives k = 0.37: 88% would take "
            "about 87 epochs at this width, about 7 hours at this run's 185 img/s.") in line
    # the same model's other lengths at this width in reports/el_vs_plain join the curve
    runs = [fake_run(tmp_path, "resnet18_el", 0.70, seed=0, epochs=8),
            fake_run(tmp_path, "resnet18_el", 0.72, seed=1, epochs=8),
            fake_run(tmp_path, "resnet18_el", 0.60, width=0.5, epochs=4),  # another width
            fake_run(tmp_path, "resnet18_el", 0.99, seed=2, epochs=18),  # the chain's own end wins
            fake_run(tmp_path, "resnet18", 0.69, seed=0, epochs=8),  # twins: what compare pairs
            fake_run(tmp_path, "resnet18", 0.69, seed=1, epochs=8),
            fake_run(tmp_path, "resnet18", 0.69, seed=2, epochs=18)]
    compare.main(runs + ["--output", str(tmp_path / "report")])
    report = tmp_path / "report.json"
    assert cards.schedule_ends(run, report) == [(8, pytest.approx(0.71)), (18, 0.785), (40, 0.84)]
    assert "(8 epochs: 71.00%; 18 epochs: 78.50%; 40 epochs: 84.00%)" in cards.forecast_line(
        run, 0.88, report)
    # what the points cannot predict, said plainly
    single = published("resnet18_el.cifar10", 0.785)["training"]
    assert "nothing yet: at width 0.25 this model has ended a schedule at one length only " \
           "(16 epochs: 78.50%)" in cards.forecast_line(single, 0.88, empty)
    run["top1"], run["segments"][-1]["top1"] = 0.78, 0.78
    assert "top-1 does not rise with epochs at width 0.25" in cards.forecast_line(run, 0.88, empty)


def test_a_forecast_takes_a_schedule_end_from_a_rerun_that_only_evaluated(tmp_path):
    from training import cards

    run = published("resnet18_el.cifar10", 0.84)["training"]
    run.update(epochs=40, images_per_epoch=50_000, img_per_s=5000.0, segments=[
        {"ended_by": "segment limit", "epochs": [1, 18], "top1": 0.78},
        # the source's rerun after its last epoch: its final evaluation only, no epochs
        {"ended_by": "finished", "epochs": None, "top1": 0.785},
        {"ended_by": "finished", "epochs": [19, 40], "top1": 0.84}])
    empty = tmp_path / "missing.json"
    assert cards.schedule_ends(run, empty) == [(18, 0.785), (40, 0.84)]
    # 87.0 epochs of 50,000 images at 5000 img/s: 14.5 min, not "about 0 hours"
    assert "about 87 epochs at this width, about 15 min at this run's 5000 img/s" in \
        cards.forecast_line(run, 0.88, empty)


def test_a_forecast_within_a_schedule_that_missed_the_target_says_so(tmp_path):
    from training import cards

    run = published("resnet18_el.cifar10", 0.79)["training"]
    run.update(epochs=40, segments=[
        {"ended_by": "finished", "epochs": [1, 8], "top1": 0.70},
        {"ended_by": "finished", "epochs": [9, 18], "top1": 0.80},
        {"ended_by": "finished", "epochs": [19, 40], "top1": 0.79}])
    line = cards.forecast_line(run, 0.805, tmp_path / "missing.json")
    assert "puts 80% within 40 epochs, which fell short of it" in line
    assert "would take" not in line


def test_a_card_reads_the_seed_mean_of_its_own_budget_only(tmp_path, capsys):
    """The report's rows and the card's lookup are one key (``compare.pool_key``): a run
    trained with another batch size or image size is never judged on another budget's mean."""
    from training import cards

    def pair(seed, gain, batch_size):
        return [fake_run(tmp_path, "mobilenet_v1", 0.40, seed=seed, batch_size=batch_size),
                fake_run(tmp_path, "mobilenet_v1_el", 0.40 + gain, seed=seed,
                         batch_size=batch_size)]

    default = pair(0, 0.02, 128) + pair(1, 0.04, 128)
    compare.main(default + ["--output", str(tmp_path / "default")])
    batch_64 = pair(0, 0.06, 64) + pair(1, 0.10, 64)
    compare.main(default + batch_64 + ["--output", str(tmp_path / "both")])
    el_64 = json.loads((tmp_path / batch_64[1] / "metrics.json").read_text())
    el_128 = json.loads((tmp_path / default[1] / "metrics.json").read_text())
    both = tmp_path / "both.json"
    assert cards.pooled_over_seeds(el_64, both)["el_minus_plain"] == pytest.approx(0.08)
    assert cards.pooled_over_seeds(el_128, both)["el_minus_plain"] == pytest.approx(0.03)
    # a report holding another budget's runs only has no mean for this one
    assert cards.pooled_over_seeds(el_64, tmp_path / "default.json") is None
    other_size = {**el_128, "recipe_config": {**el_128["recipe_config"], "image_size": 64}}
    assert cards.pooled_over_seeds(other_size, tmp_path / "default.json") is None
    # a row written before rows recorded data set, image size and batch size reads as before
    old = tmp_path / "old.json"
    (row,) = json.loads((tmp_path / "default.json").read_text())["summary"]
    old.write_text(json.dumps({"summary": [{key: value for key, value in row.items()
                                            if key not in ("dataset", "image_size",
                                                           "batch_size")}]}))
    assert cards.pooled_over_seeds(el_64, old)["el_minus_plain"] == pytest.approx(0.03)
