"""benchmarks/el_scale.py: the size of each Elastic-Link's term next to its convolution."""

import json

import numpy as np
import pytest

import el_zoo
from tests.conftest import SMALL, assert_refused_as_dirty, benchmark_script


def el_scale():
    return benchmark_script("el_scale")


def test_fan_in_scaled_links_are_larger_next_to_their_convs_than_default_ones():
    scale = el_scale()
    images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    default = scale.summarise(scale.link_scales(el_zoo.load("mobilenet_v1_el", **SMALL), images))
    scaled = scale.summarise(scale.link_scales(
        el_zoo.load("mobilenet_v1_el", elastic_link={"gamma_scale": "fan_in"}, **SMALL), images))
    assert set(default) == {"1x1", "depthwise 3x3"}
    assert default["1x1"]["links"] + default["depthwise 3x3"]["links"] == 26
    for kind in default:
        # at initialisation the conv's output std is about sqrt(fan-in): scaling gamma by it
        # multiplies the ratio by sqrt(fan-in) >= 3 (depthwise 3x3) or more (1x1)
        assert scaled[kind]["ratio_median"] > 2.5 * default[kind]["ratio_median"]
        assert default[kind]["gamma_abs_mean"] == pytest.approx(0.25)


def test_a_model_without_links_or_a_folder_without_a_run_is_a_clear_error(tmp_path):
    scale = el_scale()
    with pytest.raises(ValueError, match="has no ElasticLink: give an _el model"):
        scale.link_scales(el_zoo.load("resnet26", **SMALL), np.zeros((1, 32, 32, 3), "float32"))
    with pytest.raises(ValueError, match="has no metrics.json"):
        scale.load_source(str(tmp_path), None, 4)


def test_a_published_variant_is_measured_and_labelled_with_its_manifest_options(
        tmp_path, monkeypatch, data_dir):
    from el_zoo import pretrained
    from tests.test_registry import publish, saved_weights

    # a tag never changes the architecture: a variant is published under the model whose
    # defaults its options are (mobilenet_v1_el: links after BN)
    options = {"position": "after_bn"}
    _, path = saved_weights(tmp_path, name="mobilenet_v1_el")
    models = publish(tmp_path, path, name="mobilenet_v1_el.toy",
                     config={**SMALL, "elastic_link": options})
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["models"]["mobilenet_v1_el.toy"].update(
        dataset="cifar10", eval_split="test", resize=32, crop=None)
    (models / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(pretrained, "MODELS_DIR", models)
    model, name, options_label, pixels = el_scale().load_source("mobilenet_v1_el.toy",
                                                                data_dir, 4)
    assert (name, options_label, pixels.shape) == ("mobilenet_v1_el.toy", "position=after_bn",
                                                   (4, 32, 32, 3))


def test_a_run_folder_and_its_published_folder_are_measured_alike(tmp_path, data_dir):
    # a published models/NAME.TAG folder keeps its run's record under "training"
    from tests.test_registry import saved_weights

    training = {"model": "mobilenet_v1_el", "dataset": "cifar10", "eval_split": "test",
                "config": {**SMALL, "input_shape": [32, 32, 3]},
                "recipe_config": {"image_size": 32, "elastic_link": {"position": "after_bn"}}}
    run, published = tmp_path / "run", tmp_path / "models" / "mobilenet_v1_el.toy"
    run.mkdir()
    published.mkdir(parents=True)
    saved_weights(run, name="mobilenet_v1_el")
    (published / "weights.h5").write_bytes((run / "weights.h5").read_bytes())
    (run / "metrics.json").write_text(json.dumps(training))
    (published / "metrics.json").write_text(json.dumps(
        {"name": "mobilenet_v1_el.toy", "training": training, "publish": {}}))
    measured = [el_scale().load_source(str(folder), data_dir, 4) for folder in (run, published)]
    for _, name, options_label, pixels in measured:
        assert (options_label, pixels.shape) == ("position=after_bn", (4, 32, 32, 3))
    assert [name for _, name, _, _ in measured] == ["mobilenet_v1_el (run run)",
                                                    "mobilenet_v1_el (run mobilenet_v1_el.toy)"]


# A result of a report written before each result kept its own provenance: the report's one
# header said which command measured them all.
OLD_HEADER = {"command": "python benchmarks/el_scale.py a.cifar10 /runs/b", "git_commit": "c" * 40,
              "machine": "old machine", "date": "2026-11-27 16:47 UTC", "wall_time_s": 110.0}


def result(source, ratio):
    """An el_scale result as its JSON keeps it (one conv kind)."""
    return {"name": source, "source": source, "el_options": "defaults",
            "by_kind": {"3x3": {"links": 8, "ratio_median": ratio, "ratio_min": ratio / 2,
                                "ratio_max": 2 * ratio, "gamma_abs_mean": 0.25}},
            "links": []}


def measured(monkeypatch, scale, ratio):
    """``scale.main`` measures every source at ``ratio`` (no model is built)."""
    monkeypatch.setattr(scale, "load_source",
                        lambda source, data_dir, images: (None, source, "defaults", None))
    monkeypatch.setattr(scale, "link_scales",
                        lambda model, images: [{"kind": "3x3", "ratio": ratio,
                                                "gamma_abs_mean": 0.25}])


def test_earlier_results_are_kept_and_a_source_measured_again_replaces_its_row(
        tmp_path, monkeypatch):
    scale = el_scale()
    out = tmp_path / "el_scale.md"
    out.with_suffix(".json").write_text(json.dumps(
        {"results": [result("a.cifar10", 0.365), result("/runs/b", 0.109)], **OLD_HEADER}))
    measured(monkeypatch, scale, 0.5)
    monkeypatch.setattr("sys.argv", ["benchmarks/el_scale.py", "/runs/c", "a.cifar10"])
    scale.main(["/runs/c", "a.cifar10", "--images", "64", "--out", str(out)])

    report = json.loads(out.with_suffix(".json").read_text())
    kept, *new = report["results"]
    # a.cifar10 keeps its place with its new numbers; the new source comes after the earlier
    assert [r["source"] for r in report["results"]] == ["a.cifar10", "/runs/b", "/runs/c"]
    assert kept["by_kind"]["3x3"]["ratio_median"] == 0.5 and kept["images"] == 64
    assert kept["command"].endswith("el_scale.py /runs/c a.cifar10")
    assert new[0] == {**result("/runs/b", 0.109), **OLD_HEADER, "images": 256}
    text = out.read_text()
    # the earlier row as the report rendered it, numbered by the header's command
    assert "| /runs/b | defaults | 3x3 | 8 | 10.9 % (5.5-21.8 %) | 0.25 | 2 |" in text
    assert "| a.cifar10 | defaults | 3x3 | 1 | 50.0 % (50.0-50.0 %) | 0.25 | 1 |" in text
    assert "\"defaults\" is those" in text  # named against the global defaults, as in el_vs_plain
    assert text.index("| a.cifar10 |") < text.index("| /runs/b |") < text.index("| /runs/c |")
    assert ("### 2\n\nThe first 256 images of each evaluation split; wall time 1.8 min.\n\n"
            "Command: `python benchmarks/el_scale.py a.cifar10 /runs/b`  \n"
            f"Commit: {'c' * 40}  \nMachine: old machine  \nDate: 2026-11-27 16:47 UTC") in text
    assert "### 1\n\nThe first 64 images of each evaluation split" in text


def test_an_out_that_is_another_report_is_refused_before_measuring(tmp_path, monkeypatch,
                                                                  capsys):
    scale = el_scale()
    (tmp_path / "deploy.json").write_text(json.dumps({"entries": []}))
    monkeypatch.setattr(scale, "load_source", lambda *args: pytest.fail("measured"))
    with pytest.raises(SystemExit):
        scale.main(["a.cifar10", "--out", str(tmp_path / "deploy.md")])
    assert (f"el_scale: error: {tmp_path / 'deploy.json'} is not an el_scale report (no "
            "\"results\"): give another --out, or remove it.") in capsys.readouterr().err


def test_a_report_from_a_dirty_work_tree_is_refused_before_measuring(monkeypatch, capsys,
                                                                     dirty_work_tree):
    scale = el_scale()
    monkeypatch.setattr(scale, "load_source", lambda *args: pytest.fail("measured"))
    assert_refused_as_dirty(lambda: scale.main(["a.cifar10"]), capsys, "reports/el_scale.md")
