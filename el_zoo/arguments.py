"""What el_zoo's functions take as a number: the rules their argument checks share."""

import math
import numbers


def is_number(value, *, whole=False):
    """Whether ``value`` is a number, or with ``whole`` a whole number: numpy's too
    (``np.float32(0.5)`` is no ``float``, ``np.int64(3)`` no ``int``: values taken from
    arrays), never a bool (Python counts ``True`` as 1; no caller means a count or a scale
    by it)."""
    kind = numbers.Integral if whole else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


def is_positive(value, *, whole=False):
    """Whether ``value`` is a number above 0 and finite (``is_number``; nan and inf are not):
    a count, a size or a scale. el-zoo's ``positive_int`` and ``positive_float`` take the
    same from the command line."""
    return is_number(value, whole=whole) and 0 < value < math.inf


def check_count(value, what, note=""):
    """``value`` is a positive whole number (``is_positive``: numpy's integers too, never a
    bool), else a ValueError naming ``what`` (``note`` follows "whole number") and, for a
    near miss, the int to give (``int_hint``).

    Arguments:
        value: the value given.
        what: what the message starts with (``"limit"``, ``"resnet18_el: classes"``).
        note: what follows "whole number" (``" (a class count)"``).

    Example:
        ```python
        check_count("10", "classes")
        # ValueError: classes must be a positive whole number; got '10' (a string: give
        # the int 10).
        ```
    """
    if not is_positive(value, whole=True):
        raise ValueError(f"{what} must be a positive whole number{note}; got {value!r}"
                         f"{int_hint(value)}.")


def int_hint(value):
    """" (a string: give the int 10)" for ``"10"`` (a count read from a config file or argv),
    " (a float: give the int 4)" for ``4.0`` (a JSON number): the count such a near miss
    stands for; "" for anything else, a bool included. Its type is named because its repr
    reads as the count itself in a message (``classes=10`` for ``"10"``)."""
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            return ""
        return f" (a string: give the int {number})" if number > 0 else ""
    if is_positive(value) and not is_number(value, whole=True) and float(value).is_integer():
        return f" (a float: give the int {int(value)})"
    return ""
