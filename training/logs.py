"""The training log of a run: ``training_log.csv`` (one row per epoch), TensorBoard logs
(``logs/<stage>/``) and ``training_curves.png``."""

import csv

import numpy as np
from el_zoo.atomic import atomic_path

from training.run_folder import TENSORBOARD_DIR

# epoch_time_s is wall time, without the paused_s seconds the process sat stopped
# (training.pauses; in logs written before paused_s, pauses are in it and paused_s is
# empty); elapsed_s is the run's, without its epochs' paused_s (wall_time_of); epoch_cpu_s
# the process's CPU time (all its threads) over the epoch, what it cost whatever else ran
# beside it (empty in older logs).
LOG_COLUMNS = ("stage", "epoch", "loss", "top1", "top5", "val_loss", "val_top1", "val_top5",
               "lr", "img_per_s", "epoch_time_s", "epoch_cpu_s", "paused_s", "elapsed_s",
               "iterations")


def write_csv(path, rows):
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def epochs_of(rows, done=None):
    """The epochs the weights of epoch rows ``rows`` (the run's, in order) were trained,
    over all stages: the sum of each stage's last epoch. It is the rows' count, but for a
    run restarted from a bare weights file, whose rows start after the epoch it continued
    at (``training.restart``); ``done`` ({stage: epochs}) counts stages a restart took as
    done where no row of theirs is there (a source without a log, or a weights file)."""
    last = dict(done or {})
    for row in rows:
        last[row["stage"]] = row["epoch"]
    return sum(last.values())


def paused_of(rows):
    """The seconds a run's epoch rows sat stopped (their ``paused_s``, which their times
    leave out); None if a row was logged before pauses were (its time includes them)."""
    if any(row.get("paused_s") is None for row in rows):
        return None
    return sum(row["paused_s"] for row in rows)


def wall_time_of(rows):
    """A run's wall time over its epoch rows (all stages and segments, in order): the last
    row's ``elapsed_s`` with its epochs' ``paused_s`` put back (a row logged before pauses
    were has none: its pauses are in ``elapsed_s``).

    Example:
        ```python
        wall_time_of([{"elapsed_s": 100.0, "paused_s": None},
                      {"elapsed_s": 190.0, "paused_s": 30.0}])  # 220.0
        ```
    """
    return round(rows[-1]["elapsed_s"] + sum(row.get("paused_s") or 0.0 for row in rows), 1)


def read_rows(path):
    """The epoch rows of a ``training_log.csv`` with their values typed as the run recorded
    them (numbers; an empty cell None): what cards, curves, the recipe study and a
    restart read."""
    whole = ("epoch", "iterations")

    def typed(column, text):
        if column == "stage" or text is None:
            return text
        if text == "":
            return None
        return int(text) if column in whole else float(text)

    with open(path, newline="") as f:
        return [{column: typed(column, row.get(column)) for column in LOG_COLUMNS}
                for row in csv.DictReader(f)]


def plot_curves(csv_path, png_path):
    """Loss and top-1 per epoch (train and eval) from the CSV log, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(csv_path)
    x = np.arange(1, len(rows) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in ((left, "loss"), (right, "top1")):
        for prefix, label in (("", "train"), ("val_", "eval")):
            values = [np.nan if r[prefix + metric] is None else r[prefix + metric]
                      for r in rows]
            axis.plot(x, values, marker=".", label=label)
        axis.set_xlabel("epoch (all stages)")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    with atomic_path(png_path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)


def tensorboard_callback(output, stage):
    """The Keras callback that writes a stage's TensorBoard logs into ``output/logs/<stage>``."""
    # imported here: cards and the recipe study read the CSV log without TensorFlow
    from el_zoo._keras import keras

    return keras.callbacks.TensorBoard(str(output / TENSORBOARD_DIR / stage), write_graph=False)
