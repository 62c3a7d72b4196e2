"""Cost counting: published ReActNet-A figures, hand-counted nets, EL's overhead."""

import larq as lq
import pytest
import tensorflow as tf

import el_zoo
from el_zoo import ElasticLink


def test_reactnet_a_matches_its_published_cost():
    # ReActNet (Liu et al. 2020), Table: 4.82e9 BOPs, 0.12e8 FLOPs, 0.87e8 OPs.
    cost = el_zoo.profile(el_zoo.load("reactnet_a"))
    assert cost["bops"] == pytest.approx(4.82e9, rel=0.02)
    assert cost["flops"] == pytest.approx(0.12e8, rel=0.02)
    assert cost["ops"] == pytest.approx(0.87e8, rel=0.02)


def test_resnet18_matches_bi_real_net_18():
    # Bi-Real Net-18 (Liu et al. 2018): 1.68e9 BOPs, 1.63e8 OPs.
    cost = el_zoo.profile(el_zoo.load("resnet18"))
    assert cost["bops"] == pytest.approx(1.68e9, rel=0.02)
    assert cost["ops"] == pytest.approx(1.63e8, rel=0.02)


def hand_counted_model(link):
    x = tf.keras.Input((8, 8, 4))
    y = lq.layers.QuantConv2D(16, 3, padding="same", input_quantizer="ste_sign",
                              kernel_quantizer="ste_sign", use_bias=False)(x)
    if link:
        y = ElasticLink()([x, y])
    y = tf.keras.layers.Conv2D(2, 1, use_bias=False)(y)
    return tf.keras.Model(x, y)


def test_hand_counted_costs():
    plain = el_zoo.profile(hand_counted_model(link=False))
    assert plain["binary_params"] == 3 * 3 * 4 * 16
    assert plain["float_params"] == 16 * 2
    assert plain["bops"] == 8 * 8 * 3 * 3 * 4 * 16
    assert plain["flops"] == 8 * 8 * 16 * 2
    assert plain["size_bits"] == 576 + 32 * 32
    linked = el_zoo.profile(hand_counted_model(link=True))
    assert linked["el_params"] == 16
    assert linked["el_flops"] == 8 * 8 * 16  # Expand 4 -> 16 by tiling, one scaled add each
    assert linked["ops"] == plain["ops"] + linked["el_flops"]


@pytest.mark.parametrize("family", el_zoo.registry.families(include_research=False))
def test_el_costs_little(family):
    plain = el_zoo.profile(el_zoo.load(family))
    linked = el_zoo.profile(el_zoo.load(el_zoo.registry.elastic_link_twin(family)))
    assert linked["bops"] == plain["bops"]
    assert 0 < linked["params"] - plain["params"] < 0.01 * plain["params"]
    assert 0 < linked["ops"] - plain["ops"] < 0.35 * plain["ops"]


def test_profile_needs_a_fixed_input_size():
    model = el_zoo.load("resnet18", include_top=False, stem="cifar")
    with pytest.raises(ValueError, match="needs a fixed input size"):
        el_zoo.profile(model)
