"""benchmarks/deploy.py: op accounting of Elastic-Link, and the benchmark's model set-up."""

import collections
import json
import sys

import numpy as np
import pytest
import tensorflow as tf

import el_zoo
from el_zoo import benchmark
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.nets._blocks import binary_conv_bn
from el_zoo.convert import convert
from el_zoo.layers import ElasticLink
from el_zoo.registry import elastic_link_twin, families, has_elastic_link
from tests.conftest import (REPO, SMALL, assert_refused_as_dirty, benchmark_script,
                            random_weight_family)


def deploy():
    return benchmark_script("deploy")


def tiny_model(linked):
    """A float stem and one binary 1x1 unit, with or without its Elastic-Link."""
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(
        tf.keras.layers.Rescaling(1 / 255)(inputs))
    x = tf.keras.layers.BatchNormalization()(x)
    options = ElasticLinkOptions() if linked else None
    x = binary_conv_bn(x, 8, 1, name="unit", elastic_link=options)
    outputs = tf.keras.layers.Dense(10)(tf.keras.layers.GlobalAveragePooling2D()(x))
    return tf.keras.Model(inputs, outputs, name="tiny_el" if linked else "tiny")


def test_op_accounting_of_a_tiny_pair_counts_plain_trained_and_folded(monkeypatch):
    module = deploy()
    tf.keras.utils.set_random_seed(0)
    built = []

    def load(name):
        built.append(name)
        return tiny_model(linked=has_elastic_link(name))

    monkeypatch.setattr(el_zoo, "load", load)
    account = module.op_accounting("resnet18", verify_images=0)
    assert built == ["resnet18.cifar10", "resnet18_el.cifar10"]
    counts = account["counts"]
    assert account["links"] == 1
    # As trained, the link before BN costs a MUL and an ADD for gamma * x, and the BN it
    # sits in front of no longer folds into the binary conv (another MUL and ADD).
    assert counts["el_trained"]["MUL"] - counts["plain"].get("MUL", 0) == 2
    # Folded, BN goes back into the conv's output transform and gamma * s is carried as a
    # pending scale into the dense head: one ADD is left.
    assert counts["el_folded"].get("MUL", 0) == counts["plain"].get("MUL", 0)
    assert counts["el_folded"]["ADD"] - counts["plain"].get("ADD", 0) == 1
    assert module.added_per_link(account, "el_folded") == 1.0
    # the floor: the plain model and one ADD, which here forces no LceQuantize (the unit
    # feeds the head, not a binary conv)
    assert module.added_per_link(account, "floor") == 1.0
    assert counts["floor"]["ADD"] - counts["plain"].get("ADD", 0) == 1


def test_op_tables_show_totals_added_ops_per_link_and_every_op():
    module = deploy()
    accounts = {"mobilenet_v1": {"links": 2, "counts": {
        "plain": {"LceBconv2d": 2, "CONV_2D": 1},
        "el_trained": {"LceBconv2d": 2, "CONV_2D": 1, "MUL": 2, "ADD": 2, "GATHER": 1},
        "el_folded": {"LceBconv2d": 2, "CONV_2D": 1, "ADD": 2},
    }}}
    lines = module.ops_markdown(accounts)
    assert "| mobilenet_v1_el | 2 | 3 | 8 | 5 | 2.50 | 1.00 |" in lines
    table = lines[lines.index("| op | plain | EL as trained | EL folded |"):]
    ops = [line.split(" | ")[0].strip("| ") for line in table[2:]]
    # the op types EL adds first, in a fixed order; then the rest alphabetically
    assert ops == ["LceBconv2d", "ADD", "MUL", "CONV_2D", "GATHER"]
    assert "| MUL | 0 | 2 | 0 |" in table


@pytest.mark.parametrize("family", families(include_research=False))
def test_the_floor_is_the_plain_twin_plus_one_add_per_link(family, cifar_images,
                                                           calibrate_batch_norm):
    module = deploy()
    # the plain twin: the random-weight model tests/test_convert.py converts (made once per
    # run by random_weight_family), its conversion and its weights
    facts = random_weight_family(family, cifar_images[0], calibrate_batch_norm)
    plain = el_zoo.load(family, **SMALL, classifier_activation=None)
    plain.set_weights(facts.weights)
    linked = el_zoo.load(elastic_link_twin(family), **SMALL)
    links = sum(isinstance(layer, ElasticLink) for layer in linked.layers)
    floor = module.floor_model(linked, plain)
    plain_ops = collections.Counter(module.op_counts(facts.flatbuffer))
    floor_ops = collections.Counter(module.op_counts(convert(floor, verify_images=0)))
    added = floor_ops - plain_ops
    assert not plain_ops - floor_ops  # every op of the plain twin stays
    assert added["ADD"] == links
    # and the LceQuantize an ADD forces where its conv fed a binary conv bit-packed output
    assert set(added) <= {"ADD", "LceQuantize"}, added


def test_the_floor_carries_the_plain_twins_weights():
    module = deploy()
    tf.keras.utils.set_random_seed(0)
    linked, plain = el_zoo.load("reactnet_a_el", **SMALL), el_zoo.load("reactnet_a", **SMALL)
    plain.set_weights([w + 0.5 for w in plain.get_weights()])  # not initial values
    floor = module.floor_model(linked, plain)
    assert all(np.array_equal(a, b) for a, b in zip(floor.get_weights(), plain.get_weights()))
    assert len(floor.get_weights()) == len(plain.get_weights())


def test_the_floor_needs_the_twin_of_the_same_layout():
    module = deploy()
    linked = el_zoo.load("mobilenet_v1_el", **SMALL)
    with pytest.raises(ValueError, match="floor_model: resnet18 has no layers .* the links of "
                                         "mobilenet_v1_el"):
        module.floor_model(linked, el_zoo.load("resnet18", **SMALL))


def test_op_tables_add_the_floor_where_the_accounts_have_it():
    module = deploy()
    accounts = {"mobilenet_v1": {"links": 2, "counts": {
        "plain": {"LceBconv2d": 2, "CONV_2D": 1},
        "el_trained": {"LceBconv2d": 2, "CONV_2D": 1, "MUL": 2, "ADD": 2},
        "el_folded": {"LceBconv2d": 2, "CONV_2D": 1, "ADD": 2, "TILE": 1},
        "floor": {"LceBconv2d": 2, "CONV_2D": 1, "ADD": 2, "LceQuantize": 1},
    }}}
    lines = module.ops_markdown(accounts)
    assert ("| family | links | ops plain | EL as trained | EL folded | floor | added per "
            "link, as trained | added per link, folded | added per link, floor |") in lines
    assert "| mobilenet_v1_el | 2 | 3 | 7 | 6 | 6 | 2.00 | 1.50 | 1.50 |" in lines
    assert "| LceQuantize | 0 | 0 | 0 | 1 |" in lines


def test_unknown_families_and_sizes_are_refused_before_any_work(monkeypatch, capsys):
    module = deploy()
    monkeypatch.setattr(module, "op_accounting", lambda family: pytest.fail("ran"))
    monkeypatch.setattr(sys, "argv", ["deploy.py", "--families", "resnet19", "--sizes", "64"])
    with pytest.raises(SystemExit):
        module.main()
    assert "unknown families or sizes ['resnet19', '64']" in capsys.readouterr().err


@pytest.mark.parametrize("partial", [["--ops-only"], ["--latency-only"],
                                     ["--families", "resnet18"], ["--sizes", "32"]])
def test_a_partial_run_needs_its_own_output(monkeypatch, capsys, partial):
    module = deploy()
    monkeypatch.setattr(module, "op_accounting", lambda family: pytest.fail("ran"))
    monkeypatch.setattr(sys, "argv", ["deploy.py", *partial])
    with pytest.raises(SystemExit):
        module.main()
    assert "would replace the full report reports/deploy.md: give --out" in (
        capsys.readouterr().err)


def test_a_report_from_a_dirty_work_tree_is_refused_before_any_work(monkeypatch, capsys,
                                                                   dirty_work_tree):
    module = deploy()
    monkeypatch.setattr(module, "op_accounting", lambda family: pytest.fail("ran"))
    monkeypatch.setattr(sys, "argv", ["deploy.py"])
    assert_refused_as_dirty(module.main, capsys, "reports/deploy.md")


class Stop(Exception):
    pass


def test_the_benchmarked_el_model_takes_the_published_weights_where_layers_match(
    monkeypatch
):
    converted = []

    def capture(model, verify_images):
        converted.append(model)
        raise Stop()

    monkeypatch.setattr(benchmark, "convert", capture)  # the name benchmark_model calls
    with pytest.raises(Stop):  # 1000 classes: every layer but the head matches
        benchmark.benchmark_model("mobilenet_v1_el", weights_from=deploy().published_el(
            "mobilenet_v1"))
    (model,) = converted
    published = el_zoo.load("mobilenet_v1_el.cifar10")
    for name in ("stem_conv", "block1_dw_el", "block13_pw_bn"):
        for mine, theirs in zip(model.get_layer(name).get_weights(),
                                published.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    assert model.get_layer("predictions").get_weights()[0].shape == (1024, 1000)


def test_the_report_renders_from_its_json_with_latency_only_as_ratios(tmp_path):
    # reports/deploy.md gave every model's x86 "1 thread (ms)" and "2 threads (ms)": LCE
    # has no optimised x86 kernels, so an x86 time is no ARM latency. The report shows
    # ratios to the float twin's, re-rendered from its JSON (the times stay there, as data)
    from tests.test_benchmark import timed

    module = deploy()

    def measured(name, scale, convert_s=6.0):
        return {"name": name, "size_bytes": int(4e6 * scale), "peak_memory_bytes": 2.5e7,
                "convert_s": convert_s,
                **{f"latency_ms_{n}t": timed(130.9 * scale, 141.4 * scale, 2 * 122.2 * scale)
                   for n in (1, 2)}}

    results = {"model": measured("resnet18_el", 2.0), "no_el": measured("resnet18", 1.9),
               "floor": measured("resnet18 + 1 ADD per link (floor)", 2.1),
               "float": {**measured("resnet18_el (float)", 1.0), "convert_s": None},
               "ratios": {"size_vs_float": 0.089, "latency_vs_float_1t": 2.0,
                          "el_latency_overhead_1t": 0.05, "el_size_overhead": 0.003,
                          "floor_latency_vs_no_el_1t": 1.1, "model_latency_vs_floor_1t": 0.95}}
    del results["float"]["convert_s"]
    record = {"results": {"resnet18@224": results}, "op_accounting": {},
              "command": "python benchmarks/deploy.py", "git_commit": "abc",
              "machine": "Linux x86_64, 2 cores", "date": "2026-12-02 07:49 UTC",
              "wall_time_s": 60.0}
    (tmp_path / "deploy.json").write_text(json.dumps(record))
    module.render(str(tmp_path / "deploy.md"), 20, 5)
    text = (tmp_path / "deploy.md").read_text()
    assert "(ms)" not in text and " ms" not in text
    assert "130" not in text and "261" not in text  # no time of any round
    assert ("| model | input | size (MB) | latency / the float twin's, 1 thread | latency / "
            "the float twin's, 2 threads | peak memory (MB) | LCE convert (s) |") in text
    assert "| resnet18_el | 224 | 8.00 | 2.00x | 2.00x | 25.0 | 6 |" in text
    assert "| resnet18_el (float) | 224 | 4.00 | 1.00x | 1.00x | 25.0 | - |" in text
    assert "EL latency overhead +5.0 % (floor +10.0 %; EL/floor 0.950)" in text
    assert "3 rounds of 20 runs" in text  # the rounds the timings have
    assert "Command: `python benchmarks/deploy.py`" in text
    kept = json.loads((tmp_path / "deploy.json").read_text())
    assert kept["results"] == record["results"] and kept["rounds"] == 3


def test_the_published_report_gives_no_x86_time():
    text = (REPO / "reports" / "deploy.md").read_text()
    assert "(ms)" not in text and " ms" not in text
