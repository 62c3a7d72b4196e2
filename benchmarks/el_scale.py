"""How large is each Elastic-Link's contribution next to its binary convolution's output?

    python benchmarks/el_scale.py [SOURCE ...] --data-dir DATA --out reports/el_scale.md

A SOURCE is a published ``NAME.TAG`` (default: every published EL model), a training run
folder (its ``metrics.json`` and ``weights.h5``; run with non-default ``--elastic-link``
options are built with them) or a published ``models/NAME.TAG`` folder. On the first ``--images`` (class-balanced) images of the
model's evaluation split, for every ElasticLink it measures the standard deviation of what
the link adds, ``gamma * T(x)``, and of the tensor it is added to (the binary conv's raw
output when the link sits before BN, the normalised one after BN), and reports their ratio
per kind of convolution (1x1, 3x3, depthwise), with the learnt ``|gamma|``. A ratio of a few
per cent means the real-valued path hardly reaches the next layer: the sum of ``fan-in``
products of +-1 values has a standard deviation of about ``sqrt(fan-in)``, which an
unscaled gamma does not match.

The report (``--out``, its JSON beside it) keeps earlier results: training run folders live
outside the repository and do not outlast a machine, so a run is added by measuring it alone
(``python benchmarks/el_scale.py /path/to/run --data-dir DATA``) and the rows of runs that
are gone stay. A source measured again replaces its earlier row (the same SOURCE text), in
its place; new sources come after the earlier ones. Each result keeps the command, commit,
machine, date and ``--images`` that measured it, and the report lists them per command.
Delete the JSON to start over.
"""

import argparse
import time
from pathlib import Path

from el_zoo.provenance import earlier_records, markdown_header, merged_records, report_path


def load_source(source, data_dir, images):
    """(model, display name, EL options text, images as float32)."""
    import el_zoo
    from el_zoo import data
    from el_zoo.elastic_link import ElasticLinkOptions
    from el_zoo.evaluate import preprocessing_of
    from el_zoo.pretrained import published_model

    from training.compare import options_text, read_run_record
    from training.publish import model_config, preprocessing
    from training.run_folder import WEIGHTS_FILE

    folder = Path(source)
    if folder.exists():  # a run folder or a published models/NAME.TAG folder
        training = read_run_record(folder)
        config = model_config(training)
        model = el_zoo.load(training["model"], weights=str(folder / WEIGHTS_FILE),
                            **{**config, "input_shape": tuple(config["input_shape"])})
        recorded = config.get("elastic_link")
        pre = {"dataset": training["dataset"], "split": training["eval_split"],
               **preprocessing(training)}
        name = f"{training['model']} (run {folder.name})"
    else:
        model, pre = el_zoo.load(source), preprocessing_of(source)
        recorded = published_model(source).config.elastic_link
        name = source
    pixels, _, _ = data.load_split(pre["dataset"], pre["split"], data_dir=data_dir,
                                   image_size=pre["resize"], limit=images)
    if pre["crop"]:
        pixels = data.center_crop_batch(pixels, pre["crop"])
    options = ElasticLinkOptions.from_record(recorded)
    return model, name, options_text(options), pixels.astype("float32")


def conv_kind(model, link):
    from el_zoo.builder import CONV_SUFFIX, link_unit

    conv = model.get_layer(link_unit(link.name) + CONV_SUFFIX)
    height, width = conv.kernel_size
    return f"{'depthwise ' if 'Depthwise' in type(conv).__name__ else ''}{height}x{width}"


def link_scales(model, images):
    """One record per ElasticLink: conv kind, std of the link's term and of its partner."""
    import numpy as np
    from el_zoo._keras import keras
    from el_zoo.layers import ElasticLink

    links = [layer for layer in model.layers if isinstance(layer, ElasticLink)]
    if not links:
        raise ValueError(f"{model.name} has no ElasticLink: give an _el model.")
    probe = keras.Model(model.input, [t for link in links for t in link.input])
    tensors = probe.predict(images, batch_size=64, verbose=0)
    records = []
    for index, link in enumerate(links):
        x_real, partner = tensors[2 * index], tensors[2 * index + 1]
        term = link([x_real, np.zeros_like(partner)]).numpy()  # gamma * T(x) alone
        records.append({"link": link.name, "kind": conv_kind(model, link),
                        "partner_std": float(partner.std()), "term_std": float(term.std()),
                        "ratio": float(term.std() / partner.std()),
                        "gamma_abs_mean": float(np.abs(link.gamma.numpy()).mean())})
    return records


def summarise(records):
    """Per conv kind: links, median and range of the ratio, mean |gamma|."""
    import numpy as np

    kinds = {}
    for record in records:
        kinds.setdefault(record["kind"], []).append(record)
    return {kind: {"links": len(group),
                   "ratio_median": float(np.median([r["ratio"] for r in group])),
                   "ratio_min": min(r["ratio"] for r in group),
                   "ratio_max": max(r["ratio"] for r in group),
                   "gamma_abs_mean": float(np.mean([r["gamma_abs_mean"] for r in group]))}
            for kind, group in sorted(kinds.items())}


# The images of the results of a report written before each result kept its own provenance:
# its one command gave no --images, whose default was 256, as its text said.
IMAGES_BEFORE_RESULTS_KEPT_THEIRS = 256


def earlier_results(out):
    """The results of the report already at ``out`` (its JSON), each with the provenance and
    ``--images`` of the command that measured it; none when there is no report yet."""
    return [{"images": IMAGES_BEFORE_RESULTS_KEPT_THEIRS, **result}
            for result in earlier_records(out, "results", "el_scale")]


def measured_by(result):
    """The command, commit, machine and date that measured ``result``."""
    return tuple(result[field] for field in ("command", "git_commit", "machine", "date"))


def to_markdown(results):
    """One table of every result, each row numbered by the command that measured it, then
    those commands."""
    from training.compare import options_naming_line

    commands = {}
    for result in results:
        commands.setdefault(measured_by(result), []).append(result)
    number = {command: index for index, command in enumerate(commands, 1)}
    lines = ["# Elastic-Link's size next to its convolution", "",
             "Generated by `benchmarks/el_scale.py` (its docstring says what is measured). "
             "Ratio = std of `gamma * T(x)` / std of the tensor it is added to, over the first "
             "class-balanced images of each model's evaluation split (CIFAR-10: the lossy JPEG "
             "copy). A row's last column numbers the command that measured it, listed under "
             "Commands with its commit, machine, date and number of images. "
             + options_naming_line(), "",
             "| model | EL options | conv | links | ratio median (min-max) | mean abs(gamma) "
             "| command |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        for kind, row in result["by_kind"].items():
            lines.append(f"| {result['name']} | {result['el_options']} | {kind} | "
                         f"{row['links']} | {100 * row['ratio_median']:.1f} % "
                         f"({100 * row['ratio_min']:.1f}-{100 * row['ratio_max']:.1f} %) | "
                         f"{row['gamma_abs_mean']:.2f} | {number[measured_by(result)]} |")
    return "\n".join([*lines, "", *commands_section(commands.values())]) + "\n"


def commands_section(commands):
    """The report's list of ``commands`` (each, the results it measured), numbered from 1."""
    lines = ["## Commands"]
    for index, (first, *_) in enumerate(commands, 1):
        lines += ["", f"### {index}", "",
                  f"The first {first['images']} images of each evaluation split; wall time "
                  f"{first['wall_time_s'] / 60:.1f} min.", "", *markdown_header(first)]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*",
                        help="published NAME.TAG or run folders (default: every published EL "
                             "model)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--out", default=report_path("el_scale.md"))
    args = parser.parse_args(argv)
    import el_zoo
    from el_zoo.provenance import (RECORD_PROVENANCE, report_commit_or_exit, run_info,
                                   write_report)

    started, commit = time.time(), report_commit_or_exit(parser, args.out)
    try:  # before minutes of measuring
        earlier = earlier_results(args.out)
    except ValueError as error:
        parser.exit(2, f"el_scale: error: {error}\n")
    sources = args.sources or el_zoo.list_models(pretrained=True, elastic_link=True)
    new = []
    for source in sources:
        model, name, options, images = load_source(source, args.data_dir, args.images)
        records = link_scales(model, images)
        new.append({"name": name, "source": source, "el_options": options,
                    "by_kind": summarise(records), "links": records, "images": args.images})
    info = run_info(started, commit)
    provenance = {field: info[field] for field in RECORD_PROVENANCE}
    results = merged_records(earlier, [{**result, **provenance} for result in new],
                             key=lambda result: result["source"])
    print(write_report(args.out, to_markdown(results), {"results": results, **info})
          .read_text())


if __name__ == "__main__":
    main()
