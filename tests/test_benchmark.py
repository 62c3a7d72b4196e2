"""Latency timing: models are timed in turns, and ratios survive a transient slowdown."""

from types import SimpleNamespace

import numpy as np

from el_zoo import benchmark


class FakeClock:
    """perf_counter for fake interpreters: each predict advances it by the model's cost,
    three times that during the whole second round (after the 3 warm-up runs of each of
    two models and a first round of 4 runs of each)."""

    SLOW_CALLS = range(2 * 3 + 2 * 4 + 1, 2 * 3 + 2 * 8 + 1)  # 1-based predict calls

    def __init__(self):
        self.now, self.predicts = 0.0, 0

    def __call__(self):
        return self.now

    def advance(self, cost_s):
        self.predicts += 1
        self.now += cost_s * (3.0 if self.predicts in self.SLOW_CALLS else 1.0)


class FakeInterpreter:
    """Stands in for the LCE interpreter: a fixed cost per predict, on the fake clock."""

    def __init__(self, role, cost_s, clock, calls):
        self.role, self.cost_s, self.clock, self.calls = role, cost_s, clock, calls
        self.input_shapes, self.input_types = [(1, 4, 4, 3)], [np.float32]

    def predict(self, image):
        self.calls.append(self.role)
        self.clock.advance(self.cost_s)


def fake_interpreters(monkeypatch, costs):
    clock, calls = FakeClock(), []
    monkeypatch.setattr(benchmark.time, "perf_counter", clock)
    monkeypatch.setattr(benchmark, "_interpreter",
                        lambda flatbuffer, threads: FakeInterpreter(
                            flatbuffer.decode(), costs[flatbuffer.decode()], clock, calls))
    return calls


def test_models_are_timed_in_turns_round_by_round(monkeypatch):
    calls = fake_interpreters(monkeypatch, {"model": 0.011, "no_el": 0.010})
    timings = benchmark.interleaved_latency_ms({"model": b"model", "no_el": b"no_el"},
                                               rounds=3, runs=4, warmup=3)
    timed = calls[2 * 3:]  # after the warm-up runs
    assert timed == (["model"] * 4 + ["no_el"] * 4) * 3
    assert [len(t["round_medians"]) for t in timings.values()] == [3, 3]


def test_ratio_is_the_median_of_per_round_ratios_so_a_transient_slowdown_cancels(monkeypatch):
    fake_interpreters(monkeypatch, {"model": 0.011, "no_el": 0.010})
    timings = benchmark.interleaved_latency_ms({"model": b"model", "no_el": b"no_el"},
                                               rounds=3, runs=4, warmup=3)
    # The slow round shows in the model's own latencies ...
    np.testing.assert_allclose(timings["model"]["round_medians"], [11.0, 33.0, 11.0])
    # ... but not in the EL overhead, since both models were timed inside it.
    results = {"model": {"latency_ms_1t": timings["model"]},
               "no_el": {"latency_ms_1t": timings["no_el"]}}
    assert abs(benchmark._median_ratio(results, "model", "no_el") - 1.1) < 1e-9


class Stop(Exception):
    pass


def test_the_no_el_twin_is_built_without_the_models_elastic_link_options(monkeypatch):
    built = []
    monkeypatch.setattr(benchmark, "load", lambda name, **config: built.append((name, config)))
    monkeypatch.setattr(benchmark, "convert", lambda model, verify_images: b"")
    monkeypatch.setattr(benchmark, "float_twin", lambda model: (_ for _ in ()).throw(Stop()))
    options = {"position": "after_bn"}
    try:
        benchmark.benchmark_model("mobilenet_v1_el", stem="cifar", elastic_link=options)
    except Stop:
        pass
    assert built == [("mobilenet_v1_el", {"stem": "cifar", "elastic_link": options}),
                     ("mobilenet_v1", {"stem": "cifar"})]


def test_the_float_twin_converts_to_what_keras_computes():
    # float_tflite converts the serving signature alone (el_zoo.convert.serving_saved_model),
    # not the Keras model's whole SavedModel: the file must still compute the model
    from tests.conftest import tiny_binary_model

    model = benchmark.float_twin(tiny_binary_model())
    interpreter = benchmark._interpreter(benchmark.float_tflite(model), threads=1)
    images = np.linspace(0, 255, 2 * 32 * 32 * 3, dtype=np.float32).reshape(2, 32, 32, 3)
    for image in images:
        np.testing.assert_allclose(interpreter.predict(image[None]),
                                   model(image[None], training=False).numpy(), atol=1e-5)


def test_extra_models_are_built_from_the_pair_and_timed_in_the_same_rounds(monkeypatch):
    monkeypatch.setattr(FakeClock, "SLOW_CALLS", range(0))
    costs = {"model": 0.011, "no_el": 0.010, "floor": 0.0105, "float": 0.005}
    calls = fake_interpreters(monkeypatch, costs)
    files = {"mobilenet_v1_el": b"model", "mobilenet_v1": b"no_el", "floor model": b"floor"}
    monkeypatch.setattr(benchmark, "load", lambda name, **config: SimpleNamespace(
        name=name, input_shape=(None, 4, 4, 3)))
    monkeypatch.setattr(benchmark, "convert", lambda model, verify_images: files[model.name])
    monkeypatch.setattr(benchmark, "float_twin", lambda model: model)
    monkeypatch.setattr(benchmark, "float_tflite", lambda model: b"float")
    monkeypatch.setattr(benchmark, "peak_memory_bytes", lambda flatbuffer: 0)
    pairs = []

    def floor(model, no_el):
        pairs.append((model.name, no_el.name))
        return SimpleNamespace(name="floor model")

    results = benchmark.benchmark_model("mobilenet_v1_el", runs=4, rounds=3,
                                        extra={"floor": ("the floor", floor)})
    assert pairs == [("mobilenet_v1_el", "mobilenet_v1")]
    assert results["floor"]["name"] == "the floor"
    timed = calls[4 * 3:4 * 3 + 4 * 4]  # the first round of 1 thread, after warm-up
    assert timed == ["model"] * 4 + ["no_el"] * 4 + ["floor"] * 4 + ["float"] * 4
    ratios = results["ratios"]
    assert abs(ratios["floor_latency_vs_no_el_1t"] - 1.05) < 1e-9
    assert abs(ratios["model_latency_vs_floor_1t"] - 0.011 / 0.0105) < 1e-9


def test_the_no_el_twin_of_a_tag_is_built_at_the_tags_configuration(monkeypatch):
    # a tag builds its published input size, width, stem and classes; the twin got the
    # builder's defaults (224x224, width 1), so `el-zoo benchmark resnet18_el.cifar10`
    # reported the EL overhead against another model
    from el_zoo.model_record import built_config

    configs = {}

    def record(model, verify_images):
        configs[model.name] = built_config(model)
        return b""

    monkeypatch.setattr(benchmark, "convert", record)
    monkeypatch.setattr(benchmark, "float_twin", lambda model: (_ for _ in ()).throw(Stop()))
    try:
        benchmark.benchmark_model("resnet18_el.cifar10")
    except Stop:
        pass
    twin, model = configs["resnet18"], configs["resnet18_el"]
    assert model["input_shape"] == [32, 32, 3] and model["width_multiplier"] == 0.5
    different = {"model", "elastic_link"}
    assert {k: v for k, v in twin.items() if k not in different} == \
        {k: v for k, v in model.items() if k not in different}
