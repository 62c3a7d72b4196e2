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


def timed(*round_medians):
    return {"median": float(np.median(round_medians)), "p90": max(round_medians),
            "round_medians": list(round_medians)}


def twins_result():
    """What benchmark_model returns, with times in ms that read as no ratio (123.4 ms)."""
    def measured(name, scale):
        return {"name": name, "size_bytes": int(2e6 * scale), "peak_memory_bytes": 5e6,
                **{f"latency_ms_{n}t": timed(123.4 * scale, 150.6 * scale, 141.2 * scale)
                   for n in benchmark.THREADS}}

    return {"model": measured("resnet18_el", 2.0), "no_el": measured("resnet18", 1.9),
            "float": measured("resnet18_el (float)", 1.0), "ratios": {"size_vs_float": 2.0},
            "method": "3 rounds", "note": benchmark.timing_note("x86_64")}


def test_a_benchmark_table_gives_x86_latency_only_as_ratios():
    # el-zoo benchmark NAME printed "1 thread median / p90 (ms)" of each twin: LCE has no
    # optimised x86 kernels, so an x86 time is no ARM latency; only ratios are shown there
    table = benchmark.to_table(twins_result(), machine="x86_64")
    assert " ms" not in table and "(ms" not in table
    assert "123" not in table and "150" not in table  # no time of any round
    assert "| resnet18_el | 4.00 | 2.00x | 2.00x | 5.0 | - |" in table
    assert "| resnet18 | 3.80 | 1.90x | 1.90x | 5.0 | - |" in table
    assert "| resnet18_el (float) | 2.00 | 1.00x | 1.00x | 5.0 | - |" in table
    assert "not ARM latencies" in table


def test_on_arm_a_benchmark_table_gives_times_too():
    table = benchmark.to_table(twins_result(), machine="aarch64")
    assert "| resnet18_el | 4.00 | 2.00x | 2.00x | 282.40 / 301.20 | 282.40 / 301.20 |" in table
    assert "reference kernels" not in table.splitlines()[0]


def test_a_ratio_cell_gives_the_range_over_rounds_where_there_is_one():
    assert benchmark.ratio_cell([2.0, 2.5, 1.5]) == "2.00x (1.50-2.50)"
    assert benchmark.ratio_cell([1.0, 1.0]) == "1.00x"


def test_reference_kernels_run_everywhere_but_on_arm():
    assert benchmark.reference_kernels("x86_64") and benchmark.reference_kernels("AMD64")
    assert not benchmark.reference_kernels("aarch64") and not benchmark.reference_kernels("arm64")
    assert "not ARM latencies" not in benchmark.timing_note("aarch64")
