"""The el-zoo command line, run as a user runs it."""

import json
import math
import os
import subprocess
import sys

import pytest

from el_zoo.builder import load
from el_zoo.cli import main
from el_zoo.registry import list_models


def test_list_prints_every_registered_model(capsys):
    assert main(["list"]) == 0
    names = capsys.readouterr().out.split()
    assert names == list_models() and len(names) >= 12


def test_list_with_a_pattern(capsys):
    assert main(["list", "reactnet*"]) == 0
    assert capsys.readouterr().out.split() == ["reactnet_a", "reactnet_a_el"]


@pytest.mark.parametrize("arguments, note", [
    (["RESNET*"], "no model matches 'RESNET*' (names are lower case)"),
    (["resnet18_el.cifar10"], "no model matches 'resnet18_el.cifar10' (NAME.TAG names "
                              "published weights: add --pretrained)"),
    (["zzz", "--pretrained"], "no published weights match 'zzz'; el-zoo list shows"),
])
def test_list_says_when_nothing_matches_and_why(capsys, arguments, note):
    assert main(["list", *arguments]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and note in captured.err


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


@pytest.mark.parametrize("command", ["convert", "predict"])
def test_a_mistyped_tag_is_answered_with_the_command_lines_advice(command, tmp_path, capsys):
    # before: "Pass a path to an .h5 file, or see el_zoo.list_models(pretrained=True).",
    # Python's advice, and el-zoo takes no weights path; el_zoo.load keeps it
    image = tmp_path / "cat.png"
    image.write_bytes(b"")
    arguments = ["-o", str(tmp_path / "x.tflite")] if command == "convert" else [str(image)]
    assert main([command, "resnet26_el.cifar1", *arguments]) == 2
    assert capsys.readouterr().err == (
        f"el-zoo {command}: error: no published weights 'cifar1' for resnet26_el (published "
        "tags: cifar10). See el-zoo list --pretrained.\n")
    with pytest.raises(ValueError, match=r"\(published tags: cifar10\)\. Pass a path to an "
                                         r"\.h5 file, or see el_zoo\.list_models"):
        load("resnet26_el.cifar1")


def test_convert_writes_a_tflite_file_and_no_fold_keeps_the_links_as_trained(
        tmp_path, capsys, cleared_loads):
    """The folded file is written, and has fewer ops than --no-fold's: one conversion of
    each (two tests ran the same folded conversion, one for each claim)."""
    from el_zoo.convert import tflite_op_names

    small = ["--input-size", "32", "--stem", "cifar", "--classes", "10",
             "--width-multiplier", "0.25"]
    # as_trained's folder does not exist yet: convert creates it, as it writes the file
    folded, as_trained = tmp_path / "folded.tflite", tmp_path / "new" / "as_trained.tflite"
    assert main(["convert", "resnet18_el", "-o", str(folded), *small]) == 0
    out = capsys.readouterr().out.splitlines()  # a name without a tag: said to be untrained
    assert folded.stat().st_size > 0 and "wrote" in out[0]
    assert out[0].endswith("; random weights (untrained): resnet18_el.TAG converts "
                           "published ones (el-zoo list --pretrained)")
    # then what the file takes and gives; no class names are known, so no labels file
    assert out[1].startswith("  input: float32 [1, 32, 32, 3] (batch, height, width, RGB): "
                             "RGB pixels in [0, 255] as decoded, not scaled to [0, 1]")
    assert out[2:] == ["  output: float32 [1, 10]: probabilities of classes 0 to 9 "
                       "(names not known)"]
    assert [p.name for p in tmp_path.iterdir()] == ["folded.tflite"]
    assert main(["convert", "resnet18_el", "-o", str(as_trained), "--no-fold", *small]) == 0
    assert "Elastic-Links as trained" in capsys.readouterr().out
    # resnet18_el's links fold away completely (tests/test_fold.py); as trained they add ops
    assert len(tflite_op_names(as_trained.read_bytes())) > len(
        tflite_op_names(folded.read_bytes()))


def test_convert_of_a_published_model_says_what_its_file_takes_and_writes_its_labels(
        tmp_path, capsys):
    """What a phone app needs beside the file: the input it takes ([0, 255] pixels, which
    [0, 1] ones would silently get wrong) and the class order, printed and written one per
    line beside it (before: only "wrote m.tflite (0.14 MB) ...")."""
    output = tmp_path / "m.tflite"
    assert main(["convert", "resnet26s.cifar10", "-o", str(output), "--no-verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
    assert out[1:] == [
        "  input: float32 [1, 32, 32, 3] (batch, height, width, RGB): RGB pixels in [0, 255] "
        "as decoded, not scaled to [0, 1] nor standardised (the model standardises them itself)",
        f"  output: float32 [1, 10]: probabilities of {', '.join(classes)}, in this order",
        f"  class names, one per line in output order: {tmp_path / 'm.labels.txt'}"]
    assert (tmp_path / "m.labels.txt").read_text().splitlines() == classes


def test_console_script_runs_the_demo(data_dir):
    result = subprocess.run(
        [sys.executable, "-m", "el_zoo.cli", "demo", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "top-1 agreement 100%" in result.stdout
    assert "its float twin's" in result.stdout and "not an ARM latency" in result.stdout
    assert result.stderr == ""  # no cuFFT lines, no "compiled metrics have yet to be built"


class _Stopped(Exception):
    pass


def test_the_demo_prints_the_cost_line_of_el_zoo_info(tmp_path, capsys, monkeypatch):
    # the demo printed its own "0.07M params, ..." line: one format, profile.cost_line
    from el_zoo import demo

    def stop(model):
        raise _Stopped  # the cost line is printed before the conversion

    monkeypatch.setattr(demo, "convert", stop)
    with pytest.raises(_Stopped):
        demo.run_demo(data_dir=tmp_path)  # no CIFAR-10 there: random pixels
    shown = capsys.readouterr().out.splitlines()
    name = demo.list_models(demo.join_name(demo.DEMO_MODEL, "cifar10"), pretrained=True)[0]
    assert main(["info", name]) == 0
    assert shown[1] == "  " + capsys.readouterr().out.splitlines()[1]


class _SteadyInterpreter:
    """Stands in for the LCE interpreter: every predict takes ``seconds`` (12.5 ms) on a
    fake clock."""

    def __init__(self, clock, seconds=0.0125):
        self.clock, self.seconds = clock, seconds
        self.input_shapes, self.input_types = [(1, 32, 32, 3)], ["float32"]

    def predict(self, image):
        self.clock.now += self.seconds


def test_the_demo_times_the_interpreter_as_the_benchmark_does(tmp_path, capsys, monkeypatch):
    # the demo had its own timing loop: el_zoo.benchmark's is the one
    from types import SimpleNamespace

    from el_zoo import benchmark, demo

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock.now)
    seconds = {b"binary": 0.025, b"float": 0.0125}  # the converted model, its float twin
    monkeypatch.setattr(benchmark, "_interpreter",
                        lambda flatbuffer, threads: _SteadyInterpreter(clock, seconds[flatbuffer]))
    monkeypatch.setattr(demo, "convert", lambda model: b"binary")
    monkeypatch.setattr(demo, "float_tflite", lambda model: b"float")
    monkeypatch.setattr(demo, "verify", lambda flatbuffer, model, images: {
        "top1_agreement": 1.0, "max_abs_diff": 0.0, "images": len(images)})
    assert demo.run_demo(data_dir=tmp_path) == 0  # no CIFAR-10 there: random pixels
    # x86 latency as a ratio only: it printed "x86 interpreter latency: 12.50 ms median",
    # an absolute x86 time, which LCE's reference x86 kernels make no ARM figure
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        "x86 latency: 2.00x its float twin's (binarization off; 1 thread, 3 rounds of 10 runs "
        "in turn). LCE has no optimised x86 kernels: an x86 ratio, not an ARM latency or "
        "speed-up.")
    assert " ms" not in out


def test_the_demos_labels_are_the_models_classes_matched_by_folder_name(tmp_path,
                                                                        monkeypatch):
    # a data folder of only cat/ and dog/ was labelled by folder position, so the demo
    # printed "true: airplane" for a cat and scored its top-1 against those labels
    import numpy as np
    from PIL import Image

    from el_zoo.demo import _demo_images

    monkeypatch.setenv("EL_ZOO_CACHE", str(tmp_path / "cache"))
    for i, folder in enumerate(["cat", "dog", "cat", "dog"]):
        (tmp_path / "cifar10" / "test" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), i, np.uint8)).save(
            tmp_path / "cifar10" / "test" / folder / f"{i}.png")
    cifar10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]
    _, labels, _ = _demo_images(tmp_path, cifar10)
    assert [cifar10[label] for label in labels] == ["cat", "dog", "cat", "dog"]
    _, unnamed, _ = _demo_images(tmp_path)  # a model without names: its classes numbered
    assert unnamed.tolist() == [0, 1, 0, 1]


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


def test_benchmark_of_a_tflite_file_with_int8_input_feeds_it_int8(tmp_path, capsys):
    import tensorflow as tf

    from el_zoo.convert import convert
    from tests.conftest import tiny_binary_model

    path = convert(tiny_binary_model(), tmp_path / "int8.tflite", verify_images=0,
                   inference_input_type=tf.int8)
    assert main(["benchmark", str(path), "--runs", "1"]) == 0
    assert f"| {path} |" in capsys.readouterr().out


def test_benchmark_of_a_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["benchmark", str(tmp_path / "missing.tflite")]) == 2
    assert "missing.tflite does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"hello\n"])
def test_benchmark_of_a_file_that_is_not_tflite_is_a_clear_error(tmp_path, capsys, content):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    assert main(["benchmark", str(path), "--runs", "1"]) == 2
    assert f"error: {path} is not a TFLite model ({len(content)} bytes without TFLite's " \
        "file identifier)" in capsys.readouterr().err


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


ANSWERING_SCRIPT = """
import argparse
from el_zoo.benchmark import add_one_option, answer_one
parser = argparse.ArgumentParser()
add_one_option(parser)
answer_one(parser.parse_args().one, lambda options: {"doubled": options["n"] * 2})
"""


def test_a_script_answers_run_in_fresh_process_with_the_benchmark_helpers(tmp_path,
                                                                          monkeypatch):
    from el_zoo.benchmark import run_in_fresh_process
    from tests.conftest import REPO

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # this checkout's el_zoo in the script
    script = tmp_path / "answering.py"
    script.write_text(ANSWERING_SCRIPT)
    assert run_in_fresh_process(script, {"n": 21}) == {"doubled": 42}


def run_el_zoo(*arguments, stdout=subprocess.PIPE):
    """`el-zoo ARGUMENTS` in a fresh process, as a user runs it, on this checkout's el_zoo."""
    from tests.conftest import REPO

    return subprocess.run([sys.executable, "-m", "el_zoo.cli", *arguments], cwd=REPO,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=600)


def test_help_and_the_lists_load_no_tensorflow():
    # The model families register without TensorFlow (their layers load when a model is
    # built), so `el-zoo list` reads the registry without it too.
    code = (
        "import sys\n"
        "from el_zoo.cli import main\n"
        "for argv in (['--help'], ['info', '--help'], ['convert', '--help'],\n"
        "             ['train', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert main(['list', '--pretrained']) == 0\n"
        "assert main(['list']) == 0\n"
        "print(sorted(m for m in ('tensorflow', 'larq', 'tf_keras', 'el_zoo.nets._blocks',\n"
        "                         'training.train') if m in sys.modules))\n"
    )
    result = run_python(code)
    assert "usage: el-zoo convert" in result.stdout
    assert "resnet26_el.cifar10" in result.stdout
    # train: added by the training package (an entry point), with the trainer's own options
    assert "train a model with a recipe" in result.stdout  # listed by el-zoo --help
    assert "usage: el-zoo train [-h] --recipe" in result.stdout
    assert "--elastic-link KEY=VALUE" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


def run_python(code, *options):
    """``python *options -c code`` in a fresh process on this checkout's el_zoo; it must
    succeed."""
    from tests.conftest import REPO

    result = subprocess.run([sys.executable, *options, "-c", code], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_the_registry_and_its_metadata_are_read_without_tensorflow():
    code = (
        "import sys\n"
        "import el_zoo\n"
        "assert 'resnet26_el' in el_zoo.list_models()\n"
        "assert el_zoo.list_models(family='mobilenet_v1', elastic_link=True) == "
        "['mobilenet_v1_el']\n"
        "assert el_zoo.registry.model_info('mobilenet_v1_el').elastic_link == "
        "el_zoo.ElasticLinkOptions(position='after_bn')\n"
        "assert el_zoo.list_models(pretrained=True, elastic_link=True)\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    run_python(code)
    # `el-zoo list` as a user runs it: -X importtime names every module it imports
    imports = run_python("from el_zoo.cli import main; main(['list'])", "-X", "importtime")
    assert "resnet26_el" in imports.stdout.split()
    assert " tensorflow" not in imports.stderr and "el_zoo.nets.resnet" in imports.stderr


def test_list_prints_nothing_on_stderr_and_an_error_still_shows():
    listing = run_el_zoo("list")
    assert listing.returncode == 0 and "resnet26_el" in listing.stdout.split()
    assert listing.stderr == ""  # no cuFFT/cuDNN/cuBLAS registration lines
    unknown = run_el_zoo("info", "resnet27")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("el-zoo info: error: Unknown model 'resnet27'.")
    assert len(unknown.stderr.splitlines()) == 1


@pytest.mark.parametrize("argv, option", [
    (["predict", "m.cifar10", "a.png", "--top", "0"], "--top"),
    (["predict", "m.cifar10", "a.png", "--top", "-2"], "--top"),
    (["predict", "m.cifar10", "a.png", "--top", "two"], "--top"),
    (["evaluate", "m.cifar10", "--limit", "0"], "--limit"),
    (["benchmark", "resnet18", "--runs", "0"], "--runs"),
    (["benchmark", "resnet18", "--rounds", "-1"], "--rounds"),
    (["info", "resnet18", "--input-size", "0"], "--input-size"),
    (["info", "resnet18", "--classes", "1.5"], "--classes"),
    (["info", "resnet18", "--width-multiplier", "0"], "--width-multiplier"),
    (["info", "resnet18", "--width-multiplier", "nan"], "--width-multiplier"),
])
def test_counts_and_sizes_must_be_positive(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"el-zoo {argv[0]}: error: argument {option}: must be a ")
    assert f"above 0; got '{argv[-1]}'" in error


def test_positive_types_accept_positive_numbers():
    from el_zoo.cli import positive_float, positive_int

    assert positive_int("3") == 3 and positive_float("0.25") == 0.25


def test_the_number_rule_takes_numpy_numbers_and_refuses_bools_and_non_finite_ones():
    """el_zoo.arguments: the one rule behind el-zoo's positive types, the builders' width and
    classes, data's counts, evaluate's top, convert's verify_images and the recipes'
    overrides."""
    import numpy as np
    from el_zoo.arguments import is_number, is_positive

    assert is_number(np.float32(0.5)) and is_number(np.int64(3), whole=True)
    assert not is_number(True) and not is_number(True, whole=True)
    assert not is_number(2.0, whole=True) and not is_number("3")
    assert is_positive(np.int64(3), whole=True) and is_positive(0.25)
    assert not any(is_positive(value) for value in (0, -1, math.inf, math.nan, "3", None))


def test_convert_checks_its_output_path_before_building(unwritable_path, monkeypatch, capsys):
    output, message = unwritable_path

    def no_build(args):
        raise AssertionError("built a model before checking the output path")

    monkeypatch.setattr("el_zoo.cli._build", no_build)
    assert main(["convert", "resnet18", "-o", str(output)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("el-zoo convert: error: ") and message in error
    assert len(error.splitlines()) == 1


@pytest.mark.parametrize("output, fix", [
    ("m.h5", "m.tflite"),  # a Keras weights file's name (el-zoo benchmark m.h5 took it for
    ("m", "m.tflite"),     # a model name); no suffix; a NAME.TAG, as el-zoo list shows it
    ("resnet18.cifar10", "resnet18.tflite"),
    ("new/m.h5", "new/m.tflite"),  # its missing folder is not created
])
def test_convert_refuses_an_output_not_named_tflite_before_building(
        output, fix, tmp_path, monkeypatch, capsys):
    # a TFLite flatbuffer was written under whatever name -o gave
    def no_build(args):
        raise AssertionError("built a model before checking the output path")

    monkeypatch.setattr("el_zoo.cli._build", no_build)
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "resnet18", "-o", output]) == 2
    error = capsys.readouterr().err
    assert error == (f"el-zoo convert: error: {output} does not end with .tflite: the file "
                     "written there is a .tflite file, and the tools that read one tell it by "
                     f"that suffix; give a path ending .tflite, e.g. {fix}.\n")
    assert list(tmp_path.iterdir()) == []


def test_benchmark_checks_its_json_path_before_timing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("el_zoo.benchmark.benchmark_model", lambda *a, **k: 1 / 0)
    assert main(["benchmark", "resnet18", "--json", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("error", [
    ValueError("bad value"),
    FileNotFoundError("no such file"),
    PermissionError("cannot write here"),
    IsADirectoryError("a folder"),
    NotADirectoryError("a file"),
])
def test_expected_errors_are_one_line_messages(error, monkeypatch, capsys):
    def fail(args):
        raise error

    monkeypatch.setattr("el_zoo.cli.cmd_list", fail)
    assert main(["list"]) == 2
    assert capsys.readouterr().err == f"el-zoo list: error: {error}\n"


def test_a_conversion_mismatch_is_a_message(monkeypatch, capsys):
    from el_zoo.errors import ConversionMismatch

    def fail(args):
        raise ConversionMismatch("converted model disagrees; pass --no-verify")

    monkeypatch.setattr("el_zoo.cli.cmd_list", fail)
    assert main(["list"]) == 2
    assert "el-zoo list: error: converted model disagrees" in capsys.readouterr().err


def test_ctrl_c_is_a_message(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("el_zoo.cli.cmd_list", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err == "el-zoo list: interrupted\n"


@pytest.mark.parametrize("bug", [KeyError("k"), TypeError("t"), AttributeError("a")])
def test_a_bug_keeps_its_traceback(bug, monkeypatch):
    def fail(args):
        raise bug

    monkeypatch.setattr("el_zoo.cli.cmd_list", fail)
    with pytest.raises(type(bug)):
        main(["list"])


def test_a_closed_output_pipe_is_no_error():
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `el-zoo list --pretrained | head -0`
    try:
        result = run_el_zoo("list", "--pretrained", stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 1 and result.stderr == ""


def test_train_runs_in_this_process_and_its_expected_errors_print_one_line(
        tmp_path, monkeypatch, capsys):
    from training import train
    from training.command import documented_command

    runs = []

    def no_tfds(args):  # what training.train.train raises without tensorflow-datasets
        runs.append(args)
        raise ImportError("reading TFDS data sets needs tensorflow-datasets: pip install "
                          "tensorflow-datasets")

    monkeypatch.setattr(train, "train", no_tfds)
    arguments = ["resnet18", "--recipe", "cifar10", "--output-dir", str(tmp_path / "run"), "--tfds"]
    assert main(["train", *arguments]) == 2
    assert capsys.readouterr().err == ("el-zoo train: error: reading TFDS data sets needs "
                                       "tensorflow-datasets: pip install tensorflow-datasets\n")
    (args,) = runs  # the trainer got the parsed options, in this process
    assert (args.model, args.recipe, args.tfds, args.arguments) == (
        "resnet18", "cifar10", True, arguments)
    assert documented_command(args) == "el-zoo train " + " ".join(arguments)
    assert train.main(arguments) == 2  # python -m training.train: the same
    assert capsys.readouterr().err.startswith("el-zoo train: error: reading TFDS")


def test_only_a_name_without_a_tag_is_said_to_convert_random_weights():
    from el_zoo.cli import _untrained_note

    assert _untrained_note("resnet26_el.cifar10") == ""
    assert "random weights (untrained)" in _untrained_note("resnet26_el")


def _steady_files(tmp_path, monkeypatch, seconds):
    """.tflite files in ``tmp_path`` named as ``seconds``' keys, each timed as taking that
    many seconds per predict on a fake clock; their peak memory 1 MB (no probe process)."""
    from types import SimpleNamespace

    from el_zoo import benchmark

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock.now)
    monkeypatch.setattr(benchmark, "_interpreter", lambda flatbuffer, threads: _SteadyInterpreter(
        clock, seconds[flatbuffer[8:].decode()]))
    monkeypatch.setattr(benchmark, "peak_memory_bytes", lambda flatbuffer, threads=1: 10**6)
    paths = {}
    for name in seconds:
        paths[name] = tmp_path / f"{name}.tflite"
        paths[name].write_bytes(b"\0\0\0\0TFL3" + name.encode())
    return paths


def test_benchmark_of_a_file_against_another_headlines_their_ratio_on_x86(tmp_path, capsys,
                                                                          monkeypatch):
    # a .tflite file was timed alone, its x86 ms printed as its latency: LCE has no
    # optimised x86 kernels, so there it is a ratio to another file's, timed in turns, and
    # the time itself is labelled as this machine's reference-kernel time
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    paths = _steady_files(tmp_path, monkeypatch, {"mine": 0.025, "theirs": 0.0125})
    assert main(["benchmark", str(paths["mine"]), "--against", str(paths["theirs"]),
                 "--runs", "2", "--rounds", "3", "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[0] == (f"| model | size (MB) | latency / {paths['theirs']}'s, 1 thread | "
                       f"latency / {paths['theirs']}'s, 2 threads | 1 thread, median / p90 "
                       "(ms, this machine's reference kernels) | 2 threads, median / p90 "
                       "(ms, this machine's reference kernels) | peak memory (MB) | "
                       "LCE convert (s) |")
    assert rows[1:] == [
        f"| {paths['mine']} | 0.00 | 2.00x | 2.00x | 25.00 / 25.00 | 25.00 / 25.00 | 1.0 | - |",
        f"| {paths['theirs']} | 0.00 | 1.00x | 1.00x | 12.50 / 12.50 | 12.50 / 12.50 | 1.0 | - |"]
    assert "latency_vs_against_1t: 2.000" in out and "Timing: 3 rounds of 2" in out
    assert "not ARM latencies" in out and "--against OTHER" not in out
    results = json.loads((tmp_path / "b.json").read_text())
    assert results["ratios"]["latency_vs_against_2t"] == pytest.approx(2.0)
    assert len(results["against"]["latency_ms_1t"]["round_medians"]) == 3


@pytest.mark.parametrize("machine, hint", [("x86_64", True), ("aarch64", False)])
def test_benchmark_of_a_file_alone_labels_its_time_by_the_machines_kernels(
        tmp_path, capsys, monkeypatch, machine, hint):
    monkeypatch.setattr("platform.machine", lambda: machine)
    paths = _steady_files(tmp_path, monkeypatch, {"mine": 0.025})
    assert main(["benchmark", str(paths["mine"]), "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert ("1 thread, median / p90 (ms, this machine's reference kernels)" in out) == hint
    assert ("For a ratio, time it in turns with another file: --against OTHER.tflite."
            in out) == hint
    assert f"| {paths['mine']} | 0.00 | 25.00 / 25.00 | 25.00 / 25.00 | 1.0 | - |" in out


def test_benchmark_against_goes_with_a_tflite_file_that_exists(tmp_path, capsys):
    assert main(["benchmark", "resnet18", "--against", str(tmp_path / "a.tflite")]) == 2
    assert "--against times a .tflite file against another; resnet18 is a model name" in \
        capsys.readouterr().err
    (tmp_path / "mine.tflite").write_bytes(b"\0\0\0\0TFL3")
    assert main(["benchmark", str(tmp_path / "mine.tflite"), "--against",
                 str(tmp_path / "missing.tflite")]) == 2
    assert "missing.tflite does not exist" in capsys.readouterr().err
