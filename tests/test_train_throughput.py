"""benchmarks/train_throughput.py: peak and achieved GFLOP/s, and the report they go into."""

import pytest

import el_zoo
from tests.conftest import SMALL, benchmark_script

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
    assert result["plain"] == 200.0 and result["el"] == 150.0 and result["ratio"] == 0.75
    assert result["peak_gflops"] == 50.0
    assert result["train_gflops"] == pytest.approx({"plain": 6.0, "el": 9.0})
    assert throughput.efficiency(result, "el") == "9.0, 18.0 %"
    row = throughput.family_row("resnet18", result)
    assert row == "| resnet18 | 200 | 100-300 | 150 | 90-150 | 0.75 | 50 | 6.0, 12.0 % | 9.0, 18.0 % |"
