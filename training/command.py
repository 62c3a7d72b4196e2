"""The ``el-zoo train`` command: its options, and how it joins the ``el-zoo`` command line.

The library never imports the ``training`` package (``training`` imports ``el_zoo``, never
the reverse). Instead setup.py registers :func:`add_command` under the entry-point group
``el_zoo.commands``, which ``el-zoo`` reads when it starts; ``python -m training.train``
takes the same arguments. This module loads no TensorFlow (only argparse and the recipe
table), so ``el-zoo --help`` and ``el-zoo train --help`` start at once.
"""

import argparse
import shlex
import sys

from el_zoo.cli import positive_float, positive_int
from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.errors import ElZooError

from training.recipes import RECIPES

NAME = "train"
HELP = ("train a model with a recipe (el-zoo train MODEL --recipe R --output-dir D ...; "
        "el-zoo train --help for every option)")
DESCRIPTION = "Train a zoo model with a recipe (see training/recipes.py)."
STRATEGIES = ("default", "mirrored", "multiworker")


def add_arguments(parser):
    """Adds the trainer's options to ``parser`` and makes :func:`run` its command."""
    parser.add_argument("model", help="a registered model, e.g. resnet26_el (see el-zoo list)")
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    parser.add_argument("--data-dir", default=None, help="data root (default: $EL_ZOO_DATA)")
    parser.add_argument("--output-dir", required=True, help="run folder (resumed if it exists)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="epochs per stage")
    parser.add_argument("--stage-epochs", action="append", default=[], metavar="NAME=N",
                        help="epochs of one stage of the recipe (repeatable), after --epochs")
    # the recipe's numbers (training.recipes.OVERRIDABLE): el-zoo's own types, so that a
    # width or size is refused alike by every el-zoo command (get_recipe checks them again
    # for callers from Python)
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="global batch size")
    parser.add_argument("--width-multiplier", type=positive_float, default=None)
    parser.add_argument("--lr", type=positive_float, default=None, help="peak learning rate")
    parser.add_argument("--image-size", type=positive_int, default=None,
                        help="training resolution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--elastic-link", action="append", default=[], metavar="KEY=VALUE",
                        help="an Elastic-Link option replacing the model's default "
                             "(repeatable), e.g. position=after_bn, gamma_scale=fan_in or "
                             "activation_scaling=true; options: "
                             f"{', '.join(ElasticLinkOptions.names())} (el_zoo."
                             "ElasticLinkOptions describes them); all are recorded in the "
                             "recipe")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default")
    parser.add_argument("--teacher", default=None,
                        help="distil from this model: a zoo NAME.TAG or a saved Keras model "
                             "(a file, or a folder given as a path: ./FOLDER)")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="use only this many (class-balanced) training images")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="evaluate on only this many (class-balanced) images")
    parser.add_argument("--tfds", action="store_true",
                        help="read the data set from TensorFlow Datasets (imagenet -> imagenet2012)")
    parser.add_argument("--stream", action="store_true",
                        help="decode image files on the fly instead of caching arrays "
                             "(default for imagenet)")
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="leave out unreadable image files with a warning")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--segment-minutes", type=minutes, default=None, metavar="N",
                        help="end this invocation cleanly at the first epoch end past N "
                             "minutes, with its checkpoint written; rerunning the same "
                             "command continues the run (a chain of segments: README "
                             "'Long runs')")
    parser.add_argument("--restart-from", default=None, metavar="SOURCE",
                        help="start this new run folder from committed weights, with a "
                             "fresh optimizer, after a run folder was lost: a published "
                             "models/NAME.TAG folder or a finished run folder (continues at "
                             "the epoch it recorded), or a weights .h5 file with "
                             "--restart-epoch (training/restart.py)")
    parser.add_argument("--restart-epoch", type=int, default=None, metavar="N",
                        help="with --restart-from FILE.h5: the epochs of the recipe's last "
                             "stage those weights were trained; the run continues after it")
    parser.add_argument("--verbose", type=int, default=None, choices=[0, 1, 2],
                        help="Keras progress: 1 = progress bar (default on a terminal), "
                             "2 = one line per epoch")
    parser.set_defaults(run=run)
    return parser


def minutes(text):
    """--segment-minutes: a number of minutes, 0 or more (0 ends after every epoch)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes (0 or more)")
    return value


def add_command(commands):
    """Adds ``train`` to el-zoo's subcommands (``commands``, argparse's subparsers): the
    function setup.py registers in the entry-point group ``el_zoo.commands``."""
    add_arguments(commands.add_parser(NAME, help=HELP, description=DESCRIPTION))


def build_parser():
    """The trainer's own command line, for ``python -m training.train``."""
    parser = argparse.ArgumentParser(prog=f"el-zoo {NAME}", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(command=NAME)
    return parser


def parse_args(argv=None):
    """The parsed options of ``python -m training.train ARGUMENTS``, which are those of
    ``el-zoo train ARGUMENTS``; ``arguments`` keeps them as typed (for the run record)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    args.arguments = arguments
    return args


def documented_command(args):
    """The command as documented (``python -m training.train`` takes the same arguments)."""
    return f"el-zoo {NAME} " + shlex.join(args.arguments)


def run(args):
    """Trains, resumes or finishes the run ``args`` describe; 0 when it is complete."""
    from el_zoo.data import streamed_image_errors
    from training.train import train  # loads TensorFlow: only when a run starts, not for --help

    try:
        with streamed_image_errors():  # a bad image met by --stream: one line too
            train(args)
    except ImportError as error:  # an optional package is missing; the message names it
        raise ElZooError(str(error)) from error
    return 0
