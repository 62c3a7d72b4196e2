"""The names of the files in a training run folder (``el-zoo train --output-dir``), written
once: the trainer writes them (``training.train``, ``training.checkpoints``,
``training.logs``) and the readers build their paths from them (``training.restart``,
``training.compare``, ``training.recipe_study``, ``training.cards``, ``training.publish``,
``benchmarks/el_scale.py``). ``training.train``'s docstring tells what each file holds.
A published ``models/<name>.<tag>/`` folder keeps some of them under the same names and adds
its own (``TFLITE_FILE``, ``CARD_FILE``): ``training.publish`` writes those, and
``training.cards`` links them.

It imports nothing, so that the readers which load no TensorFlow (cards, the recipe study,
the comparison) can name a run's files without it; the names are the on-disk format, which
runs already written and the published ``models/<name>.<tag>/`` folders keep.

Example::

    from training.run_folder import METRICS_FILE, stage_weights_file
    metrics = json.loads((run / METRICS_FILE).read_text())
    stage_1 = run / stage_weights_file("stage1")  # run/stage1-weights.h5
"""

RECIPE_FILE = "recipe.json"  # what defines the run; a rerun must match it to resume
METRICS_FILE = "metrics.json"  # written last: a run folder with it is complete
LOG_FILE = "training_log.csv"  # one row per epoch
CURVES_FILE = "training_curves.png"
WEIGHTS_FILE = "weights.h5"  # the final weights
CHECKPOINTS_DIR = "checkpoints"  # checkpoints/<stage>/: a killed run resumes from them
TENSORBOARD_DIR = "logs"  # logs/<stage>/: TensorBoard's

# a published folder's own files (the manifest records their paths)
TFLITE_FILE = "model.tflite"  # the converted model
CARD_FILE = "README.md"  # the model card, which the README's results table links


def stage_weights_file(stage):
    """The name of the weights file at the end of stage ``stage`` (its name in the recipe):
    ``"stage1"`` -> ``"stage1-weights.h5"``. It ends with ``WEIGHTS_FILE``, so the pattern
    ``"*" + WEIGHTS_FILE`` finds a run's stage weights and its final weights alike."""
    return f"{stage}-{WEIGHTS_FILE}"
