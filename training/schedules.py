"""Learning-rate schedules of a recipe's stages, and their continuation after a restart."""

from el_zoo._keras import keras


class ContinuedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule`` from step ``offset`` on.

    Why: a run restarted from committed weights at epoch E of its recipe has a fresh
    optimizer, whose step count starts at 0 so that Adam's bias correction treats its
    zeroed moments as new (at step E x steps they would be taken as settled, and the first
    updates would be several times too large); the learning rate continues where the
    recipe's schedule was at epoch E.
    """

    def __init__(self, schedule, offset):
        super().__init__()
        self.schedule, self.offset = schedule, offset

    def __call__(self, step):
        return self.schedule(step + self.offset)

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule),
                "offset": self.offset}


def learning_rate(stage, steps_per_epoch, start_epoch=0):
    """A stage's schedule; ``start_epoch`` > 0 continues it after that epoch (a restart)."""
    total = max(1, stage["epochs"] * steps_per_epoch)
    warmup = stage["warmup_epochs"] * steps_per_epoch
    if stage["schedule"] == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else stage["lr"], total - warmup, warmup_target=stage["lr"] if warmup else None,
            warmup_steps=warmup)
    elif stage["schedule"] == "linear":
        schedule = keras.optimizers.schedules.PolynomialDecay(stage["lr"], total, 0.0, power=1.0)
    else:
        raise ValueError(f"unknown schedule {stage['schedule']!r}; use 'cosine' or 'linear'.")
    return ContinuedSchedule(schedule, start_epoch * steps_per_epoch) if start_epoch else schedule


def lr_after(stage, epoch):
    """The learning rate ``stage``'s schedule gives after ``epoch`` of its epochs (at the
    first step of the next one; the same at any number of steps per epoch, as a schedule
    follows the fraction of the stage done): what a restart at that epoch trains at."""
    return float(learning_rate(stage, 1)(epoch))
