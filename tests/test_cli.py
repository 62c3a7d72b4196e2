"""The el-zoo command line, run as a user runs it."""

import json
import subprocess
import sys

import pytest

from el_zoo.cli import main


def test_list_prints_every_registered_model(capsys):
    assert main(["list"]) == 0
    assert capsys.readouterr().out.split() == [
        "mobilenet_v1", "mobilenet_v1_el", "reactnet_a", "reactnet_a_el",
        "resnet18", "resnet18_el", "resnet26", "resnet26_el", "resnet26p", "resnet26p_el",
        "resnet26s", "resnet26s_el",
    ]


def test_list_with_a_pattern(capsys):
    assert main(["list", "reactnet*"]) == 0
    assert capsys.readouterr().out.split() == ["reactnet_a", "reactnet_a_el"]


def test_info_reports_params_and_ops(capsys):
    assert main(["info", "reactnet_a", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input_shape"] == [224, 224, 3]
    assert info["ops"] == pytest.approx(0.87e8, rel=0.02)


def test_info_with_larq_summary_and_el_line(capsys):
    assert main(["info", "resnet18_el", "--input-size", "32", "--stem", "cifar",
                 "--classes", "10", "--width-multiplier", "0.25", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "stage1_block1_unit1_el" in out  # Larq's summary lists the links
    assert "Elastic-Link:" in out and "OPs" in out


def test_unknown_model_is_a_clear_error_with_exit_code_2(capsys):
    assert main(["info", "resnet27"]) == 2
    assert "Unknown model 'resnet27'. Did you mean resnet26" in capsys.readouterr().err


def test_convert_writes_a_tflite_file(tmp_path, capsys, cleared_loads):
    target = tmp_path / "m.tflite"
    assert main(["convert", "resnet18_el", "-o", str(target), "--input-size", "32",
                 "--stem", "cifar", "--classes", "10", "--width-multiplier", "0.25"]) == 0
    assert target.stat().st_size > 0 and "wrote" in capsys.readouterr().out


def test_console_script_runs_the_demo(data_dir):
    result = subprocess.run(
        [sys.executable, "-m", "el_zoo.cli", "demo", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "top-1 agreement 100%" in result.stdout
    assert "not an ARM latency" in result.stdout


def test_benchmark_prints_a_table_and_writes_json(tmp_path, capsys):
    target = tmp_path / "bench.json"
    assert main(["benchmark", "mobilenet_v1_el", "--input-size", "32", "--stem", "cifar",
                 "--classes", "10", "--width-multiplier", "0.25", "--runs", "2",
                 "--rounds", "2", "--json", str(target)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "mobilenet_v1_el", "mobilenet_v1", "mobilenet_v1_el (float)"]
    assert all(len(row.split("|")) == 8 for row in rows)
    assert "not ARM latencies" in out
    assert "Timing: 2 rounds of 2 single-image runs" in out
    results = json.loads(target.read_text())
    assert results["input_shape"] == [32, 32, 3]
    assert 0 < results["ratios"]["size_vs_float"] < 1
    for role in ("model", "no_el", "float"):
        assert results[role]["latency_ms_1t"]["median"] > 0
        assert results[role]["latency_ms_2t"]["p90"] >= results[role]["latency_ms_2t"]["median"]
        assert len(results[role]["latency_ms_1t"]["round_medians"]) == 2
        assert results[role]["peak_memory_bytes"] > 0


def test_benchmark_of_a_tflite_file_times_it_alone(tmp_path, capsys):
    from el_zoo.convert import convert
    from tests.conftest import tiny_binary_model

    path = convert(tiny_binary_model(), tmp_path / "tiny.tflite", verify_images=0)
    assert main(["benchmark", str(path), "--runs", "3", "--json", str(tmp_path / "b.json")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [str(path)]
    results = json.loads((tmp_path / "b.json").read_text())
    assert len(results["model"]["latency_ms_1t"]["round_medians"]) == 1
    assert "ratios" not in results


def test_benchmark_of_a_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["benchmark", str(tmp_path / "missing.tflite")]) == 2
    assert "missing.tflite does not exist" in capsys.readouterr().err


def test_float_twin_of_reactnet_has_no_binarization():
    import el_zoo
    from el_zoo.benchmark import float_twin
    from el_zoo.layers import RSign

    twin = float_twin(el_zoo.load("reactnet_a_el", input_shape=(32, 32, 3), stem="cifar",
                                  classes=10, width_multiplier=0.25))
    assert not any(isinstance(layer, RSign) for layer in twin.layers)
    assert not any(getattr(layer, "kernel_quantizer", None) for layer in twin.layers)


ECHO_SCRIPT = """
import json, sys
options = json.loads(sys.argv[sys.argv.index("--one") + 1])
if options.get("fail"):
    sys.exit("measurement broke")
print("log line a benchmark may print first")
print(json.dumps({"doubled": options["n"] * 2}))
"""


def test_run_in_fresh_process_returns_the_last_json_line(tmp_path):
    from el_zoo.benchmark import run_in_fresh_process

    script = tmp_path / "echo.py"
    script.write_text(ECHO_SCRIPT)
    assert run_in_fresh_process(script, {"n": 21}) == {"doubled": 42}
    with pytest.raises(RuntimeError, match="measurement broke"):
        run_in_fresh_process(script, {"n": 1, "fail": True})
