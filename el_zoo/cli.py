"""The ``el-zoo`` command line: list, info, convert, benchmark, predict, evaluate, demo, and
the commands installed packages add (train, from the training package: see COMMAND_GROUP).

TensorFlow loads only in the commands that need a model: ``el-zoo --help``, ``el-zoo CMD
--help`` and ``el-zoo list --pretrained`` start at once. So the modules that build, convert
or run models are imported inside the commands that use them.
"""

import argparse
import json
import os
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

from el_zoo.arguments import is_positive
from el_zoo.atomic import check_writable, write_text_atomically
from el_zoo.errors import ElZooError
from el_zoo.registry import STEMS, TFLITE_SUFFIX, list_models, split_name

# Errors a user causes and can fix, printed as one line `el-zoo CMD: error: message` (exit 2):
# bad input (ValueError and its subclasses, which el_zoo raises for every bad argument),
# files and network (OSError: FileNotFoundError, PermissionError, IsADirectoryError, a failed
# download's URLError, ...) and el_zoo's own (ElZooError). Anything else is a bug: traceback.
EXPECTED_ERRORS = (ValueError, OSError, ElZooError)

# Subcommands that other installed packages add: each entry point of this group is a function
# that adds one subcommand to el-zoo's subparsers (setup.py registers `train`, from the
# training package). el-zoo reads the group instead of importing those packages, so the
# library depends on none of them: `training` imports el_zoo, never the reverse.
COMMAND_GROUP = "el_zoo.commands"


def positive_int(text):
    """argparse type: a whole number above 0."""
    return _positive(int, text, "a whole number")


def positive_float(text):
    """argparse type: a number above 0."""
    return _positive(float, text, "a number")


def _positive(kind, text, what):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not is_positive(value):  # refuses nan and inf too
        raise argparse.ArgumentTypeError(f"must be {what} above 0; got {text!r}")
    return value


def _config(args):
    kwargs = {"stem": args.stem} if args.stem else {}
    if args.input_size:
        kwargs["input_shape"] = (args.input_size, args.input_size, 3)
    if args.classes:
        kwargs["classes"] = args.classes
    if args.width_multiplier:
        kwargs["width_multiplier"] = args.width_multiplier
    return kwargs


def _build(args):
    from el_zoo.builder import load  # h5py and numpy: not for --help and list

    return load(args.name, **_config(args))


def cmd_list(args):
    names = list_models(args.pattern, pretrained=args.pretrained)
    for name in names:
        print(name)
    if not names:  # as grep: a note, and exit status 1
        print(_no_match(args.pattern, args.pretrained), file=sys.stderr)
        return 1
    return 0


def _no_match(pattern, pretrained):
    """What ``el-zoo list PATTERN`` says when nothing matches, with the likely reason."""
    if pattern is None:
        return f"el-zoo list: no {'published weights' if pretrained else 'model'} yet."
    what = "published weights match" if pretrained else "model matches"
    hints = []
    if pattern != pattern.lower():
        hints.append("names are lower case")
    if "." in pattern and not pretrained:
        hints.append("NAME.TAG names published weights: add --pretrained")
    hint = f" ({'; '.join(hints)})" if hints else ""
    return f"el-zoo list: no {what} {pattern!r}{hint}; el-zoo list shows them all."


def cmd_info(args):
    from el_zoo.profile import cost_line, larq_summary, profile  # imports TensorFlow

    model = _build(args)
    if args.summary:
        larq_summary(model)
    cost = profile(model)
    if args.json:
        print(json.dumps({"name": args.name, "input_shape": model.input_shape[1:], **cost}))
    else:
        print(f"{args.name}: input {model.input_shape[1:]}, {model.output_shape[-1]} classes")
        print(cost_line(cost))
        if cost["el_params"]:
            print(f"Elastic-Link: {cost['el_params']} params, {cost['el_flops']:.3g} FLOPs")
    return 0


def cmd_convert(args):
    # before TensorFlow loads and the model is built
    check_writable(args.output, suffix=TFLITE_SUFFIX)
    from el_zoo.convert import convert  # imports TensorFlow

    started = time.time()
    verify_images = 0 if args.no_verify else 8
    model = _build(args)
    path = convert(model, args.output, verify_images=verify_images, fold=not args.no_fold)
    size = path.stat().st_size
    checked = "not verified" if args.no_verify else "LCE interpreter agrees with Keras"
    links = "; Elastic-Links as trained (not folded)" if args.no_fold else ""
    print(f"wrote {path} ({size / 1e6:.2f} MB) in {time.time() - started:.0f} s; {checked}{links}"
          f"{_untrained_note(args.name)}")
    _print_deployment(path, model)
    return 0


def _print_deployment(path, model):
    """What the written file takes and gives, and where its class names are: what whoever
    runs it on a phone needs (pixels scaled to [0, 1] would give wrong answers silently)."""
    from el_zoo.convert import io_description, labels_path

    labels = labels_path(path)
    names = labels.read_text(encoding="utf-8").splitlines() if labels.is_file() else None
    for line in io_description(path.read_bytes(), model, names):
        print(f"  {line}")
    if names is not None:
        print(f"  class names, one per line in output order: {labels}")


def _untrained_note(name):
    """What ``convert`` adds for a name without a weight tag: its file holds random weights,
    which its one line did not say (``el-zoo convert resnet26_el`` read as the published
    model's file)."""
    if split_name(name)[1] is not None:
        return ""
    return (f"; random weights (untrained): {name}.TAG converts published ones "
            "(el-zoo list --pretrained)")


def cmd_benchmark(args):
    is_file = args.name.endswith(TFLITE_SUFFIX)
    _check_benchmark_files(args, is_file)  # before minutes of timing
    if args.json:
        check_writable(args.json)
    from el_zoo import benchmark  # imports TensorFlow

    if is_file:
        results = benchmark.benchmark_file(args.name, runs=args.runs, against=args.against,
                                           rounds=args.rounds)
    else:
        results = benchmark.benchmark_model(args.name, runs=args.runs, rounds=args.rounds,
                                           **_config(args))
    # a file timed alone has no ratio to give: its time, labelled as what it is on x86
    print(benchmark.to_table(results, absolute=is_file))
    if is_file and args.against is None and benchmark.reference_kernels():
        print(f"For a ratio, time it in turns with another file: --against OTHER{TFLITE_SUFFIX}.")
    if args.json:
        write_text_atomically(args.json, benchmark.to_json(results))
        print(f"wrote {args.json}")
    return 0


def _check_benchmark_files(args, is_file):
    """The files ``el-zoo benchmark`` times exist; ``--against`` goes with a .tflite file."""
    if args.against is not None and not is_file:
        raise ValueError(f"--against times a {TFLITE_SUFFIX} file against another; {args.name} "
                         "is a model name, timed against its no-EL and float twins: give "
                         f"NAME as a {TFLITE_SUFFIX} file, or leave out --against.")
    paths = ([args.name] if is_file else []) + ([args.against] if args.against else [])
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist.")


def cmd_predict(args):
    from el_zoo.evaluate import predict  # imports TensorFlow

    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"image file(s) not found: {', '.join(missing)}")
    for path, top in zip(args.images, predict(args.name, args.images, top=args.top)):
        print(f"{path}: " + ", ".join(f"{name} {p:.1%}" for name, p in top))
    return 0


def cmd_evaluate(args):
    from el_zoo.evaluate import evaluate  # imports TensorFlow

    if split_name(args.name)[1] is None:
        raise ValueError(f"evaluate needs a published NAME.TAG (see el-zoo list --pretrained); "
                         f"got {args.name!r}.")
    result = evaluate(args.name, data_dir=args.data_dir, limit=args.limit,
                      skip_bad_images=args.skip_bad_images)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.name}: top-1 {result['top1']:.2%}, top-5 {result['top5']:.2%} on "
              f"{result['images']} images of {result['dataset']} {result['split']}")
    return 0


def cmd_demo(args):
    from el_zoo.demo import run_demo  # imports TensorFlow

    return run_demo(data_dir=args.data_dir)


def _add_model_options(parser):
    parser.add_argument(
        "name", help="a registered model, e.g. resnet26_el or resnet26_el.cifar10 "
        "(see el-zoo list); for benchmark also a .tflite file"
    )
    parser.add_argument("--input-size", type=positive_int, default=None,
                        help="square input size")
    parser.add_argument("--stem", choices=STEMS, default=None)
    parser.add_argument("--classes", type=positive_int, default=None)
    parser.add_argument("--width-multiplier", type=positive_float, default=None)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="el-zoo", description="Elastic-Link binarized neural networks (el_zoo)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list registered models")
    listing.add_argument("pattern", nargs="?", default=None, help="shell pattern, e.g. '*_el'")
    listing.add_argument("--pretrained", action="store_true", help="list published weights")
    listing.set_defaults(run=cmd_list)

    info = commands.add_parser("info", help="architecture summary, params and OPs")
    _add_model_options(info)
    info.add_argument("--summary", action="store_true", help="print Larq's per-layer summary")
    info.add_argument("--json", action="store_true", help="print the cost as JSON")
    info.set_defaults(run=cmd_info)

    conv = commands.add_parser("convert", help="convert to TFLite with Larq Compute Engine")
    _add_model_options(conv)
    conv.add_argument("-o", "--output", required=True, help="output .tflite file")
    conv.add_argument("--no-verify", action="store_true",
                      help="skip the Keras-vs-interpreter check on 8 images")
    conv.add_argument("--no-fold", action="store_true",
                      help="convert the Elastic-Links as trained instead of folding them into "
                           "their neighbours for deployment (same outputs, more ops)")
    conv.set_defaults(run=cmd_convert)

    bench = commands.add_parser(
        "benchmark", help="latency, memory and size, with the no-EL and float twins"
    )
    _add_model_options(bench)
    bench.add_argument("--runs", type=positive_int, default=20,
                       help="timed runs per round, after 3 warm-up runs")
    bench.add_argument("--rounds", type=positive_int, default=5,
                       help="rounds in which the model, its no-EL twin and its float twin are "
                            "timed in turn (ratios are medians of per-round ratios); a .tflite "
                            "file is timed in one round, or in these with --against")
    bench.add_argument("--against", metavar=f"OTHER{TFLITE_SUFFIX}", default=None,
                       help=f"with a {TFLITE_SUFFIX} file: time it and OTHER in turns and give "
                            "the ratio of their latencies (on x86, where LCE has no optimised "
                            "kernels, a time alone is no ARM latency)")
    bench.add_argument("--json", default=None, help="also write the results as JSON here")
    bench.set_defaults(run=cmd_benchmark)

    pred = commands.add_parser("predict", help="top-5 classes of image files")
    pred.add_argument("name", help="a published model, e.g. resnet26_el.cifar10")
    pred.add_argument("images", nargs="+", help="image files")
    pred.add_argument("--top", type=positive_int, default=None,  # None: predict's default
                      help="how many classes to print")
    pred.set_defaults(run=cmd_predict)

    ev = commands.add_parser("evaluate", help="re-measure a published model's accuracy")
    ev.add_argument("name", help="a published model, e.g. resnet26_el.cifar10")
    ev.add_argument("--data-dir", default=None, help="data root (default: $EL_ZOO_DATA)")
    ev.add_argument("--limit", type=positive_int, default=None, help="only this many images")
    ev.add_argument("--skip-bad-images", action="store_true",
                    help="leave out unreadable image files with a warning")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=cmd_evaluate)

    demo = commands.add_parser("demo", help="build, convert and check a model end to end")
    demo.add_argument("--data-dir", default=None, help="data root (default: $EL_ZOO_DATA)")
    demo.set_defaults(run=cmd_demo)
    _add_installed_commands(commands)
    return parser


def _add_installed_commands(commands):
    """Adds the subcommands that installed packages register in COMMAND_GROUP."""
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda entry: entry.name):
        entry.load()(commands)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.arguments = argv[1:]  # the command's own arguments as typed (train records them)
    return run_command(args)


def run_command(args):
    """Runs a parsed command, ``args.run(args)``, and returns its exit code: an expected
    error prints as one line ``el-zoo COMMAND: error: message`` (2), Ctrl-C as ``el-zoo
    COMMAND: interrupted`` (130). ``python -m training.train`` runs through it too.

    Example:
        ```python
        args = build_parser().parse_args(["list", "*_el"])
        exit_code = run_command(args)
        ```
    """
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # the reader stopped early (`el-zoo list | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no 2nd error at exit
        return 1
    except EXPECTED_ERRORS as error:
        # the command line's own advice when the error has one (with_command_line_message)
        message = getattr(error, "cli_message", error)
        print(f"el-zoo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"el-zoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
