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

commit = sys.argv[1]
md = subprocess.run(["git", "show", f"{commit}:benchmarks/el_vs_plain.md"], capture_output=True, text=True, check=True).stdout
js = json.loads(subprocess.run(["git", "show", f"{commit}:benchmarks/el_vs_plain.json"], capture_output=True, text=True, check=True).stdout)
pair_rows = [l for l in md.split("## Every pair")[1].split("## Runs")[0].splitlines() if l.startswith("| ") and not l.startswith("| model")]
run_lines = [l for l in md.split("## Runs")[1].splitlines() if l.startswith("- ")]
assert len(pair_rows) == len(js["pairs"]) and len(run_lines) == 2 * len(pair_rows)
records = []
for i, (pair, row) in enumerate(zip(js["pairs"], pair_rows)):
    plain_model, el_model, seed, plain_top1, el_top1 = pair
    minutes = [int(x) for x in re.search(r"\| (\d+) / (\d+) min \|", row).groups()]
    for j, (model, top1) in enumerate(((plain_model, plain_top1), (el_model, el_top1))):
        line = run_lines[2 * i + j]
        m = re.match(r"- (\S+) seed (\d+): `(.*)` \(commit (\w+), (.*)\)$", line)
        assert m.group(1) == model and int(m.group(2)) == seed, (line, model, seed)
        argv = shlex.split(m.group(3))
        opt = lambda name, default: type(default)(argv[argv.index(name) + 1]) if name in argv else default
        assert opt("--recipe", "") == "cifar10"
        records.append({
            "model": model, "recipe": "cifar10", "dataset": "cifar10", "eval_split": "test",
            "eval_images": None, "top1": top1, "epochs": opt("--epochs", 16), "seed": seed,
            "train_time_s": 60.0 * minutes[j], "command": m.group(3), "git_commit": m.group(4),
            "date": m.group(5),
            "recipe_config": {"width_multiplier": opt("--width-multiplier", 0.25), "image_size": 32,
                              "batch_size": 128},
            "reconstructed": f"from benchmarks/el_vs_plain.md and .json at {commit[:12]} (generated at "
                             f"{js['git_commit'][:12]}): the run folder was lost with its machine; "
                             "train_time_s is rounded to the minute and git_commit cut to 12 digits there"})
print(json.dumps({"runs": records}, indent=1))
