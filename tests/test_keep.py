"""Keeping a run in progress in the repository (training.keep): the kept folder resumes on
another machine as the run folder would have, optimizer state included."""

import csv
import json
import shutil

import pytest

from training import keep, train


def toy_arguments(data_dir, output):
    """A two-epoch toy run (tests/toy.py) whose first invocation ends after epoch 1."""
    return ["toy_net", "--recipe", "cifar10", "--data-dir", str(data_dir), "--output-dir",
            str(output), "--epochs", "2", "--train-limit", "128", "--eval-limit", "64",
            "--batch-size", "32", "--width-multiplier", "0.125", "--verbose", "0",
            "--segment-minutes", "0"]


def test_a_kept_run_resumes_elsewhere_with_its_optimizer(data_dir, tmp_path, toy_family,
                                                        capsys):
    first = tmp_path / "machine1" / "run"
    assert train.main(toy_arguments(data_dir, first)) == 0
    (first / "logs" / "stray").mkdir(parents=True, exist_ok=True)  # TensorBoard's: not kept
    kept = tmp_path / "repo" / "runs_in_progress" / "toy"
    assert keep.keep(first, kept) == {"main": 1}
    names = sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file())
    assert "recipe.json" in names and "training_log.csv" in names
    assert "checkpoints/main/latest" in names and not any(n.startswith("logs") for n in names)
    assert not [p for p in kept.parent.iterdir() if p.name.startswith(".")]  # no temporary
    assert keep.keep(first, kept) == {"main": 1}  # again: the same run's keep is replaced

    # a destination holding anything else is refused
    other = tmp_path / "other"
    shutil.copytree(kept, other)
    record = json.loads((other / "recipe.json").read_text())
    (other / "recipe.json").write_text(json.dumps({**record, "seed": 7}))
    with pytest.raises(ValueError, match="keeps another run .*--seed: recorded 7, now 0"):
        keep.keep(first, other)
    with pytest.raises(ValueError, match="exists and is not a kept run"):
        keep.keep(first, tmp_path / "machine1")

    # the first machine is gone; the second copies the kept folder and reruns the command
    shutil.rmtree(tmp_path / "machine1")
    second = tmp_path / "machine2" / "run"
    shutil.copytree(kept, second)
    capsys.readouterr()
    assert train.main(toy_arguments(data_dir, second)) == 0
    assert "resuming main after epoch 1" in capsys.readouterr().out
    metrics = json.loads((second / "metrics.json").read_text())
    assert [(s["began_as"], s["epochs"], s["ended_by"]) for s in metrics["segments"]] == [
        ("start", [1, 1], "segment limit"), ("resume", [2, 2], "finished")]
    # Adam's step count went on (4 steps an epoch): the optimizer was kept, not restarted
    assert metrics["restart"] is None and training_iterations(second) == [4, 8]

    # a finished run has nothing to resume: it is refused, and nothing is written
    with pytest.raises(ValueError, match=r"holds a finished run .*\(python -m training.compare\)"):
        keep.keep(second, tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def training_iterations(run):
    """The optimizer's step count at each logged epoch."""
    with open(run / "training_log.csv") as log:
        return [int(row["iterations"]) for row in csv.DictReader(log)]


def test_a_folder_without_a_checkpoint_is_refused_by_the_command(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit) as exit:
        keep.main([str(tmp_path / "run"), str(tmp_path / "kept")])
    assert exit.value.code == 2
    assert ("is not a run folder with a checkpoint (recipe.json and "
            "checkpoints/<stage>/latest): nothing to keep") in capsys.readouterr().err
    assert not (tmp_path / "kept").exists()
