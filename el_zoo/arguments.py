"""What el_zoo's functions take as a number: the one rule their argument checks share."""

import numbers


def is_number(value, *, whole=False):
    """Whether ``value`` is a number, or with ``whole`` a whole number: numpy's too
    (``np.float32(0.5)`` is no ``float``, ``np.int64(3)`` no ``int``: values taken from
    arrays), never a bool (Python counts ``True`` as 1; no caller means a count or a scale
    by it)."""
    kind = numbers.Integral if whole else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)
