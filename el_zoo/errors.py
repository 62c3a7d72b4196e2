"""Errors el_zoo raises for problems a user can fix, beyond bad arguments (ValueError) and
files (OSError). This module imports nothing, so the command line can catch them cheaply."""


class ElZooError(Exception):
    """An error whose message says what went wrong and what to do; el-zoo prints it as one
    line, without a traceback."""


class ConversionMismatch(ElZooError, RuntimeError):
    """The converted TFLite model does not agree with the Keras model (a RuntimeError, as
    before it had its own class)."""


def with_command_line_message(error, message):
    """``error`` with ``message`` as its ``cli_message``, what ``el-zoo`` prints instead of
    it: where the error's advice is a Python call (``el_zoo.list_models(pretrained=True)``,
    a ``weights=`` path) that the command line neither takes nor runs, ``message`` gives
    the command line's. Returns ``error``, to raise."""
    error.cli_message = message
    return error
