"""benchmarks/el_scale.py: the size of each Elastic-Link's term next to its convolution."""

import json

import numpy as np
import pytest

import el_zoo
from tests.conftest import SMALL, benchmark_script


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
