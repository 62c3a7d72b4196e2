"""Deployment benchmark of every family: size, latency, memory, conversion time.

For each family at the ImageNet configuration (224x224, 1000 classes) and the CIFAR one
(32x32, cifar stem, 10 classes), converts the EL model and its no-EL twin with LCE and the
float twin with TensorFlow's converter, measures them with el_zoo.benchmark and writes a
Markdown table (and JSON) with the command, commit, machine and date.

    python benchmarks/deploy.py --out benchmarks/deploy.md
"""

import argparse
import json
import time

from el_zoo import benchmark
from el_zoo.atomic import write_text_atomically
from el_zoo.provenance import git_commit, markdown_footer, run_info

FAMILIES = ("resnet18", "resnet26", "mobilenet_v1", "reactnet_a")
CONFIGS = {
    "224": {},
    "32": {"input_shape": (32, 32, 3), "stem": "cifar", "classes": 10},
}


def rows(family, size, results):
    ratios = results["ratios"]
    lines = [benchmark.table_row(results[role], extra_cells=(size,))
             for role in ("model", "no_el", "float")]
    lines.append(
        f"| **{family}_el ratios** | {size} | BNN/float size {ratios['size_vs_float']:.3f} | "
        f"EL latency overhead {100 * ratios['el_latency_overhead_1t']:+.1f} % | "
        f"BNN/float latency {ratios['latency_vs_float_1t']:.2f}x | "
        f"EL size {100 * ratios['el_size_overhead']:+.2f} % | |"
    )
    return lines


def to_markdown(all_results, info, runs, rounds):
    lines = [
        "# Deployment benchmark",
        "",
        f"Every family with Elastic-Link, its no-EL twin and its float twin (binarization "
        f"off, TensorFlow's TFLite converter). Latency: median / p90 over {rounds} rounds of "
        f"{runs} runs after 3 warm-up runs, one image, the three models timed in turn in each "
        "round; a ratio is the median of the per-round ratios. Peak memory: the peak resident "
        "memory that loading and running the model once adds to a fresh process. Random "
        "weights (latency and size do not depend on them).",
        "",
        f"**{benchmark.X86_NOTE.format(machine=info['machine'])}**",
        "",
        "| model | input | size (MB) | 1 thread (ms) | 2 threads (ms) | peak memory (MB) | "
        "LCE convert (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (family, size), results in all_results.items():
        lines += rows(family, size, results)
    lines += markdown_footer(info)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/deploy.md")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--sizes", nargs="*", default=list(CONFIGS))
    args = parser.parse_args()
    started, commit = time.time(), git_commit()
    all_results = {}
    for size in args.sizes:
        for family in args.families:
            print(f"== {family}_el at {size}x{size}", flush=True)
            all_results[(family, size)] = benchmark.benchmark_model(
                f"{family}_el", runs=args.runs, rounds=args.rounds, **CONFIGS[size]
            )
            info = run_info(started, commit)
            write_text_atomically(args.out, to_markdown(all_results, info, args.runs, args.rounds))
            serializable = {f"{f}@{s}": r for (f, s), r in all_results.items()}
            write_text_atomically(args.out.replace(".md", ".json"),
                                  json.dumps({"results": serializable, **info}, indent=1))


if __name__ == "__main__":
    main()
