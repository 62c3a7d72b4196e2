"""Measures ElasticLink's options on CIFAR-10 to choose the defaults of the `_el` models.

Trains the same small binarized net (default: resnet26 at width 0.25, cifar stem) under an
identical budget once without EL and once per EL variant (position relative to the conv's
batch normalisation, gamma's initial value, per-channel vs scalar gamma, XNOR activation
scaling), then evaluates each on the full CIFAR-10 test split (the lossy JPEG copy) and
writes a Markdown table with the command, commit, machine and wall time.

    python training/el_ablation.py --data-dir ../shared/data --out reports/el_ablation.md
"""

import argparse
import json
import time

import el_zoo
import tensorflow as tf
from el_zoo import data
from el_zoo.nets._blocks import set_standardization
from el_zoo.provenance import (markdown_footer, report_commit_or_exit, report_path, run_info,
                               write_report)
from el_zoo.registry import elastic_link_twin, families

VARIANTS = {
    "no EL": None,
    "after BN, gamma=1 (naive)": {"position": "after_bn", "gamma_initializer": 1.0},
    "after BN, gamma=0.25": {"position": "after_bn", "gamma_initializer": 0.25},
    "before BN, gamma=1": {"position": "before_bn", "gamma_initializer": 1.0},
    "before BN, gamma=0.25": {"position": "before_bn", "gamma_initializer": 0.25},
    "before BN, scalar gamma=1": {"position": "before_bn", "gamma": "scalar",
                                  "gamma_initializer": 1.0},
    "before BN, gamma=1, XNOR scaling": {"position": "before_bn", "gamma_initializer": 1.0,
                                         "activation_scaling": True},
}


def parse_options(argv=None):
    """The command line's parser and its options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="resnet26", choices=families(include_research=False),
                        help="a family: its model without Elastic-Link, the variants its twin")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out", default=report_path("el_ablation.md"))
    return parser, parser.parse_args(argv)


def train_and_evaluate(args, elastic_link, train, test):
    tf.keras.utils.set_random_seed(args.seed)
    name = args.model if elastic_link is None else elastic_link_twin(args.model)
    extra = {} if elastic_link is None else {"elastic_link": elastic_link}
    model = el_zoo.load(name, input_shape=(32, 32, 3), stem="cifar", classes=10,
                        width_multiplier=args.width, **extra)
    set_standardization(model, "cifar10")
    steps = args.epochs * (len(train[0]) // args.batch_size)
    schedule = tf.keras.optimizers.schedules.CosineDecay(args.lr, steps)
    model.compile(tf.keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy",
                  ["accuracy"])
    train_ds = data.array_dataset(*train, batch_size=args.batch_size, training=True,
                                  augment="cifar", seed=args.seed)
    started = time.time()
    model.fit(train_ds, epochs=args.epochs, verbose=2)
    train_time = time.time() - started
    _, top1 = model.evaluate(data.array_dataset(*test, batch_size=256, training=False),
                             verbose=0)
    return {"top1": float(top1), "train_time_s": train_time,
            "img_per_s": steps * args.batch_size / train_time,
            "params": el_zoo.profile(model)["params"]}


def to_markdown(args, results, info):
    baseline = results.get("no EL")
    lines = [
        "# ElasticLink ablation",
        "",
        f"`{args.model}` at width {args.width}, cifar stem, 32x32; trained on the first "
        f"{args.train_images} images of CIFAR-10's train split (class-balanced) for "
        f"{args.epochs} epochs, Adam lr {args.lr} with cosine decay, batch {args.batch_size}, "
        f"pad-crop + flip, seed {args.seed}; top-1 on all 10,000 test images. CIFAR-10 here is "
        "a lossy JPEG copy (quality 75): accuracy on it is expected slightly below the PNG "
        "original's (not measured here). "
        "One seed per variant: differences under about one point are within noise. "
        "Throughput here is indicative only: other jobs may have shared the machine.",
        "",
        "| variant | top-1 (%) | vs no EL | train img/s | throughput vs no EL |",
        "|---|---|---|---|---|",
    ]
    for variant, r in results.items():
        delta = f"{100 * (r['top1'] - baseline['top1']):+.1f}" if baseline else "-"
        speed = f"{r['img_per_s'] / baseline['img_per_s']:.2f}x" if baseline else "-"
        lines.append(f"| {variant} | {100 * r['top1']:.1f} | {delta} | "
                     f"{r['img_per_s']:.0f} | {speed} |")
    lines += markdown_footer(info)
    return "\n".join(lines)


def main(argv=None):
    parser, args = parse_options(argv)
    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    images, labels, _ = data.load_split("cifar10", "train", data_dir=args.data_dir,
                                        limit=args.train_images)
    test = data.load_split("cifar10", "test", data_dir=args.data_dir)[:2]
    results = {}
    for variant in args.variants:
        print(f"== {variant}", flush=True)
        results[variant] = train_and_evaluate(args, VARIANTS[variant], (images, labels), test)
        print(json.dumps(results[variant]), flush=True)
        info = run_info(started, commit)
        write_report(args.out, to_markdown(args, results, info), {"results": results, **info})


if __name__ == "__main__":
    main()
