"""Publishes a finished training run as ``models/<name>.<tag>/``: measures its weights, copies
its files, writes its metrics.json and the manifest, and has ``training.cards`` rewrite the
model cards and the README's results table. Every number in a card is measured here or by the
training run; nothing is typed by hand.

    python -m training.publish /path/to/run --tag cifar10
    python -m training.publish models/resnet26_el.cifar10   # re-measure a published model
    python -m training.publish --regenerate   # cards, manifest, README table from metrics.json
    python -m training.publish models/resnet26_el.cifar10 --record-predictions

Given a published folder instead of a run, it re-measures the same weights at the current
commit (after a change to how something is measured) and keeps their training record.
``--record-predictions`` adds only the per-image predictions to a model published before
they were recorded, and changes nothing else.

Measures: top-1/top-5 on the full evaluation split (re-measured from the saved weights) and
each image's top-1 class (recorded as ``eval_predictions.npy``, which the tests check the
published weights against on a subset, instead of re-measuring the whole split), the
LCE conversion and its agreement with Keras on 100 evaluation images, params and OPs, and
x86 latency ratios (model vs its no-EL twin vs its float twin; LCE has no optimised x86
kernels, so these are ratios on this machine, not ARM figures). A card's EL-minus-plain
verdict also reads the seed means in ``reports/el_vs_plain.json`` (``training.compare``),
so rerun ``--regenerate`` after adding seeds there.

Publishing into the repository's ``models/`` records the commit it measured at, which must be
one anyone can check out: from a work tree with uncommitted changes it is refused before
anything is read or measured (``publish_commit``); elsewhere (``--models-dir /tmp/models``)
a dirty tree is allowed, and the repository's README is left alone (``readme_to_update``).
"""

import argparse
import importlib.util
import json
import shlex
import shutil
import time
from pathlib import Path

import el_zoo
import numpy as np
from el_zoo import benchmark, data
from el_zoo.atomic import atomic_path, write_text_atomically
from el_zoo.convert import convert, verify
from el_zoo.evaluate import evaluate
from el_zoo.hub import DEFAULT_BASE_URL, sha256_of
from el_zoo.pretrained import MANIFEST_NAME, MODELS_FOLDER, manifest_json
from el_zoo.provenance import REPOSITORY, report_commit, report_commit_or_exit, run_info
from el_zoo.registry import join_name, model_info, split_name

from training import cards
from training.compare import is_published, read_metrics
from training.recipes import recipe_preprocessing, recorded_elastic_link
from training.release import verified_files
from training.run_folder import (CARD_FILE, CURVES_FILE, LOG_FILE, METRICS_FILE, TFLITE_FILE,
                                 WEIGHTS_FILE)

# A published folder keeps these files of its run under their names in the run folder: the
# one list of them, which publish() checks before measuring (missing_copied_files) and copies.
COPIED = (WEIGHTS_FILE, LOG_FILE, CURVES_FILE)
# Each evaluation image's top-1 class index, in el_zoo.data.split_files' order (NumPy .npy,
# an integer array, no pickle).
PREDICTIONS = "eval_predictions.npy"
# How far a re-measured top-1 may lie from a recorded one (a fraction): trained binarized
# nets hold values within float rounding of zero, whose sign CPUs' kernels may take otherwise.
TOP1_TOLERANCE = 0.005


def argument_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?",
                        help="a finished el-zoo train output folder, or a published "
                             "models/<name>.<tag> folder to re-measure")
    parser.add_argument("--tag", help="weight tag, e.g. cifar10 (a published folder's own tag "
                                      "if omitted)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--regenerate", action="store_true",
                      help="only rewrite every card, the manifest and the README table from "
                           "the published metrics.json files (after a template change)")
    mode.add_argument("--record-predictions", action="store_true",
                      help=f"only add {PREDICTIONS} (each evaluation image's top-1) to the "
                           "published folder given, and list it in the manifest; refused if "
                           "their accuracy is not the card's top-1")
    parser.add_argument("--models-dir", default=str(REPOSITORY / MODELS_FOLDER))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--readme", default=None,
                        help="the README whose results table lists the published models "
                             "(default: the repository's README.md when --models-dir is the "
                             "repository's models/, none otherwise; '' for none)")
    parser.add_argument("--runs", type=int, default=30, help="timed interpreter runs")
    return parser


def parse_args(argv=None, parser=None):
    args = (parser or argument_parser()).parse_args(argv)
    args.readme = readme_to_update(args.readme, args.models_dir)
    return args


def readme_to_update(readme, models_dir):
    """The README whose results table publishing into ``models_dir`` rewrites: ``readme``
    when given ('' for none); by default the repository's own only for its ``models/``
    (publishing into /tmp/models to try a change rewrote the repository's table with the
    models of /tmp/models alone, and that README's changes do not count as dirty)."""
    if readme is not None:
        return readme
    repository_models = (REPOSITORY / MODELS_FOLDER).resolve()
    return str(REPOSITORY / "README.md") if Path(models_dir).resolve() == repository_models \
        else ""


def publish_commit(args, parser=None):
    """The commit that publishing into ``args.models_dir`` records, read before anything is
    (``el_zoo.provenance.report_commit``): into the repository's ``models/`` only from a
    clean work tree, as into ``reports/``, since a card "measured at commit ...+dirty"
    cannot be rerun. Refused with a ValueError naming the fix, or with ``parser``'s one-line
    error (exit 2) when given. What publishing itself writes (``models/``, the README's
    results table) does not count as a change, so that the second model of a pair
    published from one clean tree records the first one's commit (before, the README's
    new row made it "+dirty"). ``main`` asks it only to publish or re-measure:
    ``--regenerate`` and ``--record-predictions`` record no commit."""
    readme = Path(args.readme).resolve() if args.readme else None
    written = [MODELS_FOLDER, *([str(readme.relative_to(REPOSITORY))]
                             if readme and readme.is_relative_to(REPOSITORY) else [])]
    where = {"out": args.models_dir, "option": "--models-dir", "folder": MODELS_FOLDER,
             "ignore": tuple(written)}
    return report_commit_or_exit(parser, **where) if parser else report_commit(**where)


def preprocessing(training):
    """The preprocessing of training record ``training``'s run (``recipe_preprocessing``)."""
    return recipe_preprocessing(training["recipe_config"])


def model_config(training):
    """What ``el_zoo.load`` needs to rebuild the run's model: the builder configuration, plus
    every Elastic-Link option the run trained with, for a model with Elastic-Link (the
    manifest records them; loading checks the weights against them)."""
    config = dict(training["config"])
    options = recorded_elastic_link(training["model"], training.get("recipe_config", {}))
    if options is not None:
        config["elastic_link"] = options.as_dict()
    return config


def run_model(run_dir, training):
    """(model with the weights of ``run_dir``, the configuration it was built with)."""
    config = model_config(training)
    build = {**config, "input_shape": tuple(config["input_shape"])}
    model = el_zoo.load(training["model"], weights=str(Path(run_dir) / WEIGHTS_FILE), **build)
    return model, build


def evaluated(model, training, data_dir):
    """(top-1/top-5 record, per-image top-1 predictions) of ``model`` on the run's whole
    evaluation split, from one pass: the predictions are what the top-1 counts."""
    pre = preprocessing(training)
    evaluation = evaluate(model, dataset=training["dataset"], split=training["eval_split"],
                          data_dir=data_dir, resize=pre["resize"], crop=pre["crop"],
                          predictions=True)
    return evaluation, evaluation.pop("predictions")


def check_reproduces(evaluation, top1, whose):
    """Refuses a re-measured ``evaluation`` whose top-1 is not the recorded ``top1``."""
    if abs(evaluation["top1"] - top1) > TOP1_TOLERANCE:
        raise ValueError(f"re-measured top-1 {evaluation['top1']:.4f} differs from {whose} "
                         f"{top1:.4f}: the weights do not reproduce.")


def measure(run_dir, training, args):
    """Every publish-time measurement of a run's final weights: (.tflite, per-image
    predictions, measurements)."""
    model, build = run_model(run_dir, training)
    pre = preprocessing(training)
    evaluation, predictions = evaluated(model, training, args.data_dir)
    images, _, _ = data.load_split(training["dataset"], training["eval_split"],
                                   data_dir=args.data_dir, image_size=pre["resize"], limit=100)
    images = data.center_crop_batch(images, pre["crop"])
    started = time.time()
    flatbuffer = convert(model, verify_images=0, fold=True)  # the card says so (tflite_form)
    convert_s = time.time() - started
    parity = verify(flatbuffer, model, images.astype(np.float32))
    cost = el_zoo.profile(model)
    timing = benchmark.benchmark_model(training["model"], runs=args.runs, **build)
    return flatbuffer, predictions, {
        "evaluation": evaluation,
        "parity": parity,
        "cost": {k: cost[k] for k in ("params", "binary_params", "float_params", "size_mb",
                                      "bops", "flops", "ops", "el_params", "el_flops")},
        "tflite": {"bytes": len(flatbuffer), "convert_s": round(convert_s, 1)},
        "x86_latency": {"ratios": timing["ratios"], "note": timing["note"],
                        "method": timing["method"],
                        "median_ms_1t": timing["model"]["latency_ms_1t"]["median"]},
        "preprocessing": pre,
    }


def update_manifest(models_dir, name, published):
    manifest = manifest_json(models_dir)
    manifest["base_url"] = manifest.get("base_url", DEFAULT_BASE_URL)
    t, pre = published["training"], published["preprocessing"]
    manifest["models"][name] = {
        "weights": f"{name}/{WEIGHTS_FILE}", "tflite": f"{name}/{TFLITE_FILE}",
        "config": model_config(t), "dataset": t["dataset"], "eval_split": t["eval_split"],
        "resize": pre["resize"], "crop": pre["crop"],
        "class_names": data.readable_class_names(t["classes"]),
    }
    for path in sorted((Path(models_dir) / name).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            list_file(manifest, models_dir, f"{name}/{path.name}")
    write_manifest(models_dir, manifest)


def list_file(manifest, models_dir, relative):
    """Records the size and sha256 of published file ``relative`` in ``manifest``."""
    path = Path(models_dir) / relative
    manifest["files"][relative] = {"sha256": sha256_of(path), "size": path.stat().st_size}


def write_manifest(models_dir, manifest):
    manifest["models"] = dict(sorted(manifest["models"].items()))
    manifest["files"] = dict(sorted(manifest["files"].items()))
    write_text_atomically(Path(models_dir) / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def write_predictions(path, predictions):
    """Saves per-image predictions as ``.npy``, atomically and without pickle."""
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        np.save(f, np.asarray(predictions), allow_pickle=False)


def read_predictions(path):
    """The per-image predictions ``write_predictions`` saved: a 1-D integer array."""
    predictions = np.load(path, allow_pickle=False)
    if predictions.ndim != 1 or predictions.dtype.kind not in "iu":
        raise ValueError(f"{path} holds a {predictions.dtype} array of shape "
                         f"{predictions.shape}, not one class index per image.")
    return predictions


def training_record(run_dir, tag):
    """(training record, tag) of a finished run folder, or of a published model folder,
    whose metrics.json keeps the record of the run that made its weights under "training"."""
    metrics = read_metrics(run_dir)
    if is_published(metrics):
        published_tag = split_name(metrics["name"])[1]
        if tag not in (None, published_tag):
            raise ValueError(f"{run_dir} is published as {metrics['name']}: re-measure it "
                             f"without --tag or with --tag {published_tag}.")
        return metrics["training"], published_tag
    if not tag:
        raise ValueError(f"{run_dir} is a training run: give its weight tag, e.g. --tag cifar10.")
    return metrics, tag


def check_default_elastic_link(training):
    """A tag is weights for its model's architecture (``el_zoo.load("X.tag")`` builds
    ``load("X")``): a run trained with other Elastic-Link options than its model's defaults
    is refused before minutes of measuring."""
    options = recorded_elastic_link(training["model"], training["recipe_config"])
    defaults = model_info(training["model"]).elastic_link
    if options != defaults:
        raise ValueError(
            f"{training['model']} was trained with Elastic-Link options other than its "
            f"defaults ({options.text(defaults)}); its weights would not fit "
            f"el_zoo.load('{training['model']}'): publish a run with the model's defaults, "
            "or register a model whose defaults these are.")


def copied_file_remedy(run_dir, file_name):
    """How to bring back ``file_name`` of ``COPIED``, missing or empty in ``run_dir``."""
    if file_name == CURVES_FILE:
        log = Path(run_dir) / LOG_FILE
        if log.is_file() and log.stat().st_size:
            code = (f"from training.logs import plot_curves; plot_curves("
                    f"{json.dumps(str(log))}, {json.dumps(str(Path(run_dir) / CURVES_FILE))})")
            first = "" if importlib.util.find_spec("matplotlib") else \
                "pip install 'el_zoo[plot]' (matplotlib), then "
            return (f"el-zoo train draws it from {LOG_FILE} when matplotlib is installed; "
                    f"draw it now: {first}python -c {shlex.quote(code)}")
        return f"it is drawn from {LOG_FILE} (training.logs.plot_curves): bring that back first"
    return ("el-zoo train wrote it into the run folder: copy it back from where the run was "
            "trained, or from the published folder it came from")


def missing_copied_files(run_dir):
    """Each file of ``COPIED`` that ``run_dir`` lacks or holds empty, with how to bring it
    back, as one line; "" when all are there."""
    problems = []
    for file_name in COPIED:
        path = Path(run_dir) / file_name
        if not path.is_file() or path.stat().st_size == 0:
            state = "is empty" if path.is_file() else "is missing"
            problems.append(f"{file_name} {state} ({copied_file_remedy(run_dir, file_name)})")
    return "; ".join(problems)


def publishable(args):
    """(run folder, training record, tag) of ``args.run_dir`` once it is known to publish: a
    finished run (or a published folder) evaluated on the whole split, with its model's
    Elastic-Link defaults and every file ``COPIED`` there, checked before a model is built
    or measured (minutes); else a ValueError saying what to do."""
    run_dir = Path(args.run_dir)
    training, tag = training_record(run_dir, args.tag)
    if training.get("eval_images"):
        raise ValueError(f"{run_dir} was evaluated on a subset ({training['eval_images']} "
                         "images): publish only runs evaluated on the whole split.")
    check_default_elastic_link(training)
    missing = missing_copied_files(run_dir)
    if missing:
        raise ValueError(f"cannot publish {run_dir}: {missing}. Nothing was measured or "
                         "written.")
    return run_dir, training, tag


def publish(args, checked=None, commit=None):
    """Publishes run ``args.run_dir`` (``checked``: what ``publishable`` returned for it,
    ``commit``: what ``publish_commit`` gave; else they are read here, each refusal a
    ValueError)."""
    started = time.time()
    run_dir, training, tag = checked or publishable(args)
    commit = commit or publish_commit(args)
    name = join_name(training["model"], tag)
    flatbuffer, predictions, measured = measure(run_dir, training, args)
    check_reproduces(measured["evaluation"], training["top1"], "the run's")
    folder = Path(args.models_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in COPIED:  # via a temporary file: run_dir may be this folder itself
        shutil.copyfile(run_dir / file_name, folder / f".{file_name}.tmp")
        (folder / f".{file_name}.tmp").replace(folder / file_name)
    (folder / f"{TFLITE_FILE}.tmp").write_bytes(flatbuffer)
    (folder / f"{TFLITE_FILE}.tmp").replace(folder / TFLITE_FILE)
    write_predictions(folder / PREDICTIONS, predictions)
    published = {"name": name, "training": training, **measured,
                 "publish": run_info(started, commit)}
    write_text_atomically(folder / METRICS_FILE, json.dumps(published, indent=1) + "\n")
    write_cards(args.models_dir)
    if args.readme:
        cards.update_readme(args.readme, args.models_dir)
    print(f"published {name}: top-1 {measured['evaluation']['top1']:.2%} -> {folder}")
    return published


def published_folder(folder, models_dir):
    """The metrics.json of published folder ``folder`` of ``models_dir``, whose files are
    all as the manifest lists them; else a ValueError saying what to give instead."""
    path = Path(folder) / METRICS_FILE
    published = json.loads(path.read_text()) if path.is_file() else {}
    if not is_published(published):
        raise ValueError(f"{folder} is not a published models/<name>.<tag> folder: "
                         "--record-predictions adds to a published model (publishing a run "
                         "records its predictions).")
    name = published["name"]
    if Path(folder).resolve() != (Path(models_dir) / name).resolve():
        raise ValueError(f"{folder} is not {name}'s folder in --models-dir {models_dir}: give "
                         f"{Path(models_dir) / name}, or the --models-dir that holds {folder}.")
    # a changed file (new weights) would otherwise be judged, and listed in the manifest
    # written with the predictions, as if it were the published one
    verified_files(models_dir)
    return published


def record_predictions(args):
    """Adds ``PREDICTIONS`` to the published folder ``args.run_dir`` and lists it in the
    manifest; changes nothing else (weights, .tflite, metrics, card stay as published). The
    whole evaluation split is re-predicted; their top-1 must be the card's."""
    folder, models_dir = Path(args.run_dir), Path(args.models_dir)
    published = published_folder(folder, models_dir)
    name = published["name"]
    model, _ = run_model(folder, published["training"])
    evaluation, predictions = evaluated(model, published["training"], args.data_dir)
    card = published["evaluation"]
    if evaluation["images"] != card["images"]:
        raise ValueError(f"{evaluation['dataset']}/{evaluation['split']} has "
                         f"{evaluation['images']} images, but {name} was measured on "
                         f"{card['images']}: give the --data-dir it was published with.")
    check_reproduces(evaluation, card["top1"], f"{name}'s card")
    write_predictions(folder / PREDICTIONS, predictions)
    manifest = manifest_json(models_dir)
    list_file(manifest, models_dir, f"{name}/{PREDICTIONS}")
    write_manifest(models_dir, manifest)
    print(f"recorded {name}'s predictions: {evaluation['images']} images, top-1 "
          f"{evaluation['top1']:.2%} (card {card['top1']:.2%}) -> {folder / PREDICTIONS}")


def write_cards(models_dir):
    """Every card, then the manifest: a new model changes its twin's card too."""
    everything = cards.published_metrics(models_dir)
    for name in everything:
        write_text_atomically(Path(models_dir) / name / CARD_FILE,
                              cards.published_card(models_dir, name, everything))
    for name, published in everything.items():
        update_manifest(models_dir, name, published)


def regenerate(args):
    write_cards(args.models_dir)
    if args.readme:
        cards.update_readme(args.readme, args.models_dir)


def main(argv=None):
    parser = argument_parser()
    args = parse_args(argv, parser)
    if args.regenerate:
        return regenerate(args)
    if not args.run_dir:
        raise SystemExit("give a run folder and --tag, a published folder, or --regenerate")
    if args.record_predictions:
        try:
            return record_predictions(args)
        except (ValueError, OSError) as error:  # nothing was written: say why, no traceback
            raise SystemExit(f"error: {error}") from None
    commit = publish_commit(args, parser)  # before anything is read or measured
    try:
        checked = publishable(args)
    except (ValueError, OSError) as error:  # nothing was built, measured or written
        raise SystemExit(f"error: {error}") from None
    publish(args, checked, commit)


if __name__ == "__main__":
    main()
