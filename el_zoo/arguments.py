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
