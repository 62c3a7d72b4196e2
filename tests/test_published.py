"""Every published model: files match the manifest, cards and the README table are exactly
what the publishing step generates from metrics.json, its recorded per-image predictions
score the card's top-1 and the model re-predicts them, the .tflite agrees with Keras, and
the wheel carries the files."""

import json
import re
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import el_zoo
from el_zoo import hub, pretrained
from tests.conftest import (REPO, assert_interpreter_takes_models_top1,
                            images_with_machine_independent_top1)
from training import cards, publish, run_folder, targets

MODELS = REPO / "models"
PUBLISHED = el_zoo.list_models(pretrained=True)


def metrics_of(name):
    return json.loads((MODELS / name / "metrics.json").read_text())


def test_every_registered_model_but_research_variants_has_cifar10_weights():
    names = [name for name in el_zoo.list_models()
             if "research" not in el_zoo.registry.model_tags(name)]
    assert len(names) >= 8
    assert {f"{name}.cifar10" for name in names} <= set(PUBLISHED)


def test_manifest_hashes_and_sizes_match_the_files():
    manifest = pretrained.read_manifest(MODELS)
    listed = set(manifest.files)
    on_disk = {str(p.relative_to(MODELS)) for p in MODELS.glob("*.*/*") if p.is_file()}
    assert listed == on_disk
    for relative, record in manifest.files.items():
        path = MODELS / relative
        assert path.stat().st_size == record.size, relative
        assert hub.sha256_of(path) == record.sha256, relative


@pytest.mark.parametrize("name", PUBLISHED)
def test_card_is_generated_from_metrics(name):
    twin = cards.published_metrics(MODELS).get(cards.twin_name(name))
    expected = cards.card(name, metrics_of(name), cards.read_log(MODELS / name), twin)
    assert (MODELS / name / run_folder.CARD_FILE).read_text() == expected
    # what publishing writes: re-rendered from the folder's records, nothing re-measured
    assert cards.published_card(MODELS, name) == expected


@pytest.mark.parametrize("name", PUBLISHED)
def test_card_says_whether_the_tflite_holds_folded_links(name):
    # publishing converts with el_zoo.fold (tests/test_fold.py checks the published _el
    # files are that form); the card says so for every model with Elastic-Link
    line = next(line for line in (MODELS / name / run_folder.CARD_FILE).read_text().splitlines()
                if line.startswith(f"- `{run_folder.TFLITE_FILE}`"))
    folded = "Elastic-Links folded into neighbouring ops by `el_zoo.fold`" in line
    assert folded == el_zoo.registry.has_elastic_link(name), line


def assert_card_states_what_its_tflite_takes_and_its_class_order(name, model):
    """A phone app's author reads the card beside model.tflite: its input tensor's type and
    shape as the file has them, pixels in [0, 255] (not [0, 1], which gives wrong answers
    silently) and the class order (before: "10 classes", in no order). ``model``: what
    ``el_zoo.load(name)`` gives."""
    from el_zoo.convert import io_description

    manifest = pretrained.manifest_json(MODELS)["models"][name]
    card = (MODELS / name / "README.md").read_text()
    tflite = (MODELS / manifest["tflite"]).read_bytes()
    file_input = io_description(tflite, model)[0].split(" (batch")[0][len("input: "):]
    assert f"- `model.tflite` takes {file_input} (batch, height, width, RGB): RGB pixels in " \
           "[0, 255] (" in card
    assert "not scaled to [0, 1] nor standardised" in card
    assert f"probabilities, in the order {', '.join(manifest['class_names'])} (" in card
    assert list(model.class_names) == manifest["class_names"]


def test_cards_are_the_template_filled_in(tmp_path, monkeypatch):
    name = "resnet26_el.cifar10"
    fields = cards.card_fields(name, metrics_of(name), cards.read_log(MODELS / name))
    template = string.Template(cards.CARD_TEMPLATE.read_text(encoding="utf-8"))
    assert set(template.get_identifiers()) == set(fields)  # no placeholder left, none unused
    (tmp_path / "card.md").write_text("# $name: top-1 $top1 after $epochs\n")
    monkeypatch.setattr(cards, "CARD_TEMPLATE", tmp_path / "card.md")
    metrics = metrics_of(name)
    assert cards.published_card(MODELS, name) == (
        f"# resnet26_el.cifar10: top-1 {metrics['evaluation']['top1']:.2%} after "
        f"{metrics['training']['epochs']} epochs\n")


def test_a_card_shows_the_chain_of_segments_and_its_restart():
    """A run trained in segments after a restart from committed weights: its card tabulates
    every segment after the accuracy-versus-time table (the published runs were recorded
    before segments were: their cards stay as they were, test_card_is_generated_from_metrics)."""
    name = "resnet18_el.cifar10"
    published = metrics_of(name)
    known = {"command": "el-zoo train ...", "git_commit": "abc", "machine": "here"}
    segments = [
        {"segment": 1, "began_as": "start", "start": None, "end": "2026-11-26 18:30 UTC",
         "ended_by": "finished", "epochs": [1, 18], "top1": 0.785, "wall_time_s": 5640.0,
         "cpu_s": None, "recorded": False, **known},
        {"segment": 2, "began_as": "restart", "start": "2026-12-01 06:00 UTC",
         "end": "2026-12-01 08:30 UTC", "ended_by": "segment limit", "epochs": [19, 40],
         "top1": 0.81, "wall_time_s": 9000.0, "cpu_s": 17400.0, **known},
        {"segment": 3, "began_as": "resume", "start": "2026-12-01 09:00 UTC",
         "end": "2026-12-01 10:00 UTC", "ended_by": "finished", "epochs": [41, 50],
         "top1": 0.83, "wall_time_s": 3600.0, "cpu_s": 6900.0, **known}]
    restart = {"from": "models/resnet18_el.cifar10", "sha256": "f00",
               "weights": "models/resnet18_el.cifar10/weights.h5", "stage": "main", "epoch": 18}
    training = {**published["training"], "segments": segments, "restart": restart}
    card = cards.card(name, {**published, "training": training}, cards.read_log(MODELS / name))
    section = card[card.index("### Accuracy versus CPU-hours"):card.index("### Against")]
    assert card.index("### Accuracy versus training time") < card.index(section)
    assert [line for line in section.splitlines() if line.startswith("| ")][1:] == [
        "| 1 | start | not recorded to 2026-11-26 18:30 | 1-18 | finished | 1.57 | not "
        "recorded | 78.50% |",
        "| 2 | restart (fresh optimizer) | 2026-12-01 06:00 to 2026-12-01 08:30 | 19-40 | "
        "segment limit | 4.07 | 4.83 | 81.00% |",
        "| 3 | resume | 2026-12-01 09:00 to 2026-12-01 10:00 | 41-50 | finished | 5.07 | "
        "6.75 | 83.00% |"]
    assert "- Segment 1: epochs recorded before segments were" in section
    assert ("- Restarted from committed weights: `models/resnet18_el.cifar10` (`models/"
            "resnet18_el.cifar10/weights.h5`, sha256 `f00`) after epoch 18 of stage main, "
            "with a fresh optimizer") in section
    # the run's wall time is its segments', not the last invocation's
    assert f"wall time {(5640 + 9000 + 3600) // 60} min over its 3 segments; finished" in card


def test_a_card_names_every_machine_and_commit_its_segments_ran_on():
    """A run resumed on other machines (a rerun of its command continues it): the card's
    Machine line named only the last one; it lists each with the segments it ran, and a run
    on one machine keeps its line as it was."""
    name = "resnet18_el.cifar10"
    published = metrics_of(name)
    runs = [("A", "c1"), ("A", "c1"), ("B", "c1"), ("A", "c2"), ("C", "c2"), ("C", "c2")]
    segments = [{"segment": number, "began_as": "resume", "start": None, "end": None,
                 "ended_by": "segment limit", "epochs": [number, number], "top1": None,
                 "wall_time_s": 60.0, "cpu_s": 60.0, "command": "el-zoo train ...",
                 "git_commit": commit, "machine": machine}
                for number, (machine, commit) in enumerate(runs, start=1)]
    training = {**published["training"], "segments": segments, "machine": "C",
                "git_commit": "c2"}

    def training_lines(training):
        card = cards.card(name, {**published, "training": training},
                          cards.read_log(MODELS / name))
        return [line for line in card.splitlines()
                if line.startswith(("- Git commit", "- Machine"))]

    assert training_lines(training) == [
        "- Git commits: `c1` (segments 1-3); `c2` (segments 4-6)",
        "- Machines: A (segments 1-2, 4); B (segment 3); C (segments 5-6)"]
    for segment in segments:
        segment.update(machine="C", git_commit="c2")
    assert training_lines(training) == ["- Git commit: `c2`", "- Machine: C"]
    # epochs recorded before segments were: their machine is not known
    segments[0].update(machine=None, recorded=False)
    assert training_lines(training)[1] == "- Machines: not recorded (segment 1); C (segments 2-6)"
    # a run recorded before segments were: its one machine, as before
    assert training_lines({**training, "segments": None})[1] == "- Machine: C"


def test_a_card_names_the_machine_that_measured_its_parity_and_latency():
    # the LCE-versus-Keras differences and x86 ratios vary with the CPU (AVX2 or AVX-512):
    # the card said when and at which commit they were measured, not where
    name = "resnet18_el.cifar10"
    published = metrics_of(name)
    published["publish"] = {**published["publish"], "machine": "a machine of kind X"}
    card = cards.card(name, published, cards.read_log(MODELS / name))
    measured = next(line for line in card.splitlines() if line.startswith("- Measured by"))
    assert ", on a machine of kind X:" in measured


def test_cards_read_the_zoos_targets_from_training_targets(monkeypatch):
    name = "resnet26_el.cifar10"
    top1 = json.loads((MODELS / name / "metrics.json").read_text())["evaluation"]["top1"]
    reaches = f"this model reaches {top1:.2%}"
    card = cards.published_card(MODELS, name)
    assert (f"the best EL model >= 88% top-1 on this split; {reaches} "
            f"({100 * (0.88 - top1):.1f} points short)") in card
    assert "target >= +3 points: not met" in card
    monkeypatch.setitem(targets.TOP1, "cifar10", 0.75)
    monkeypatch.delitem(targets.EL_GAIN, "resnet26")
    card = cards.published_card(MODELS, name)
    assert f"the best EL model >= 75% top-1 on this split; {reaches} (met)" in card
    # without a target for the gain, the seed-mean line gives the measurement alone
    assert "+3 points" not in card
    assert re.search(r"^- Over \d+ seeds of this recipe, width and epochs \(`[^`]+`\): EL minus "
                     r"plain [+-]\d+\.\d\d points on average \([+-]\d+\.\d\d to "
                     r"[+-]\d+\.\d\d\)\.$", card, re.MULTILINE), card


def test_readme_results_table_is_generated_from_metrics():
    text = (REPO / "README.md").read_text()
    start = text.index(cards.RESULTS_START) + len(cards.RESULTS_START)
    assert text[start:text.index(cards.RESULTS_END)].strip() == cards.results_table(MODELS)


def test_a_published_folders_file_names_are_written_once(monkeypatch):
    # the card, the README's links and publishing spelled "model.tflite" and "README.md"
    # each on its own: renamed in one place (training.run_folder), all follow
    for module in (cards, publish):
        monkeypatch.setattr(module, "TFLITE_FILE", "renamed.tflite")
        monkeypatch.setattr(module, "CARD_FILE", "CARD.md")
    name = "resnet26_el.cifar10"
    table = cards.results_table(MODELS)
    assert f"(models/{name}/CARD.md)" in table and f"(models/{name}/renamed.tflite)" in table
    assert "README.md" not in table and "model.tflite" not in table
    assert "\n- `renamed.tflite` (" in cards.published_card(MODELS, name)
    written = []
    monkeypatch.setattr(publish, "write_text_atomically", lambda path, text: written.append(
        Path(path).relative_to(MODELS)))
    monkeypatch.setattr(publish, "update_manifest", lambda *args: None)
    publish.write_cards(MODELS)
    assert written == [Path(name, "CARD.md") for name in sorted(PUBLISHED)]


def recorded_predictions(name):
    """The per-image top-1 predictions recorded in the model's folder (its manifest record,
    and so the file's hash, is checked by test_manifest_hashes_and_sizes_match_the_files)."""
    path = MODELS / name / publish.PREDICTIONS
    assert path.is_file(), (f"{name} has no recorded predictions: run python -m "
                            f"training.publish models/{name} --record-predictions")
    return publish.read_predictions(path)


def eval_images(name, data_dir, limit):
    """The first ``limit`` images of the model's evaluation split, preprocessed as published
    (float32, centre-cropped for Imagenette), in the order its predictions are recorded in."""
    from el_zoo import data

    pre = pretrained.published_model(name).preprocessing
    images, _, _ = data.load_split(pre.dataset, pre.split, data_dir=data_dir,
                                   image_size=pre.resize, limit=limit)
    return data.center_crop_batch(images, pre.crop).astype(np.float32)


def eval_labels(name, data_dir):
    """The labels of the model's evaluation split as its class indices, in the order its
    predictions are recorded in (no image is decoded)."""
    from el_zoo import data

    record = pretrained.published_model(name)
    pre = record.preprocessing
    _, labels, folders = data.split_files(pre.dataset, pre.split, data_dir=data_dir)
    return data.labels_by_class_name(labels, folders, record.class_names, name)


@pytest.mark.parametrize("name", PUBLISHED)
def test_recorded_predictions_score_the_cards_top1(name, data_dir):
    card = metrics_of(name)["evaluation"]
    predictions, labels = recorded_predictions(name), eval_labels(name, data_dir)
    assert len(predictions) == len(labels) == card["images"]
    assert abs(np.mean(predictions == labels) - card["top1"]) <= publish.TOP1_TOLERANCE


# How many images the model re-predicts: the first of the split's class-interleaved order,
# a class-balanced subset (every 20th image would be one class); 5 % of CIFAR-10's test
# split, 13 % of Imagenette's val split.
RE_PREDICTED = 500


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_published_weights_re_predict_their_records_and_the_tflite_agrees(name, data_dir):
    """Three claims on one loaded model (each load of a published model costs seconds): the
    weights re-predict the records, the .tflite agrees with Keras, and the card states what
    the .tflite takes and the class order (assert_card_states_what_its_tflite_takes_...)."""
    model = el_zoo.load(name)
    recorded = recorded_predictions(name)[:RE_PREDICTED]
    images = eval_images(name, data_dir, RE_PREDICTED)
    # called eagerly: model.predict would first trace the model, at more CPU cost than
    # predicting these images
    fresh = np.concatenate([model(images[i:i + 100], training=False).numpy().argmax(-1)
                            for i in range(0, len(images), 100)])
    # Near, not exact, agreement: a trained binarized net holds values within float rounding
    # of zero (tests/conftest.py, images_with_machine_independent_top1), whose sign the
    # kernels of another CPU (oneDNN or Eigen), or a traced graph against eager calls, may
    # take otherwise (measured: 100 % and 99.8 % agreement for reactnet_a.cifar10 and
    # resnet18_el.imagenette, with and without TF_ENABLE_ONEDNN_OPTS=0). Other weights agree
    # far less: reactnet_a.cifar10 with 0.1 % of its binary weights' signs flipped, 85 %.
    agreement = np.mean(fresh == recorded)
    assert agreement >= 0.98, (f"{name} re-predicts its records: {agreement:.1%} of "
                               f"{len(images)} images agree")
    # what that means for the accuracy the record (and so the card) claims on these images
    labels = eval_labels(name, data_dir)[:RE_PREDICTED]
    fresh_top1, recorded_top1 = np.mean(fresh == labels), np.mean(recorded == labels)
    assert abs(fresh_top1 - recorded_top1) <= 0.02, (
        f"{name} re-predicts its records: top-1 {fresh_top1:.1%}, recorded {recorded_top1:.1%}")

    # its .tflite agrees with Keras on every one of the first 40 of those images whose top-1
    # does not depend on the machine
    assert_interpreter_takes_models_top1(
        pretrained.published_file(name, "model.tflite").read_bytes(), model,
        images_with_machine_independent_top1(model, images[:40]), name)

    assert_card_states_what_its_tflite_takes_and_its_class_order(name, model)


def test_predict_prints_class_names(data_dir, tmp_path):
    from el_zoo import data
    from el_zoo.cli import main
    from PIL import Image

    images, labels, classes = data.load_split("cifar10", "test", data_dir=data_dir, limit=10)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(images[i]).save(paths[-1])
    results = el_zoo.predict("resnet26_el.cifar10", paths)
    assert len(results) == 3 and all(len(r) == 5 for r in results)
    assert all(name in classes for r in results for name, _ in r)
    assert abs(sum(p for _, p in results[0]) - 1) < 0.2


def test_predict_and_evaluate_cli(data_dir, tmp_path, capsys):
    from el_zoo import data
    from el_zoo.cli import main
    from PIL import Image

    images, _, _ = data.load_split("cifar10", "test", data_dir=data_dir, limit=1)
    Image.fromarray(images[0]).save(tmp_path / "cat.png")

    def run(*arguments):
        """`el-zoo ARGUMENTS` in this process, as tests/test_cli.py runs the command line
        (a fresh process per command only added TensorFlow's start): (code, out, err)."""
        code = main(list(arguments))
        printed = capsys.readouterr()
        return code, printed.out, printed.err

    code, out, err = run("predict", "resnet26_el.cifar10", str(tmp_path / "cat.png"))
    assert code == 0, err[-2000:]
    assert out.count("%") == 5 and "airplane" in out or "cat" in out or "ship" in out
    code, _, err = run("predict", "resnet26_el.cifar10", str(tmp_path / "nope.png"))
    assert code == 2 and "nope.png" in err
    code, out, err = run("evaluate", "resnet26_el.cifar10", "--data-dir", str(data_dir),
                         "--limit", "500", "--json")
    assert code == 0, err[-2000:]
    assert json.loads(out.splitlines()[-1])["images"] == 500
    code, _, err = run("evaluate", "resnet26_el", "--data-dir", str(data_dir))
    assert code == 2 and "NAME.TAG" in err


def test_a_non_editable_wheel_carries_the_published_models(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path), str(REPO)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("el_zoo-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = pretrained.read_manifest(MODELS)
    assert "el_zoo/published/manifest.json" in names
    for relative in manifest.files:
        assert f"el_zoo/published/{relative}" in names, relative
    assert "training/train.py" in names
    assert "training/templates/model_card.md" in names  # the cards' template
    # el-zoo finds its train command through this entry point (el_zoo never imports training)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "[el_zoo.commands]\ntrain = training.command:add_command\n" in \
        zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.parametrize("name", PUBLISHED)
def test_a_card_gives_x86_latency_only_as_ratios(name):
    # cards said "x86 latency ratios (1 thread, 10.38 ms median here)": LCE has no
    # optimised x86 kernels, so an x86 time is no ARM latency (metrics.json keeps it, as data)
    card = cards.published_card(MODELS, name)
    line = next(line for line in card.splitlines() if line.startswith("- x86 latency"))
    assert line.startswith("- x86 latency ratios (1 thread): vs the float twin ")
    assert not re.search(r"\d ms\b", card)
    assert metrics_of(name)["x86_latency"]["median_ms_1t"] > 0
