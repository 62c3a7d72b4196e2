"""Publishes a finished training run as ``models/<name>.<tag>/``: measures its weights, copies
its files, writes its metrics.json and the manifest, and has ``training.cards`` rewrite the
model cards and the README's results table. Every number in a card is measured here or by the
training run; nothing is typed by hand.

    python -m training.publish /path/to/run --tag cifar10
    python -m training.publish models/resnet26_el.cifar10   # re-measure a published model
    python -m training.publish --regenerate   # cards, manifest, README table from metrics.json

Given a published folder instead of a run, it re-measures the same weights at the current
commit (after a change to how something is measured) and keeps their training record.

Measures: top-1/top-5 on the full evaluation split (re-measured from the saved weights), the
LCE conversion and its agreement with Keras on 100 evaluation images, params and OPs, and
x86 latency ratios (model vs its no-EL twin vs its float twin; LCE has no optimised x86
kernels, so these are ratios on this machine, not ARM figures). A card's EL-minus-plain
verdict also reads the seed means in ``reports/el_vs_plain.json`` (``training.compare``),
so rerun ``--regenerate`` after adding seeds there.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import el_zoo
import numpy as np
from el_zoo import benchmark, data
from el_zoo.atomic import write_text_atomically
from el_zoo.convert import convert, verify
from el_zoo.evaluate import evaluate
from el_zoo.provenance import git_commit, run_info
from el_zoo.registry import model_info
from el_zoo.weights import MANIFEST_NAME, read_manifest, sha256_of

from training import cards
from training.compare import is_published
from training.recipes import recorded_elastic_link

REPO = Path(__file__).resolve().parent.parent
BASE_URL = "https://github.com/el-zoo/el_zoo/releases/download/models-v1/"
COPIED = ("weights.h5", "training_log.csv", "training_curves.png")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?",
                        help="a finished el-zoo train output folder, or a published "
                             "models/<name>.<tag> folder to re-measure")
    parser.add_argument("--tag", help="weight tag, e.g. cifar10 (a published folder's own tag "
                                      "if omitted)")
    parser.add_argument("--regenerate", action="store_true",
                        help="only rewrite every card, the manifest and the README table from "
                             "the published metrics.json files (after a template change)")
    parser.add_argument("--models-dir", default=str(REPO / "models"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--readme", default=str(REPO / "README.md"))
    parser.add_argument("--runs", type=int, default=30, help="timed interpreter runs")
    return parser.parse_args(argv)


def preprocessing(training):
    recipe = training["recipe_config"]
    size = recipe["image_size"]
    return {"resize": recipe.get("stored_size") or size,
            "crop": size if recipe.get("stored_size") else None}


def model_config(training):
    """What ``el_zoo.load`` needs to rebuild the run's model: the builder configuration, plus
    every Elastic-Link option the run trained with, for a model with Elastic-Link (the
    manifest records them; loading checks the weights against them)."""
    config = dict(training["config"])
    options = recorded_elastic_link(training["model"], training.get("recipe_config", {}))
    if options is not None:
        config["elastic_link"] = options.as_dict()
    return config


def measure(run_dir, training, args):
    """Every publish-time measurement of a run's final weights."""
    config = model_config(training)
    build = {**config, "input_shape": tuple(config["input_shape"])}
    model = el_zoo.load(training["model"], weights=str(Path(run_dir) / "weights.h5"), **build)
    pre = preprocessing(training)
    evaluation = evaluate(model, dataset=training["dataset"], split=training["eval_split"],
                          data_dir=args.data_dir, resize=pre["resize"], crop=pre["crop"])
    images, _, _ = data.load_split(training["dataset"], training["eval_split"],
                                   data_dir=args.data_dir, image_size=pre["resize"], limit=100)
    images = data.center_crop_batch(images, pre["crop"])
    started = time.time()
    flatbuffer = convert(model, verify_images=0)
    convert_s = time.time() - started
    parity = verify(flatbuffer, model, images.astype(np.float32))
    cost = el_zoo.profile(model)
    timing = benchmark.benchmark_model(training["model"], runs=args.runs, **build)
    return model, flatbuffer, {
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
    manifest = read_manifest(models_dir)
    manifest["base_url"] = manifest.get("base_url", BASE_URL)
    t, pre = published["training"], published["preprocessing"]
    manifest["models"][name] = {
        "weights": f"{name}/weights.h5", "tflite": f"{name}/model.tflite",
        "config": model_config(t), "dataset": t["dataset"], "eval_split": t["eval_split"],
        "resize": pre["resize"], "crop": pre["crop"],
        "class_names": data.readable_class_names(t["classes"]),
    }
    for path in sorted((Path(models_dir) / name).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            manifest["files"][f"{name}/{path.name}"] = {"sha256": sha256_of(path),
                                                        "size": path.stat().st_size}
    manifest["models"] = dict(sorted(manifest["models"].items()))
    manifest["files"] = dict(sorted(manifest["files"].items()))
    write_text_atomically(Path(models_dir) / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def training_record(run_dir, tag):
    """(training record, tag) of a finished run folder, or of a published model folder,
    whose metrics.json keeps the record of the run that made its weights under "training"."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no metrics.json: give a finished training run's "
                         "--output-dir or a published models/<name>.<tag> folder.")
    metrics = json.loads(path.read_text())
    if is_published(metrics):
        published_tag = metrics["name"].partition(".")[2]
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


def publish(args):
    # Publishing writes into models/: without ignoring it, the second model published from
    # one clean tree (a pair) would record its code as "+dirty".
    started, commit = time.time(), git_commit(ignore=("models",))
    run_dir = Path(args.run_dir)
    training, tag = training_record(run_dir, args.tag)
    if training.get("eval_images"):
        raise ValueError(f"{run_dir} was evaluated on a subset ({training['eval_images']} "
                         "images): publish only runs evaluated on the whole split.")
    check_default_elastic_link(training)
    name = f"{training['model']}.{tag}"
    model, flatbuffer, measured = measure(run_dir, training, args)
    gap = abs(measured["evaluation"]["top1"] - training["top1"])
    if gap > 0.005:
        raise ValueError(f"re-measured top-1 {measured['evaluation']['top1']:.4f} differs from "
                         f"the run's {training['top1']:.4f}: the weights do not reproduce.")
    folder = Path(args.models_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in COPIED:  # via a temporary file: run_dir may be this folder itself
        shutil.copyfile(run_dir / file_name, folder / f".{file_name}.tmp")
        (folder / f".{file_name}.tmp").replace(folder / file_name)
    (folder / "model.tflite.tmp").write_bytes(flatbuffer)
    (folder / "model.tflite.tmp").replace(folder / "model.tflite")
    published = {"name": name, "training": training, **measured,
                 "publish": run_info(started, commit)}
    write_text_atomically(folder / "metrics.json", json.dumps(published, indent=1) + "\n")
    write_cards(args.models_dir)
    if args.readme:
        cards.update_readme(args.readme, args.models_dir)
    print(f"published {name}: top-1 {measured['evaluation']['top1']:.2%} -> {folder}")
    return published


def write_cards(models_dir):
    """Every card, then the manifest: a new model changes its twin's card too."""
    everything = cards.published_metrics(models_dir)
    for name in everything:
        write_text_atomically(Path(models_dir) / name / "README.md",
                              cards.published_card(models_dir, name, everything))
    for name, published in everything.items():
        update_manifest(models_dir, name, published)


def regenerate(args):
    write_cards(args.models_dir)
    if args.readme:
        cards.update_readme(args.readme, args.models_dir)


def main(argv=None):
    args = parse_args(argv)
    if args.regenerate:
        return regenerate(args)
    if not args.run_dir:
        raise SystemExit("give a run folder and --tag, a published folder, or --regenerate")
    publish(args)


if __name__ == "__main__":
    main()
