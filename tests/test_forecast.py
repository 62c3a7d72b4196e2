"""training.forecast: the epochs an accuracy curve predicts a target needs."""

import math

import pytest

from training import forecast


def test_a_power_law_curve_is_recovered_and_extrapolated():
    # error = 0.5 * epochs ** -0.5: 10 epochs 84.19 %, 40 epochs 92.09 %; 95 % at 100 epochs
    points = [(epochs, 1 - 0.5 * epochs ** -0.5) for epochs in (40, 10)]
    result = forecast.epochs_to_reach(points, 0.95)
    assert result.exponent == pytest.approx(0.5)
    assert result.epochs == pytest.approx(100.0)
    assert result.points == tuple(sorted(points))


def test_more_than_two_points_are_fitted_by_least_squares():
    # log error exactly on a line except one point above and one below by the same amount
    points = [(epochs, 1 - 0.5 * epochs ** -0.5 * factor)
              for epochs, factor in ((10, 1.0), (20, math.e ** 0.1), (40, math.e ** -0.1),
                                     (80, 1.0))]
    result = forecast.epochs_to_reach(points, 0.95)
    assert result.epochs == pytest.approx(100.0, rel=0.1) and result.epochs != pytest.approx(100.0)


@pytest.mark.parametrize("points, target, reason", [
    ([(18, 0.785)], 0.88, "one length"),
    ([(18, 0.785), (18, 0.79)], 0.88, "one length"),
    ([(18, 0.785), (40, 0.78)], 0.88, "flat"),
    ([(18, 0.785), (40, 0.785)], 0.88, "flat"),
    ([(18, 0.785), (40, 0.89)], 0.88, "reached"),
    # the fit puts 80.5 % at 39.7 epochs, but the 40-epoch schedule ended at 79 %
    ([(8, 0.70), (18, 0.80), (40, 0.79)], 0.805, "fell short"),
])
def test_points_that_cannot_predict_say_why(points, target, reason):
    result = forecast.epochs_to_reach(points, target)
    assert isinstance(result, forecast.NoForecast) and result.reason == reason
