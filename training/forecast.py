"""What a model's accuracy curve predicts it would take to reach a target it misses.

The curve's points are the model's top-1 where its learning-rate schedules ended, at one
width: runs of different lengths, and the runs of a chain continued with more epochs
(``--restart-from``). Accuracies in the middle of a schedule are left out: under a cosine
schedule they sit below what the same epochs give when the schedule ends there.

The fit: top-1 error = c * epochs ** -k, by least squares on log error against log epochs.
It has no floor, and a net of one width has one (what its capacity can hold), so once the
curve bends it predicts too few epochs: read its answer as a lower bound, drawn from few
points.
"""

import math
from typing import NamedTuple


class Forecast(NamedTuple):
    """``epochs`` predicted to reach the target; ``exponent``: k in error ~ epochs ** -k;
    ``points``: the (epochs, top-1) fitted, in epoch order."""
    epochs: float
    exponent: float
    points: tuple


class NoForecast(NamedTuple):
    """Why the points predict nothing: "one length" (fewer than two epoch counts), "flat"
    (the error does not fall with epochs), "reached" (a point already meets the target) or
    "fell short" (the fit puts the target at or before the longest schedule, which missed
    it: the curve flattens faster than the fit)."""
    reason: str
    points: tuple


def epochs_to_reach(points, target):
    """A ``Forecast`` of the epochs at which top-1 reaches ``target`` (a fraction), from
    ``points``: (epochs, top-1) pairs at the ends of schedules; else a ``NoForecast``."""
    points = tuple(sorted(points))
    if any(top1 >= target for _, top1 in points):
        return NoForecast("reached", points)
    if len({epochs for epochs, _ in points}) < 2:
        return NoForecast("one length", points)
    xs = [math.log(epochs) for epochs, _ in points]
    ys = [math.log(1.0 - top1) for _, top1 in points]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys))
             / sum((x - x_mean) ** 2 for x in xs))
    if slope >= 0:
        return NoForecast("flat", points)
    epochs = math.exp(x_mean + (math.log(1.0 - target) - y_mean) / slope)
    if epochs <= points[-1][0]:  # e.g. 18 epochs 80 %, 40 epochs 79 %: 80.5 % "at 40"
        return NoForecast("fell short", points)
    return Forecast(epochs, -slope, points)
