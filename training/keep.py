"""Keeping a run in progress in the repository, so that it outlasts its machine.

    python -m training.keep RUN_FOLDER runs_in_progress/NAME

A run folder lives on one machine; a segment's end (``--segment-minutes``, or a kill)
leaves it resumable from its newest checkpoint, but only there. This copies what a rerun
of the run's command resumes from into ``runs_in_progress/NAME``, a run folder of its own:

- ``recipe.json`` (what defines the run) and ``training_log.csv``;
- the weights of the stages it finished (``<stage>-weights.h5``);
- each stage's newest checkpoint (``checkpoints/<stage>/latest`` and the ``epoch-NNNN/``
  it names): model *and optimizer* state, its history and segments. So the resume is the
  same as on the first machine, unlike a restart from published weights, whose
  optimizer starts fresh (``training.restart``).

Older checkpoints and TensorBoard logs are left out. Commit the folder. On another machine,
copy it to a run folder and rerun the run's command with ``--output-dir`` there (its
segments record the machine of each):

    cp -r runs_in_progress/NAME /work/runs/out/NAME
    el-zoo train ... --output-dir /work/runs/out/NAME

Keeping again replaces an earlier keep of the same run (git history holds the old one).
When the run has finished, delete its folder here: its results go to ``reports/``
(``training.compare``) or ``models/`` (``training.publish``).

Refused before anything is written: a folder without a run's checkpoint, a finished run
(nothing to resume: compare or publish it), and a destination holding another run.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from training.checkpoints import LATEST_FILE, latest_checkpoint, read_run_record, run_differences
from training.run_folder import (CHECKPOINTS_DIR, LOG_FILE, METRICS_FILE, RECIPE_FILE,
                                 stage_weights_file)


def kept_files(run):
    """The files of ``run`` that a resume reads, relative to it: the record, the log,
    finished stages' weights and each stage's newest checkpoint; an error for a folder that
    holds no resumable run."""
    if (run / METRICS_FILE).is_file():
        raise ValueError(f"{run} holds a finished run ({METRICS_FILE}): there is nothing to "
                         "resume; add it to a report (python -m training.compare) or publish "
                         "it (python -m training.publish) instead.")
    newest = [path for _, path in map(latest_checkpoint, sorted(run.glob(f"{CHECKPOINTS_DIR}/*")))
              if path is not None]
    if not (run / RECIPE_FILE).is_file() or not newest:
        raise ValueError(f"{run} is not a run folder with a checkpoint ({RECIPE_FILE} and "
                         f"{CHECKPOINTS_DIR}/<stage>/{LATEST_FILE}): nothing to keep; give the "
                         "--output-dir of a run that trained at least one epoch.")
    files = [run / RECIPE_FILE, run / LOG_FILE, *run.glob(stage_weights_file("*"))]
    for epoch in newest:
        files += [epoch.parent / LATEST_FILE, *epoch.rglob("*")]
    return [path.relative_to(run) for path in files if path.is_file()]


def check_destination(run, destination):
    """Refuses a ``destination`` that exists and holds anything but an earlier keep of the
    same run (its recipe.json defines the same run)."""
    if not destination.exists():
        return
    record = destination / RECIPE_FILE
    if destination.is_dir() and record.is_file():
        differences = run_differences(read_run_record(destination), read_run_record(run))
        if not differences:
            return
        raise ValueError(f"{destination} keeps another run ({'; '.join(differences)}): give "
                         "a new destination.")
    raise ValueError(f"{destination} exists and is not a kept run: give a new destination.")


def keep(run, destination):
    """Copies the resumable state of ``run`` into ``destination``, replacing an earlier keep
    of the same run whole (written beside it, then renamed); returns the epochs each stage
    reached, {stage: epochs}."""
    run, destination = Path(run), Path(destination)
    files = kept_files(run)
    check_destination(run, destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        for path in files:
            (temporary / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run / path, temporary / path)
        if destination.exists():
            shutil.rmtree(destination)
        temporary.rename(destination)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return {folder.name: latest_checkpoint(folder)[0]
            for folder in sorted(destination.glob(f"{CHECKPOINTS_DIR}/*"))}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.keep", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="the run folder (--output-dir of el-zoo train)")
    parser.add_argument("destination", help="where to keep it: runs_in_progress/NAME")
    args = parser.parse_args(argv)
    try:
        reached = keep(args.run, args.destination)
    except (ValueError, OSError) as error:
        parser.exit(2, f"python -m training.keep: error: {error}\n")
    stages = ", ".join(f"{stage} epoch {epochs}" for stage, epochs in reached.items())
    print(f"kept {args.run} in {args.destination} ({stages}): commit it; to resume, copy it "
          "to a run folder and rerun the run's command with --output-dir there.")


if __name__ == "__main__":
    main()
