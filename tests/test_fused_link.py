"""benchmarks/fused_link/: the fused Elastic-Link op, built once per session into a temporary
folder, against ``el_zoo.layers.linked_sum_for_training`` (check.py's comparison), and the
report its measure.py writes."""

import importlib
import json
import shutil

import numpy as np
import pytest

from tests.conftest import REPO, assert_refused_as_dirty

FOLDER = REPO / "benchmarks" / "fused_link"


@pytest.fixture(scope="module")
def fused():
    """The folder's modules (fused_link, check, measure), imported with it on the path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(FOLDER))
        # imported once per process: importing fused_link registers the op's gradient
        return {name: importlib.import_module(name) for name in ("fused_link", "check",
                                                                 "measure")}


@pytest.fixture(scope="module")
def built_op(fused, tmp_path_factory):
    """The op library built into a temporary folder and loaded; skips without a compiler."""
    fused_link = fused["fused_link"]
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler: g++ is not on PATH (apt-get install g++)")
    library = fused_link.build(tmp_path_factory.mktemp("fused_link") / "elastic_link_op.so")
    return fused_link.load(library)


def test_a_missing_compiler_names_the_problem_and_the_fix(fused):
    with pytest.raises(fused["fused_link"].BuildError,
                       match="no C\\+\\+ compiler: no-such-g\\+\\+ is not on PATH. Install one "
                             ".*then run sh benchmarks/fused_link/build.sh"):
        fused["fused_link"].build("/nonexistent/op.so", compiler="no-such-g++")


def test_a_missing_library_names_the_build_command(fused, tmp_path, monkeypatch):
    fused_link = fused["fused_link"]
    monkeypatch.setattr(fused_link, "_loaded", {})  # as in a process that loaded none
    with pytest.raises(SystemExit, match="is missing: run sh benchmarks/fused_link/build.sh"):
        fused_link.load(tmp_path / "elastic_link_op.so")


@pytest.mark.parametrize("spec, scalar_gamma", [
    (((4, 4, 8), (4, 4, 8), 1), False),
    (((4, 4, 4), (4, 4, 8), 1), False),
    (((4, 4, 8), (4, 4, 4), 1), False),
    (((5, 5, 4), (3, 3, 8), 2), False),
    (((4, 4, 6), (4, 4, 4), 1), True),
    # 2048 positions: on one intra-op thread (a parallel run) one shard of several of the
    # gradient's 256-position chunks; on more (a serial run) shards adding into grad_gamma
    (((32, 32, 24), (32, 32, 16), 1), False),
], ids=["identity", "expand (tile)", "group-mean squeeze", "stride 2", "scalar gamma",
        "general, many positions"])
def test_fused_sum_and_gradients_match_the_training_sum(fused, built_op, spec, scalar_gamma):
    check = fused["check"]
    errors = check.spec_errors(spec, 2, scalar_gamma, np.random.default_rng(0))
    assert max(errors) <= check.TOLERANCE, dict(zip(["out", "conv_out", "x", "gamma"], errors))


@pytest.mark.parametrize("x_channels, out_channels", [(0, 4), (4, 0)])
def test_a_link_without_channels_is_an_error(built_op, x_channels, out_channels):
    import tensorflow as tf

    conv_out, x = tf.zeros((1, 2, 2, out_channels)), tf.zeros((1, 2, 2, x_channels))
    gamma = tf.ones((out_channels,))
    for op in (built_op.elastic_link_sum, built_op.elastic_link_sum_grad):
        with pytest.raises(tf.errors.InvalidArgumentError, match="at least one channel"):
            op(conv_out, x, gamma)


def test_the_report_records_ratios_per_round_and_the_link_totals(fused, tmp_path, monkeypatch):
    measure = fused["measure"]
    img_s = {"plain": [100.0, 200.0, 100.0], "el": [80.0, 100.0, 90.0],
             "el_fused": [90.0, 150.0, 100.0]}
    links = [{"link": "link_a", "shapes": "8x8x4 -> 8x8x8", "training form": 2.0, "fused": 1.0},
             {"link": "link_b", "shapes": "8x8x8 -> 4x4x8", "training form": 3.4, "fused": 1.6}]
    asked = []

    def measured(options):
        asked.append(options)
        if options["kind"] == "family":
            return {"img_s": img_s, "fused_link_calls_traced": 2}
        return {"links": links}

    monkeypatch.setattr(measure, "run_isolated", measured)
    monkeypatch.setattr(measure.fused_link, "load", lambda: None)  # no library needed
    out = tmp_path / "fused_link.md"
    measure.main(["--families", "resnet26s", "--links", "resnet26s_el", "--rounds", "3",
                  "--note", "A note.", "--out", str(out)])
    assert [(o["kind"], o["threads"]) for o in asked] == [("family", 2), ("links", 1)]
    text = out.read_text()
    assert "feasibility measurement" in text and "nothing in el_zoo uses the op" in text
    # per round: EL now / plain 0.8, 0.5, 0.9; EL fused / plain 0.9, 0.75, 1.0;
    # EL fused / EL now 1.125, 1.5, 1.111
    assert ("| resnet26s | 3 x 20 | 100 (100-200) | 90 (80-100) | 100 (90-150) | "
            "0.800 (0.500-0.900) | 0.900 (0.750-1.000) | 1.125 (1.111-1.500) |") in text
    assert "| link_b | 8x8x8 -> 4x4x8 | 3.4 | 1.6 |" in text
    assert "| total | | 5 | 3 |" in text  # 5.4 ms and 2.6 ms, in whole ms
    assert "A note." in text and "Command: `" in text and "wall time" in text
    record = json.loads((tmp_path / "fused_link.json").read_text())
    summary = record["families"]["resnet26s"]["summary"]
    assert summary["el/plain"] == {"median": 0.8, "range": [0.5, 0.9]}
    assert record["links"]["resnet26s_el"]["totals"] == pytest.approx(
        {"training form": 5.4, "fused": 2.6})
    assert {"command", "git_commit", "machine", "date", "wall_time_s"} <= set(record)


def test_a_report_from_a_dirty_work_tree_is_refused_before_measuring(fused, monkeypatch,
                                                                     capsys, dirty_work_tree):
    measure = fused["measure"]
    monkeypatch.setattr(measure.fused_link, "load", lambda: None)  # no library needed
    monkeypatch.setattr(measure, "measure", lambda args: pytest.fail("measured"))
    assert_refused_as_dirty(lambda: measure.main([]), capsys, "reports/fused_link.md")


def test_measuring_nothing_is_refused_before_any_work(fused, capsys):
    with pytest.raises(SystemExit):
        fused["measure"].main(["--families"])
    assert "nothing to measure: give --families and/or --links" in capsys.readouterr().err
