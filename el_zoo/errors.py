"""Errors el_zoo raises for problems a user can fix, beyond bad arguments (ValueError) and
files (OSError). This module imports nothing, so the command line can catch them cheaply."""


class ElZooError(Exception):
    """An error whose message says what went wrong and what to do; el-zoo prints it as one
    line, without a traceback."""


class ConversionMismatch(ElZooError, RuntimeError):
    """The converted TFLite model does not agree with the Keras model (a RuntimeError, as
    before it had its own class)."""
