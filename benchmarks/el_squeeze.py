"""An experiment on Elastic-Link's training cost: its channel Squeeze as a constant matmul.

    python benchmarks/el_squeeze.py --out reports/el_squeeze.md

ElasticLink averages groups of input channels (reshape + mean) to match a conv with fewer
output channels. On CPU a mean over a minor axis of 2-4 channels, and its gradient, looked
like the cause of EL's training overhead (reports/train_throughput.md), so this script
tries the same numbers as one matmul with a constant averaging matrix. It measures training
throughput of each family's plain twin, its EL model as the library computes it (reshape +
mean) and with the matmul patched in, in one process, one thread, alternating timed windows
of ``--steps`` train steps on a fixed batch (so drifting machine load hits all three
alike), and reports medians of the per-window ratios to the plain twin. The library keeps
reshape + mean unless this shows a clear gain (it has not so far: see reports/el_squeeze.md).
"""

import argparse
import json
import time

from el_zoo.provenance import report_path
from el_zoo.registry import elastic_link_twin, families


def squeezing_families():
    """The registry's families (research variants aside) whose model with Elastic-Link has a
    channel Squeeze (a link averaging input channels; resnet18's links have none)."""
    import el_zoo
    from el_zoo.layers import ElasticLink

    def squeezes(family):
        model = el_zoo.load(elastic_link_twin(family), input_shape=(32, 32, 3), stem="cifar",
                            classes=10)
        return any(isinstance(layer, ElasticLink) and layer.group_size > 1
                   for layer in model.layers)

    return [family for family in families(include_research=False) if squeezes(family)]


def check_same_numbers(mean_path, matmul_path):
    """The patched Squeeze must compute what the library computes."""
    import numpy as np
    import tensorflow as tf
    from el_zoo.layers import ElasticLink

    for channels_in, channels_out in ((8, 2), (6, 4), (16, 4), (4, 12)):
        x = tf.random.normal((2, 4, 4, channels_in))
        link = ElasticLink()
        link.build([x.shape, (2, 4, 4, channels_out)])
        np.testing.assert_allclose(matmul_path(link, x), mean_path(link, x), atol=1e-5)


def measure(family, windows, steps, batch_size):
    import el_zoo
    import numpy as np
    import tensorflow as tf
    from el_zoo.layers import ElasticLink

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    mean_path = ElasticLink._match_channels

    def matmul_path(self, x):
        if self.group_size == 1:
            return mean_path(self, x)  # Expand only: a tile, no mean to replace
        matrix = np.zeros((self.channels_in, self.channels_out), np.float32)
        for channel in range(self.tile_factor * self.channels_in):
            matrix[channel % self.channels_in, channel // self.group_size] += 1 / self.group_size
        return tf.einsum("bhwc,cd->bhwd", x, tf.constant(matrix))

    check_same_numbers(mean_path, matmul_path)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, (batch_size,))
    linked = elastic_link_twin(family)
    variants = {"plain": (family, matmul_path), "EL, reshape + mean": (linked, mean_path),
                "EL, matmul": (linked, matmul_path)}
    models = {}
    for label, (name, path) in variants.items():
        ElasticLink._match_channels = path  # read when the train step is traced, below
        tf.keras.utils.set_random_seed(0)
        model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                            width_multiplier=0.25)
        model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        for _ in range(3):
            model.train_on_batch(images, labels)
        models[label] = model
    ElasticLink._match_channels = mean_path
    speeds = {label: [] for label in models}
    for _ in range(windows):
        for label, model in models.items():
            started = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(images, labels)
            speeds[label].append(batch_size * steps / (time.perf_counter() - started))
    plain = np.array(speeds["plain"])
    return {label: {"img_per_s": float(np.median(v)),
                    "ratio_to_plain": float(np.median(np.array(v) / plain)),
                    "ratio_range": [float(np.min(np.array(v) / plain)),
                                    float(np.max(np.array(v) / plain))]}
            for label, v in speeds.items()}


def to_markdown(results, info, args):
    lines = ["# EL's channel Squeeze in training: reshape + mean vs a constant matmul", "",
             f"`{info['command']}` at commit {info['git_commit']} on {info['machine']}, "
             f"{info['date']} ({info['wall_time_s'] / 60:.0f} min). One thread, batch "
             f"{args.batch_size}, width 0.25, 32x32, {args.windows} alternating windows of "
             f"{args.steps} steps; medians (ranges over windows). Note: {args.note}", "",
             "| family | plain img/s | EL (reshape + mean) / plain | EL (matmul) / plain |",
             "|---|---|---|---|"]
    for family, r in results.items():
        old, new = r["EL, reshape + mean"], r["EL, matmul"]
        lines.append(
            f"| {family} | {r['plain']['img_per_s']:.0f} | {old['ratio_to_plain']:.2f} "
            f"({old['ratio_range'][0]:.2f}-{old['ratio_range'][1]:.2f}) | "
            f"{new['ratio_to_plain']:.2f} ({new['ratio_range'][0]:.2f}-"
            f"{new['ratio_range'][1]:.2f}) |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=report_path("el_squeeze.md"))
    parser.add_argument("--families", nargs="+", default=None,
                        help="default: every family whose links Squeeze channels")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--note", default="none", help="conditions worth recording")
    args = parser.parse_args(argv)
    import el_zoo  # noqa: F401  (sets up Keras 2 before TensorFlow loads)
    from el_zoo.atomic import write_text_atomically
    from el_zoo.provenance import git_commit, run_info

    started, commit = time.time(), git_commit()
    results = {f: measure(f, args.windows, args.steps, args.batch_size)
               for f in args.families or squeezing_families()}
    info = run_info(started, commit)
    write_text_atomically(args.out, to_markdown(results, info, args))
    write_text_atomically(args.out.replace(".md", ".json"),
                          json.dumps({"results": results, **info}, indent=1) + "\n")
    print(open(args.out).read())


if __name__ == "__main__":
    main()
