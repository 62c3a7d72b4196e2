"""Latency, memory and size of converted models, with their no-EL and float twins.

``benchmark(name)`` converts a registered model with LCE and measures it beside (a) the same
architecture without Elastic-Link and (b) the float model of the same architecture
(binarization off, converted with TensorFlow's own TFLite converter). Ratios are the
headline. LCE has no optimised x86 kernels: latencies measured on x86 are not ARM
latencies, and the report says so.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from el_zoo._tensorflow import CONVERTER_NOISE, stderr_without
from el_zoo.binarization import strip_binarization
from el_zoo.builder import CONFIG_KEYS, load
from el_zoo.model_record import built_config
from el_zoo.convert import convert, serving_saved_model
from el_zoo.pretrained import published_weights
from el_zoo.registry import model_info

X86_NOTE = (
    "Measured on {machine}: LCE has no optimised x86 kernels (binary convolutions run on "
    "reference kernels here), so these latencies are not ARM latencies; use them as ratios."
)
ARM_NOTE = "Measured on {machine}, on LCE's optimised ARM kernels."
# The machines (platform.machine()) on which LCE runs binary convolutions on kernels
# optimised for them: ARM, 64-bit and 32-bit. Anywhere else (x86) its reference kernels run,
# whose times say nothing of a phone's: only ratios of them are reported there.
ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv8l")
# The thread counts ``measure`` times each model on.
THREADS = (1, 2)

# The file identifier every TFLite flatbuffer holds in its bytes 4 to 8.
TFLITE_IDENTIFIER = b"TFL3"

# Peak memory is measured in a fresh process: its peak resident set while loading the model
# and running it once, minus its resident set just before (after the library imports).
# Linux resets the peak counter (VmHWM) when "5" is written to /proc/self/clear_refs.
# The process loads LCE's interpreter extension from its file, without TensorFlow: importing
# it as larq_compute_engine.tflite.python.interpreter_wrapper_lite runs the package's
# __init__, which imports LCE's converter and with it all of TensorFlow (about 5 s per
# probe), while the extension itself needs only the C and C++ runtimes.
_MEMORY_PROBE = """
import importlib.util
import sys
from pathlib import Path

import numpy as np

package = importlib.util.find_spec("larq_compute_engine").submodule_search_locations[0]
(extension,) = Path(package, "tflite", "python").glob("interpreter_wrapper_lite*.so")
spec = importlib.util.spec_from_file_location("interpreter_wrapper_lite", extension)
wrapper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wrapper)
LiteInterpreter = wrapper.LiteInterpreter

def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field + " not in /proc/self/status")

model = open(sys.argv[1], "rb").read()
image = np.zeros([int(d) for d in sys.argv[3].split(",")], sys.argv[4])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_bytes("VmRSS")
interpreter = LiteInterpreter(model, int(sys.argv[2]), False, False, False)
interpreter.predict([image])
print(status_bytes("VmHWM") - before)
"""


def _interpreter(flatbuffer, threads):
    # LCE's interpreter extension: loaded only when a flatbuffer is run
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=threads)


def _zero_input(interpreter):
    """An image of zeros of the interpreter's input shape and type (int8 for a file
    converted with ``inference_input_type=tf.int8``)."""
    return np.zeros(interpreter.input_shapes[0], interpreter.input_types[0])


def interleaved_latency_ms(flatbuffers, threads=1, rounds=5, runs=20, warmup=3):
    """Latency of several models of one input shape, timed in turns.

    Each of ``rounds`` rounds times ``runs`` single-image predictions of every model in
    turn, so a transient slowdown of the machine (seen here: one card's EL overhead read
    +31.6 % once where repeats gave +9 to +13 %) hits every model alike and shows up as one
    odd round, not as a skewed ratio. Returns {role: {"median", "p90", "round_medians"}} in
    ms over all timed runs.
    """
    interpreters = {role: _interpreter(fb, threads) for role, fb in flatbuffers.items()}
    images = {role: _zero_input(i) for role, i in interpreters.items()}
    for role, interpreter in interpreters.items():
        for _ in range(warmup):
            interpreter.predict(images[role])
    times = {role: [] for role in interpreters}
    round_medians = {role: [] for role in interpreters}
    for _ in range(rounds):
        for role, interpreter in interpreters.items():
            this_round = []
            for _ in range(runs):
                started = time.perf_counter()
                interpreter.predict(images[role])
                this_round.append((time.perf_counter() - started) * 1000)
            times[role] += this_round
            round_medians[role].append(float(np.median(this_round)))
    return {role: {"median": float(np.median(times[role])),
                   "p90": float(np.percentile(times[role], 90)),
                   "round_medians": round_medians[role]} for role in interpreters}


def peak_memory_bytes(flatbuffer, threads=1):
    """Peak resident memory that loading and running the model adds, in a fresh process."""
    interpreter = _interpreter(flatbuffer, threads)
    shape = ",".join(str(d) for d in interpreter.input_shapes[0])
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(flatbuffer)
        f.flush()
        result = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, f.name, str(threads), shape,
             np.dtype(interpreter.input_types[0]).name],
            capture_output=True, text=True, timeout=600, check=True,
        )
    return int(result.stdout.strip().splitlines()[-1])


# The option through which run_in_fresh_process hands a script one configuration (as JSON).
ONE_OPTION = "--one"


def run_in_fresh_process(script, options):
    """Run ``python SCRIPT --one JSON(options)`` in a new process; return the JSON object
    printed on its last stdout line.

    Benchmark scripts use this so that each measured configuration gets its own thread
    settings and TensorFlow state (both are fixed per process once TensorFlow starts). The
    script takes the option with ``add_one_option`` and answers with ``answer_one``.
    """
    command = [sys.executable, str(script), ONE_OPTION, json.dumps(options)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{script} {options} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def add_one_option(parser):
    """Adds ``run_in_fresh_process``'s hidden option to a benchmark script's ``parser``: its
    value (``args.one``) is the JSON of the one configuration to measure, or None."""
    parser.add_argument(ONE_OPTION, default=None, help=argparse.SUPPRESS)


def answer_one(one, measure):
    """In the fresh process: measures the configuration ``one`` (``args.one``) with
    ``measure(options)`` and prints the result as the JSON line ``run_in_fresh_process``
    returns.

    Example:
        ```python
        if args.one:
            return answer_one(args.one, timed_fit)
        ```
    """
    print(json.dumps(measure(json.loads(one))))


def set_threads(count):
    """Runs this process's TensorFlow ops on ``count`` threads, within an op and across ops:
    what a benchmark configuration run by ``run_in_fresh_process`` sets first, before
    TensorFlow runs anything (from then on the settings are fixed)."""
    tf.config.threading.set_intra_op_parallelism_threads(count)
    tf.config.threading.set_inter_op_parallelism_threads(count)


def matmul_gflops(size, repeats=10):
    """Float32 matmul GFLOP/s of a ``size`` square matmul on this process's threads: the
    machine's measured peak, which a benchmark times between its windows (a low or spread
    peak says something else ran)."""
    a = tf.random.stateless_normal((size, size), seed=(0, 1))
    b = tf.random.stateless_normal((size, size), seed=(0, 2))
    tf.linalg.matmul(a, b).numpy()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        result = tf.linalg.matmul(a, b)
    result.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def float_twin(model):
    """The same architecture with binarization off (float weights and activations)."""
    return strip_binarization(model)


def float_tflite(model):
    """Converts a float Keras model with TensorFlow's TFLite converter (from its serving
    signature: ``from_keras_model`` gives the same ops and sizes, 3-4x slower)."""
    with serving_saved_model(model) as saved_model_dir, stderr_without(CONVERTER_NOISE):
        return tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert()


def reference_kernels(machine=None):
    """Whether LCE runs binary convolutions on its reference kernels on ``machine``
    (``platform.machine()``; this one by default): everywhere but on ARM."""
    return (machine or platform.machine()).lower() not in ARM_MACHINES


def timing_note(machine=None):
    """What a latency measured on ``machine`` (this one by default) is: not an ARM latency
    on reference kernels."""
    machine = machine or platform.machine()
    return (X86_NOTE if reference_kernels(machine) else ARM_NOTE).format(machine=machine)


def measure(flatbuffers, threads=THREADS, runs=20, rounds=5):
    """Size, latency at each thread count (models interleaved) and peak memory of each
    flatbuffer in ``{role: flatbuffer}``."""
    reports = {role: {"size_bytes": len(fb)} for role, fb in flatbuffers.items()}
    for count in threads:
        timings = interleaved_latency_ms(flatbuffers, count, rounds=rounds, runs=runs)
        for role, timing in timings.items():
            reports[role][f"latency_ms_{count}t"] = timing
    for role, flatbuffer in flatbuffers.items():
        reports[role]["peak_memory_bytes"] = peak_memory_bytes(flatbuffer)
    return reports


def benchmark_model(name, runs=20, rounds=5, weights_from=None, extra=None, **config):
    """Measures a registered model, its no-EL twin and its float twin, timed in turns
    (``rounds`` rounds of ``runs`` runs each). Returns a dict.

    ``weights_from``: a published name (``"mobilenet_v1_el.cifar10"``) whose weights the
    model takes wherever a layer's name and weight shapes match, the rest staying random:
    the converted form of Elastic-Links depends on the signs of trained scales
    (``el_zoo.fold``), which a random initialisation does not have.

    ``extra``: ``{role: (label, build)}``, more models timed in the same rounds:
    ``build(model, no_el)`` makes a Keras model from the model and its no-EL twin (as
    built here); it is converted with LCE like them and gets the ratio
    ``"{role}_latency_vs_no_el_1t"`` (``benchmarks/deploy.py`` times the floor of
    Elastic-Link this way)."""
    info = model_info(name)
    variants = {"model": name}
    if info.has_elastic_link and info.twin is not None:
        variants["no_el"] = info.twin
    results, flatbuffers, built = {}, {}, {}
    model = None
    for role, variant_name in variants.items():  # the model first: its twin is built like it
        variant_config = config if role == "model" else _twin_config(model, config)
        variant = load(variant_name, **variant_config)
        if weights_from is not None and role == "model":
            path = published_weights(weights_from)
            variant.load_weights(str(path), by_name=True, skip_mismatch=True)
        started = time.time()
        # Random weights: latency and size do not depend on them, and an untrained net's
        # exact-zero pre-activations can binarize differently in the two engines, so the
        # parity check belongs to trained weights (and to the tests), not to this timing.
        flatbuffers[role] = convert(variant, verify_images=0)
        results[role] = {"name": variant_name, "convert_s": time.time() - started}
        model = model or variant
        built[role] = variant
    for role, (label, build) in (extra or {}).items():
        started = time.time()
        flatbuffers[role] = convert(build(built["model"], built.get("no_el")), verify_images=0)
        results[role] = {"name": label, "convert_s": time.time() - started}
    flatbuffers["float"] = float_tflite(float_twin(model))
    results["float"] = {"name": f"{info.name} (float)"}
    for role, report in measure(flatbuffers, runs=runs, rounds=rounds).items():
        results[role].update(report)
    results["input_shape"] = list(model.input_shape[1:])
    results["ratios"] = _ratios(results, extra_roles=tuple(extra or ()))
    results["method"] = _method(rounds, runs)
    results["note"] = timing_note()
    return results


def _method(rounds, runs):
    return (f"{rounds} rounds of {runs} single-image runs, the models timed in turn; ratios "
            "are medians of the per-round ratios")


def _twin_config(model, config):
    """The no-EL twin's builder arguments: ``config`` without the Elastic-Link options (the
    twin has no links), completed from ``model`` as it was built. Why: a tag
    (``"resnet18_el.cifar10"``) builds the model at its published input size, width, stem
    and classes, and a twin built from ``config`` alone got the builder's defaults
    (224x224, width 1), so its latency, and the EL overhead, were another model's."""
    twin = {key: value for key, value in config.items() if key != "elastic_link"}
    recorded = built_config(model) or {}
    for key in CONFIG_KEYS:
        if twin.get(key) is None and recorded.get(key) is not None:
            value = recorded[key]
            twin[key] = tuple(value) if key == "input_shape" else value
    return twin


def _median_ratio(results, role, other, threads=1):
    """Median over rounds of (``role``'s round median / ``other``'s round median)."""
    key = f"latency_ms_{threads}t"
    return median_ratio(results[role][key], results[other][key])


def median_ratio(timing, other):
    """Median over rounds of (``timing``'s round median / ``other``'s), two timings of
    ``interleaved_latency_ms``: the latency ratio, robust to a round the machine slowed."""
    return float(np.median(round_ratios(timing, other)))


def round_ratios(timing, other):
    """Each round's (``timing``'s median / ``other``'s), two timings of
    ``interleaved_latency_ms`` timed in the same rounds."""
    return [a / b for a, b in zip(timing["round_medians"], other["round_medians"])]


def _ratios(results, extra_roles=()):
    model, float_model = results["model"], results["float"]
    ratios = {
        "size_vs_float": model["size_bytes"] / float_model["size_bytes"],
        "latency_vs_float_1t": _median_ratio(results, "model", "float"),
    }
    if "no_el" in results:
        ratios["el_latency_overhead_1t"] = _median_ratio(results, "model", "no_el") - 1
        ratios["el_size_overhead"] = model["size_bytes"] / results["no_el"]["size_bytes"] - 1
        for role in extra_roles:
            ratios[f"{role}_latency_vs_no_el_1t"] = _median_ratio(results, role, "no_el")
            ratios[f"model_latency_vs_{role}_1t"] = _median_ratio(results, "model", role)
    return ratios


def benchmark_file(path, runs=20, against=None, rounds=5):
    """Measures one .tflite file: alone, in one round (a file does not say its architecture,
    so it has no twins), or, with ``against`` (another .tflite file), both timed in turns
    over ``rounds`` rounds, with the ratios of their latencies and sizes (the headline on
    x86, where a time alone is no ARM latency)."""
    files = {"model": path, **({"against": against} if against is not None else {})}
    flatbuffers = {role: tflite_bytes(file) for role, file in files.items()}
    rounds = rounds if against is not None else 1
    measured = measure(flatbuffers, runs=runs, rounds=rounds)
    results = {role: {"name": str(file), **measured[role]} for role, file in files.items()}
    if against is not None:
        results["ratios"] = {
            **{f"latency_vs_against_{count}t": _median_ratio(results, "model", "against", count)
               for count in THREADS},
            "size_vs_against": results["model"]["size_bytes"] / results["against"]["size_bytes"],
        }
        results["method"] = _method(rounds, runs)
    results["note"] = timing_note()
    return results


def tflite_bytes(path):
    """The bytes of the .tflite file ``path``; a clear error for a file that is none."""
    flatbuffer = Path(path).read_bytes()
    if flatbuffer[4:8] != TFLITE_IDENTIFIER:
        raise ValueError(
            f"{path} is not a TFLite model ({len(flatbuffer)} bytes without TFLite's file "
            "identifier): give a .tflite file written by el-zoo convert or a TFLite converter."
        )
    return flatbuffer


# The model the latency columns of a table are ratios to: a model's float twin, or the file
# a .tflite file was timed against.
REFERENCE_ROLES = ("float", "against")


def table_header(extra_columns=(), reference=None, absolute=False, machine=None):
    """The header of ``table_row``'s table (its Markdown header and separator lines): a
    column per thread count of latency as a ratio to ``reference`` (a label, e.g. "the
    float twin"; none without one) and, if ``absolute``, of times in ms, labelled as the
    reference kernels' times on ``machine`` (this one by default) where they run."""
    kernels = ", this machine's reference kernels" if reference_kernels(machine) else ""
    columns = ["model", *extra_columns, "size (MB)"]
    if reference is not None:
        columns += [f"latency / {reference}'s, {_threads(count)}" for count in THREADS]
    if absolute:
        columns += [f"{_threads(count)}, median / p90 (ms{kernels})" for count in THREADS]
    columns += ["peak memory (MB)", "LCE convert (s)"]
    return ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]


def _threads(count):
    return f"{count} thread{'s' if count > 1 else ''}"


def table_row(measured, reference=None, extra_cells=(), absolute=False, decimals=1):
    """One Markdown row of ``table_header``'s table: name, extra cells, size, latency as a
    ratio to the ``reference`` model's (timed in the same rounds: the median of the
    per-round ratios and, over several rounds, their range), times in ms if ``absolute``,
    peak memory, conversion time."""
    cells = [measured["name"], *extra_cells, f"{measured['size_bytes'] / 1e6:.2f}"]
    keys = [f"latency_ms_{count}t" for count in THREADS]
    if reference is not None:
        cells += [ratio_cell(round_ratios(measured[key], reference[key])) for key in keys]
    if absolute:
        cells += [f"{measured[key]['median']:.{decimals}f} / {measured[key]['p90']:.{decimals}f}"
                  for key in keys]
    cells += [f"{measured['peak_memory_bytes'] / 1e6:.1f}",
              f"{measured['convert_s']:.0f}" if "convert_s" in measured else "-"]
    return "| " + " | ".join(cells) + " |"


def ratio_cell(ratios):
    """'2.50x (2.31-2.71)': the median of per-round ratios, and their range if it is one."""
    median, low, high = (f"{value:.2f}" for value in (np.median(ratios), min(ratios),
                                                      max(ratios)))
    return f"{median}x" + (f" ({low}-{high})" if low != high else "")


def to_table(results, absolute=False, machine=None):
    """A Markdown table of one benchmark result, its latencies as ratios to the float twin's
    (or to the file a file was timed against); times in ms too where LCE runs its optimised
    ARM kernels (``machine``: this one by default), or if ``absolute`` (a file timed by
    itself: then labelled as reference-kernel times on x86)."""
    reference = next((role for role in REFERENCE_ROLES if role in results), None)
    label = None if reference is None else (
        "the float twin" if reference == "float" else results[reference]["name"])
    absolute = absolute or not reference_kernels(machine)
    lines = table_header(reference=label, absolute=absolute, machine=machine)
    for role in ("model", "no_el", "float", "against"):
        if role in results:
            lines.append(table_row(results[role], reference and results[reference],
                                   absolute=absolute, decimals=2))
    ratios = results.get("ratios", {})
    if ratios:
        lines.append("")
        lines.append(", ".join(f"{k}: {v:.3f}" for k, v in ratios.items()))
        lines.append(f"Timing: {results['method']}.")
    lines.append("")
    lines.append(results["note"])
    return "\n".join(lines)


def to_json(results):
    return json.dumps(results, indent=1)
