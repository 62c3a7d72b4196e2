"""Deployment benchmark of every family: size, latency, memory, conversion time, and op
accounting of Elastic-Link.

For each family at the ImageNet configuration (224x224, 1000 classes) and the CIFAR one
(32x32, cifar stem, 10 classes), converts the EL model (its links folded for deployment,
``el_zoo.fold``) and its no-EL twin with LCE and the float twin with TensorFlow's
converter, measures them with el_zoo.benchmark and writes a Markdown table (and JSON) with
the command, commit, machine and date. The EL models are built with their registered
Elastic-Link defaults, which are those of the published ``FAMILY_el.cifar10`` (a tag is
weights for its model's architecture), and take its weights wherever a layer matches (name
and shape), so the folding sees trained scales.

Floor: beside them, every family's no-EL twin with one float ADD after each binary conv
that has a link in the EL model (``floor_model``), timed in the same rounds: the layout
plus the one op every link needs, however its ``T`` is folded.

Op accounting: for every family's published cifar10 pair, the TFLite ops by type of the
plain model, of the EL model as trained (links converted as they are) and folded (checked
against Keras on real images when ``$EL_ZOO_DATA`` is set) and of the floor, and EL's added
ops per link.
It needs no timing (``--ops-only`` runs only this part).

    python benchmarks/deploy.py --out reports/deploy.md
    python benchmarks/deploy.py --ops-only --out /tmp/deploy_ops.md
    python benchmarks/deploy.py --latency-only --families resnet26 --sizes 32 --rounds 3 \
        --out /tmp/deploy_resnet26.md   # a short comparison of plain, EL folded and floor
    python benchmarks/deploy.py --render   # the report again from its JSON, measuring nothing

Latency is reported as ratios only (to the float twin's, timed in the same rounds): LCE has
no optimised x86 kernels, so an x86 time is no ARM latency. The times stay in the JSON.
"""

import argparse
import collections
import json
import time
from pathlib import Path

from el_zoo import benchmark  # first: it sets TF_USE_LEGACY_KERAS before TensorFlow loads

import tensorflow as tf
from el_zoo._keras import keras
from el_zoo.builder import BN_SUFFIX, link_unit
from el_zoo.layers import ElasticLink
from el_zoo.provenance import (markdown_footer, report_commit_or_exit, report_path, run_info,
                               write_report)
from el_zoo.registry import elastic_link_twin, families, join_name

FAMILIES = tuple(families(include_research=False))
CONFIGS = {
    "224": {},
    "32": {"input_shape": (32, 32, 3), "stem": "cifar", "classes": 10},
}
PUBLISHED_TAG = "cifar10"
# Op accounting: these op types, in this order, then any other in alphabetical order.
OP_ORDER = ("LceBconv2d", "LceQuantize", "LceDequantize", "ADD", "ADD_N", "MUL", "SUB",
            "TILE", "AVERAGE_POOL_2D", "RESHAPE", "MEAN", "CONCATENATION")
OP_ROLES = {"plain": "plain", "el_trained": "EL as trained", "el_folded": "EL folded",
            "floor": "floor"}


def published_el(family):
    return join_name(elastic_link_twin(family), PUBLISHED_TAG)


class SelfAdd(keras.layers.Layer):
    """``y + y`` with ``y = inner(x)``: one float ADD of a tensor of the link's shape.

    The second operand costs no op of its own. A constant of the output's shape would be
    the obvious one, but LCE's converter fuses an ADD of any constant into the binary
    conv's per-channel bias, and the interpreter then refuses the file
    (``NumDimensions(post_activation_bias) != 1``)."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    # No control flow to convert; AutoGraph converting it failed now and then
    # (KeyError: '__class__') with the script loaded by path.
    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=None):
        outputs = self.inner(inputs, training=training)
        return outputs + outputs


def floor_model(linked, plain):
    """The floor of Elastic-Link's deployment cost: ``plain`` (the no-EL twin) with one
    float ADD after each binary conv unit that has a link in ``linked``, nothing else.

    Every link, however its ``T`` is folded, leaves at least this: a float ADD of a
    real-valued tensor to its conv's (batch-normalised) output, which also keeps that
    conv from writing bit-packed output straight into the next binary conv (an
    LceQuantize follows). The tensor it adds must be of the output's shape and must
    cost no op of its own: the floor adds the conv's output to itself (``SelfAdd``),
    an ADD of as many elements that reads one tensor twice instead of two, so if anything
    it is cheaper than the link's. A unit ``NAME`` is ``NAME_conv``, ``NAME_bn`` and its
    link ``NAME_el`` (``el_zoo.nets._blocks.binary_conv_bn``); the ADD goes after
    ``NAME_bn``.

    Example:
        ```python
        floor = floor_model(el_zoo.load("resnet26_el"), el_zoo.load("resnet26"))
        ```
    """
    units = [link_unit(layer.name) for layer in linked.layers if isinstance(layer, ElasticLink)]
    norms = {f"{unit}{BN_SUFFIX}" for unit in units}
    missing = sorted(norms - {layer.name for layer in plain.layers})
    if missing:
        raise ValueError(f"floor_model: {plain.name} has no layers {missing[:3]} for the "
                         f"links of {linked.name}; it must be the twin of the same layout.")

    def clone(layer):
        copy = layer.__class__.from_config(layer.get_config())
        if layer.name not in norms:
            return copy
        return SelfAdd(copy, name=f"{layer.name}_floor")

    floor = keras.models.clone_model(plain, clone_function=clone)
    # clone_model makes new weights; the plain twin's (trained) ones keep the conversion
    # comparable: LCE folds ops whose operands are initial values (e.g. a zero threshold)
    floor.set_weights(plain.get_weights())
    return floor


def rows(family, size, results):
    ratios = results["ratios"]
    roles = [role for role in ("model", "no_el", "floor", "float") if role in results]
    lines = [benchmark.table_row(results[role], results["float"], extra_cells=(size,))
             for role in roles]
    floor = ""
    if "floor_latency_vs_no_el_1t" in ratios:  # reports before the floor have none
        floor = (f" (floor {100 * (ratios['floor_latency_vs_no_el_1t'] - 1):+.1f} %; "
                 f"EL/floor {ratios['model_latency_vs_floor_1t']:.3f})")
    lines.append(
        f"| **{elastic_link_twin(family)} ratios** | {size} | "
        f"BNN/float size {ratios['size_vs_float']:.3f} | "
        f"EL latency overhead {100 * ratios['el_latency_overhead_1t']:+.1f} %{floor} | "
        f"BNN/float latency {ratios['latency_vs_float_1t']:.2f}x | "
        f"EL size {100 * ratios['el_size_overhead']:+.2f} % | |"
    )
    return lines


def latency_markdown(all_results, info, runs, rounds):
    lines = [
        f"Every family with Elastic-Link (folded for deployment), its no-EL twin, the floor "
        "of EL's cost (the no-EL twin with one float ADD after each binary conv that has a "
        "link, its output added to itself: the op every link keeps however it is "
        "folded, and the LceQuantize it forces where the conv fed the next binary conv "
        "bit-packed output) and its float "
        f"twin (binarization off, TensorFlow's TFLite converter). Latency, as a ratio to the "
        f"float twin's: {rounds} rounds of {runs} runs after 3 warm-up runs, one image, the "
        "four models timed in turn in each round; a ratio is the median of the per-round "
        "ratios (in brackets: their range over the rounds). The times are kept in the JSON "
        "beside this report, not reported: on x86 they are no ARM latencies. Peak "
        "memory: the peak resident memory that loading and running the model once adds to a "
        "fresh process. The EL models have the Elastic-Link options of the published "
        f"`FAMILY_el.{PUBLISHED_TAG}` and its weights wherever a layer matches (name and "
        "shape: every layer of mobilenet_v1_el but the 1000-class head; the other families "
        "are published at other widths), random ones elsewhere; latency and size do not "
        "depend on weights, but the folded form of the links depends on the signs of trained "
        "scales.",
        "",
        f"**{benchmark.X86_NOTE.format(machine=info['machine'])}**",
        "",
        *benchmark.table_header(("input",), reference="the float twin"),
    ]
    for (family, size), results in all_results.items():
        lines += rows(family, size, results)
    return lines


def op_counts(flatbuffer):
    """{op type: count} of a TFLite flatbuffer."""
    from el_zoo.convert import tflite_op_names

    return dict(collections.Counter(tflite_op_names(flatbuffer)))


def op_accounting(family, verify_images=8):
    """TFLite op counts of a family's published cifar10 pair: the plain model, the EL model
    as trained and folded (the folded one checked against Keras on ``verify_images``)."""
    import el_zoo
    from el_zoo.convert import convert
    from el_zoo.layers import ElasticLink

    plain = el_zoo.load(join_name(family, PUBLISHED_TAG))
    linked = el_zoo.load(published_el(family))
    return {
        "links": sum(isinstance(layer, ElasticLink) for layer in linked.layers),
        "counts": {
            "plain": op_counts(convert(plain, verify_images=0)),
            "el_trained": op_counts(convert(linked, fold=False, verify_images=0)),
            "el_folded": op_counts(convert(linked, verify_images=verify_images)),
            # no parity to check: the floor computes nothing the models do
            "floor": op_counts(convert(floor_model(linked, plain), verify_images=0)),
        },
    }


def added_per_link(account, role):
    """EL's added TFLite ops per link: (ops of ``role`` - ops of plain) / links."""
    counts = account["counts"]
    return (sum(counts[role].values()) - sum(counts["plain"].values())) / account["links"]


def _ordered_ops(counts):
    present = set().union(*(c for c in counts.values()))
    return [op for op in OP_ORDER if op in present] + sorted(present - set(OP_ORDER))


def ops_markdown(accounts):
    """The op accounting section: a summary and, per family, the ops by type (the floor's
    too where the accounts have it: those written before it do not)."""
    roles = [role for role in OP_ROLES
             if all(role in account["counts"] for account in accounts.values())]
    added = [role for role in ("el_trained", "el_folded", "floor") if role in roles]
    lines = [
        "## Op accounting",
        "",
        f"TFLite ops of the published `{PUBLISHED_TAG}` models (32x32): the plain model, the "
        "EL model with its links converted as trained, and folded (`el_zoo.fold`: BN folded "
        "into the binary conv's output transform, per-channel scales moved into neighbouring "
        "affine ops, sums merged). Added ops per link = (ops of the EL model - ops of the "
        "plain one) / links: the portable measure of what EL costs on any device.",
    ]
    if "floor" in roles:
        lines[-1] += (" The floor is the plain model with one ADD per link and the "
                      "LceQuantize ops those force (`floor_model`), nothing else.")
    titles = {"el_trained": "as trained", "el_folded": "folded", "floor": "floor"}
    columns = ["family", "links", "ops plain", *[OP_ROLES[r] for r in roles[1:]],
               *[f"added per link, {titles[r]}" for r in added]]
    lines += ["", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for family, account in accounts.items():
        totals = [sum(account["counts"][role].values()) for role in roles]
        cells = [elastic_link_twin(family), account["links"], *totals,
                 *[f"{added_per_link(account, role):.2f}" for role in added]]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    for family, account in accounts.items():
        counts = account["counts"]
        lines += ["", f"**{family}** ({account['links']} links)", "",
                  "| op | " + " | ".join(OP_ROLES[role] for role in roles) + " |",
                  "|---|" + "---|" * len(roles)]
        for op in _ordered_ops(counts):
            cells = [str(counts[role].get(op, 0)) for role in roles]
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(latency, accounts, info, runs, rounds):
    lines = ["# Deployment benchmark", ""]
    if latency:
        lines += latency_markdown(latency, info, runs, rounds) + [""]
    if accounts:
        lines += ops_markdown(accounts)
    lines += markdown_footer(info)
    return "\n".join(lines)


def write_deploy_report(out, latency, accounts, info, runs, rounds):
    serializable = {f"{f}@{s}": r for (f, s), r in latency.items()}
    write_report(out, to_markdown(latency, accounts, info, runs, rounds),
                 {"results": serializable, "op_accounting": accounts, **info,
                  "runs": runs, "rounds": rounds})


def render(out, runs, rounds):
    """Rewrites the report ``out`` from the JSON beside it, its measurements as they were,
    in this script's layout: a change in how results are shown needs no new measurement.
    ``runs``: the measured run's (its recorded command's), where the JSON does not record
    it (reports measured before it did); ``rounds`` then comes from the timings."""
    from el_zoo.provenance import json_beside

    measured = Path(json_beside(out))
    if not measured.is_file():
        raise SystemExit(f"no measurements to render: {measured} does not exist. --render "
                         "rewrites a report measured earlier; run without --render to measure.")
    record = json.loads(measured.read_text())
    latency = {tuple(key.split("@")): results for key, results in record["results"].items()}
    info = {key: value for key, value in record.items()
            if key not in ("results", "op_accounting", "runs", "rounds")}
    timed = [len(r["model"]["latency_ms_1t"]["round_medians"]) for r in latency.values()]
    write_deploy_report(out, latency, record["op_accounting"], info, record.get("runs", runs),
                        record.get("rounds", timed[0] if timed else rounds))
    print(f"rewrote {out} from its measurements")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=report_path("deploy.md"),
                        help="another path for a partial run (--families, --sizes, "
                        "--ops-only, --latency-only)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--sizes", nargs="*", default=list(CONFIGS))
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--ops-only", action="store_true",
                      help="only the op accounting (no latency measurement)")
    only.add_argument("--latency-only", action="store_true",
                      help="only the latency measurement (no op accounting)")
    parser.add_argument("--render", action="store_true",
                        help="rewrite the report from its JSON without measuring (give the "
                             "measured run's --runs and --rounds if not the defaults)")
    args = parser.parse_args()
    if args.render:
        return render(args.out, args.runs, args.rounds)
    unknown = sorted(set(args.families) - set(FAMILIES)) + sorted(set(args.sizes) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown families or sizes {unknown}; use families from {FAMILIES} "
                     f"and sizes from {tuple(CONFIGS)}.")
    partial = (args.ops_only or args.latency_only or set(args.families) != set(FAMILIES)
               or set(args.sizes) != set(CONFIGS))
    if partial and Path(args.out).resolve() == Path(report_path("deploy.md")).resolve():
        parser.error("a partial run would replace the full report reports/deploy.md: give "
                     "--out, e.g. --out /tmp/deploy.md")
    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    latency, accounts = {}, {}
    for family in [] if args.latency_only else args.families:
        print(f"== op accounting of {family}", flush=True)
        accounts[family] = op_accounting(family)
    for size in [] if args.ops_only else args.sizes:
        for family in args.families:
            linked = elastic_link_twin(family)  # its defaults: those of its published weights
            print(f"== {linked} at {size}x{size}", flush=True)
            latency[(family, size)] = benchmark.benchmark_model(
                linked, runs=args.runs, rounds=args.rounds,
                weights_from=published_el(family), **CONFIGS[size],
                extra={"floor": (f"{family} + 1 ADD per link (floor)", floor_model)},
            )
    # Written once, at the end: a run stopped part-way leaves the last complete report.
    write_deploy_report(args.out, latency, accounts, run_info(started, commit), args.runs,
                        args.rounds)


if __name__ == "__main__":
    main()
