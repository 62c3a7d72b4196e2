"""One-off: the training records of the 26 runs behind benchmarks/el_vs_plain.* as of
COMMIT, rebuilt from that committed report itself (their run folders were lost with the
machine that ran them; training.compare now keeps every record in its JSON).

    python benchmarks/reconstruct_lost_runs.py COMMIT > benchmarks/el_vs_plain_lost_runs.json

Each record holds what training.compare reads. top1 is exact (from the .json), the command,
commit (12 digits), date and training minutes come from the .md; image size 32 and batch 128
are the cifar10 recipe's, which every one of these commands used. Checked: training.compare
on the output alone reproduces the report's tables exactly.
"""

import json
import re
import shlex
import subprocess
import sys

RECIPE_DEFAULTS = {"--epochs": 16, "--width-multiplier": 0.25}  # cifar10 recipe's


def committed(commit, path):
    return subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True,
                          check=True).stdout


def option(argv, name):
    """A command's --name value, or the cifar10 recipe's default (of the same type)."""
    default = RECIPE_DEFAULTS[name]
    return type(default)(argv[argv.index(name) + 1]) if name in argv else default


def records(commit):
    md = committed(commit, "benchmarks/el_vs_plain.md")
    report = json.loads(committed(commit, "benchmarks/el_vs_plain.json"))
    pair_rows = [line for line in md.split("## Every pair")[1].split("## Runs")[0].splitlines()
                 if line.startswith("| ") and not line.startswith("| model")]
    run_lines = [line for line in md.split("## Runs")[1].splitlines() if line.startswith("- ")]
    assert len(pair_rows) == len(report["pairs"]) and len(run_lines) == 2 * len(pair_rows)
    origin = (f"from benchmarks/el_vs_plain.md and .json at {commit[:12]} (generated at "
              f"{report['git_commit'][:12]}): the run folder was lost with its machine; "
              "train_time_s is rounded to the minute and git_commit cut to 12 digits there")
    for i, (pair, row) in enumerate(zip(report["pairs"], pair_rows)):
        plain_model, el_model, seed, plain_top1, el_top1 = pair
        minutes = [int(x) for x in re.search(r"\| (\d+) / (\d+) min \|", row).groups()]
        for j, (model, top1) in enumerate(((plain_model, plain_top1), (el_model, el_top1))):
            found = re.match(r"- (\S+) seed (\d+): `(.*)` \(commit (\w+), (.*)\)$",
                             run_lines[2 * i + j])
            assert found.group(1) == model and int(found.group(2)) == seed, found.group(0)
            argv = shlex.split(found.group(3))
            assert argv[argv.index("--recipe") + 1] == "cifar10", found.group(0)
            yield {
                "model": model, "recipe": "cifar10", "dataset": "cifar10", "eval_split": "test",
                "eval_images": None, "top1": top1, "epochs": option(argv, "--epochs"),
                "seed": seed, "train_time_s": 60.0 * minutes[j], "command": found.group(3),
                "git_commit": found.group(4), "date": found.group(5),
                "recipe_config": {"width_multiplier": option(argv, "--width-multiplier"),
                                  "image_size": 32, "batch_size": 128},
                "reconstructed": origin}


if __name__ == "__main__":
    print(json.dumps({"runs": list(records(sys.argv[1]))}, indent=1))
