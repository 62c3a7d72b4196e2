"""EL's extra parameters and OPs for every family (research variants too), as a Markdown table.

    python benchmarks/el_cost.py                              # print the table
    python benchmarks/el_cost.py --doc docs/elastic_link.md   # rewrite the page's table

Counts come from el_zoo.profile at the ImageNet configuration (224x224, 1000 classes,
width 1.0) and at the CIFAR configuration (32x32, cifar stem, 10 classes, width 1.0).
"BNN / float size" is the plain model's size over its float twin's (every weight float32):
1/32 if every weight were binary, so it shows how much of a family stays real-valued.
"""

import argparse
import re
from pathlib import Path

import el_zoo
from el_zoo.registry import elastic_link_twin, families

FAMILIES = tuple(families(include_research=True))
CONFIGS = {
    "224x224": {},
    "32x32 cifar": {"input_shape": (32, 32, 3), "stem": "cifar", "classes": 10},
}
START, END = "<!-- el-cost:start -->", "<!-- el-cost:end -->"
DOC = "docs/elastic_link.md"  # the page whose table this generates (a test keeps it current)


HEADER = (
    "| family | input | params | + EL params | OPs | + EL OPs | size (MB) | + EL size "
    "| BNN / float size |",
    "|---|---|---|---|---|---|---|---|---|",
)


def built_profile(name, config):
    """``el_zoo.profile`` of model ``name`` built with ``config``: what the table counts."""
    return el_zoo.profile(el_zoo.load(name, **config))


def family_rows(family, profile_of=built_profile):
    """The table's rows of ``family``, one per configuration of ``CONFIGS``.

    Arguments:
        family: a registered family (its model without Elastic-Link).
        profile_of: ``profile_of(name, config)`` gives the profile of model ``name`` built
            with ``config``; the tests pass a cached one (the builds are most of the cost).
    """
    rows = []
    for label, config in CONFIGS.items():
        plain = profile_of(family, config)
        linked = profile_of(elastic_link_twin(family), config)
        extra_params = linked["params"] - plain["params"]
        extra_ops = linked["ops"] - plain["ops"]
        rows.append(
            f"| {family} | {label} | {plain['params'] / 1e6:.2f}M | "
            f"+{extra_params:,} ({100 * extra_params / plain['params']:.2f} %) | "
            f"{plain['ops']:.3g} | +{extra_ops:.3g} ({100 * extra_ops / plain['ops']:.1f} %) | "
            f"{plain['size_mb']:.2f} | +{100 * (linked['size_mb'] / plain['size_mb'] - 1):.2f} % | "
            f"{plain['size_bits'] / (32 * plain['params']):.3f} |"
        )
    return rows


def cost_table(profile_of=built_profile):
    """The Markdown table: ``HEADER``, then ``family_rows`` of every family in ``FAMILIES``."""
    return "\n".join([*HEADER, *(row for family in FAMILIES
                                 for row in family_rows(family, profile_of))])


def replace_block(text, table):
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {START} ... {END} block to replace")
    return pattern.sub(lambda _: f"{START}\n{table}\n{END}", text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doc", type=Path, default=None,
                        help=f"rewrite the table between the markers of this page ({DOC})")
    args = parser.parse_args()
    table = cost_table()
    if args.doc:
        args.doc.write_text(replace_block(args.doc.read_text(), table))
    print(table)


if __name__ == "__main__":
    main()
