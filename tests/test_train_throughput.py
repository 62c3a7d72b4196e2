"""benchmarks/train_throughput.py: peak and achieved GFLOP/s, and the report they go into."""

import json

import pytest

import el_zoo
from tests.conftest import SMALL, assert_refused_as_dirty, benchmark_script

throughput = benchmark_script("train_throughput")


def test_forward_flops_count_binary_and_float_multiply_adds_twice():
    model = el_zoo.load("resnet18", **SMALL)
    cost = el_zoo.profile(model)
    assert cost["bops"] > 0 and cost["flops"] > 0
    assert throughput.forward_flops(model) == 2 * (cost["bops"] + cost["flops"])


def test_matmul_peak_is_a_positive_rate():
    assert throughput.matmul_gflops(64, repeats=2) > 0


def test_summary_reports_achieved_training_gflops_against_the_peak():
    speeds = {"plain": [100.0, 300.0, 200.0], "el": [150.0, 150.0, 90.0],
              "peak_gflops": [40.0, 50.0, 60.0], "forward_flops": {"plain": 1e7, "el": 2e7}}
    result = throughput.summary(speeds)
    assert result["plain"] == 200.0 and result["el"] == 150.0
    # EL / no EL per round (1.5, 0.5, 0.45): its median and range, not 150 / 200
    assert result["ratio"] == 0.5 and result["ratio_range"] == [0.45, 1.5]
    assert result["peak_gflops"] == 50.0
    assert result["train_gflops"] == pytest.approx({"plain": 6.0, "el": 9.0})
    assert throughput.efficiency(result, "el") == "9.0, 18.0 %"
    row = throughput.family_row("resnet18", result)
    assert row == "| resnet18 | 200 | 100-300 | 150 | 90-150 | 0.50 (0.45-1.50, 3 rounds) | 50 | 6.0, 12.0 % | 9.0, 18.0 % |"


def test_render_rewrites_the_report_from_its_json_with_the_current_summary(tmp_path):
    windows = {"plain": [100.0, 200.0], "el": [90.0, 100.0], "peak_gflops": [50.0, 50.0]}
    result = {"plain": 150.0, "el": 95.0, "ratio": 0.63, "peak_gflops": 50.0,
              "train_gflops": {"plain": 6.0, "el": 9.0}, "windows": windows}
    info = {"command": "python benchmarks/train_throughput.py", "git_commit": "abc",
            "machine": "test machine", "date": "2026-12-02 07:00 UTC", "wall_time_s": 60.0,
            "note": "A note."}
    out = tmp_path / "train_throughput.md"
    experiments = {label: result for label, _ in throughput.EXPERIMENTS}
    (tmp_path / "train_throughput.json").write_text(json.dumps(
        {"families": {"resnet18": result}, "experiments": experiments, **info}))
    throughput.main(["--render", "--out", str(out)])
    # the rounds' ratios are 0.9 and 0.5: the median of two is their mean
    assert "| 0.70 (0.50-0.90, 2 rounds) |" in out.read_text()
    assert "A note." in out.read_text() and "wall time 1.0 min" in out.read_text()
    record = json.loads((tmp_path / "train_throughput.json").read_text())
    assert record["families"]["resnet18"]["ratio_range"] == [0.5, 0.9]
    assert record["command"] == info["command"]  # the measured run's provenance, kept


def test_render_without_a_measured_report_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no measurements to render: .* does not exist. "
                                         "--render rewrites a report measured earlier"):
        throughput.main(["--render", "--out", str(tmp_path / "train_throughput.md")])
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_families_and_speedup_experiments_take_their_own_rounds(tmp_path, monkeypatch):
    # many rounds where a ratio must be told from 0.9 (the families), fewer for the
    # experiments on resnet26, width 1.0's among them
    asked = []

    def measured(options):
        asked.append(options)
        windows = {"plain": [100.0] * options["repeats"], "el": [90.0] * options["repeats"],
                   "peak_gflops": [50.0] * options["repeats"]}
        return throughput.summary({**windows, "forward_flops": {"plain": 1e7, "el": 1e7}})

    monkeypatch.setattr(throughput, "run_isolated", measured)
    out = tmp_path / "train_throughput.md"
    throughput.main(["--families", "resnet26", "reactnet_a", "--repeats", "12",
                     "--experiment-repeats", "3", "--out", str(out)])
    families, experiments = asked[:2], asked[2:]
    assert [(o["family"], o["repeats"]) for o in families] == [("resnet26", 12),
                                                                ("reactnet_a", 12)]
    assert len(experiments) == len(throughput.EXPERIMENTS) - 1  # the default reuses resnet26's
    assert all((o["family"], o["repeats"]) == ("resnet26", 3) for o in experiments)
    assert {(o.get("width"), o["steps"]) for o in experiments} >= {(1.0, 5), (None, 20)}
    assert "| 0.90 (0.90-0.90, 12 rounds) |" in out.read_text()


def test_a_report_from_a_dirty_work_tree_is_refused_before_measuring(monkeypatch, capsys,
                                                                     dirty_work_tree):
    monkeypatch.setattr(throughput, "run_isolated", lambda options: pytest.fail("measured"))
    assert_refused_as_dirty(lambda: throughput.main([]), capsys, "reports/train_throughput.md")
