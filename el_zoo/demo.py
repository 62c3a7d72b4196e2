"""The main job's demo: a zoo model from build to LCE interpreter, on real images."""

import time

import numpy as np

from el_zoo import data
from el_zoo.benchmark import float_tflite, float_twin, interleaved_latency_ms, median_ratio
from el_zoo.builder import load
from el_zoo.convert import convert, verify
from el_zoo.model_record import class_names_of
from el_zoo.profile import cost_line, profile
from el_zoo.registry import join_name, list_models

DEMO_MODEL = "resnet26_el"
DEMO_CONFIG = {"input_shape": (32, 32, 3), "stem": "cifar", "classes": 10,
               "width_multiplier": 0.25}


def _demo_images(data_dir, class_names=None, count=16):
    """Real CIFAR-10 test images when a data folder is available, else random pixels.
    Their labels index ``class_names`` (the model's), matched by class folder name, when
    given: by folder position, a folder of only ``cat/`` and ``dog/`` was scored as
    airplane and automobile."""
    try:
        images, labels, folders = data.load_split("cifar10", "test", data_dir=data_dir,
                                                  limit=count)
    except (ValueError, FileNotFoundError) as error:
        print(f"note: no CIFAR-10 here ({error}); using random pixels instead")
        rng = np.random.default_rng(0)
        return rng.uniform(0, 255, (count, 32, 32, 3)).astype(np.float32), None, "random pixels"
    if class_names:
        labels = data.labels_by_class_name(labels, folders, class_names, "cifar10/test")
    return images.astype(np.float32), labels, "CIFAR-10 test images (lossy JPEG copy)"


def _class_names(model):
    return class_names_of(model) or [f"class {i}" for i in range(model.output_shape[-1])]


def run_demo(data_dir=None):
    pretrained = list_models(join_name(DEMO_MODEL, "cifar10"), pretrained=True)
    if pretrained:
        model, what = load(pretrained[0]), f"{pretrained[0]} (published weights)"
    else:
        model = load(DEMO_MODEL, **DEMO_CONFIG)
        what = f"{DEMO_MODEL} (random weights: no published weights in this checkout yet)"
    cost = profile(model)
    print(f"model: {what}, input {model.input_shape[1:]}")
    print(f"  {cost_line(cost)}")
    images, labels, source = _demo_images(data_dir, class_names_of(model))
    probabilities = model.predict(images, verbose=0)
    names = _class_names(model)
    print(f"Keras predictions for {len(images)} {source}:")
    for i, row in enumerate(probabilities[:8]):
        truth = f" (true: {names[labels[i]]})" if labels is not None else ""
        print(f"  image {i}: {names[row.argmax()]} {row.max():.0%}{truth}")
    if labels is not None:
        print(f"  top-1 correct on {np.mean(probabilities.argmax(-1) == labels):.0%} of "
              f"the {len(images)} images")

    started = time.time()
    flatbuffer = convert(model)
    print(f"converted with Larq Compute Engine in {time.time() - started:.0f} s: "
          f"{len(flatbuffer) / 1e6:.2f} MB .tflite")
    parity = verify(flatbuffer, model, images)
    print(f"LCE interpreter vs Keras: top-1 agreement {parity['top1_agreement']:.0%}, "
          f"max |diff| {parity['max_abs_diff']:.2e} over {parity['images']} images")
    print(latency_line(flatbuffer, float_tflite(float_twin(model))))
    return 0 if parity["top1_agreement"] >= 0.99 else 1


def latency_line(flatbuffer, float_flatbuffer, rounds=3, runs=10):
    """The demo's latency: the converted model's against its float twin's, timed in turns
    (``el_zoo.benchmark``), as a ratio. Why not milliseconds: LCE has no optimised x86
    kernels, so an x86 time read as a phone's (the demo printed "4.9 ms") says nothing of
    ARM; only ratios are reported from x86."""
    timed = interleaved_latency_ms({"model": flatbuffer, "float": float_flatbuffer},
                                   threads=1, rounds=rounds, runs=runs)
    ratio = median_ratio(timed["model"], timed["float"])
    return (f"x86 latency: {ratio:.2f}x its float twin's (binarization off; 1 thread, "
            f"{rounds} rounds of {runs} runs in turn). LCE has no optimised x86 kernels: an "
            "x86 ratio, not an ARM latency or speed-up.")
