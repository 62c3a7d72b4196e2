"""The time a training process spent stopped (``kill -STOP`` while the machine ran tests or
benchmarks, a suspended machine), which its recorded training times leave out: an epoch
that sat stopped for an hour trained no slower than the others."""

import functools
import threading
import time

# The watcher's clock: Linux's CLOCK_BOOTTIME runs on while the machine is suspended, where
# time.monotonic (CLOCK_MONOTONIC) stands still, so a suspend would make no wake-up late.
BOOT_CLOCK = (functools.partial(time.clock_gettime, time.CLOCK_BOOTTIME)
              if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic)


class StoppedTime:
    """Seconds this process has been stopped since it was created, as a daemon thread sees
    them: it wakes every ``interval`` seconds, and a wake-up later than ``slack`` seconds
    past its due time means the process did not run in between, for as long as it was late.
    A busy machine delays a wake-up by milliseconds (TensorFlow releases the GIL in its
    ops); a stopped process, by as long as it was stopped.

    Arguments:
        interval: seconds between wake-ups.
        slack: lateness of a wake-up up to which it is not counted as a stop.
        clock, sleep: the monotonic clock (``BOOT_CLOCK``) and the sleep (``time.sleep``)
            the thread uses.

    Example:
        ```python
        stopped = StoppedTime()
        before = stopped.seconds()
        ...  # an epoch
        paused = stopped.seconds() - before
        ```
    """

    def __init__(self, interval=1.0, slack=5.0, clock=BOOT_CLOCK, sleep=time.sleep):
        self.interval, self.slack, self._clock, self._sleep = interval, slack, clock, sleep
        self._stopped, self._lock = 0.0, threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="stopped-time", daemon=True)
        self._thread.start()

    def _watch(self):
        due = self._clock() + self.interval
        while True:
            self._sleep(max(0.0, due - self._clock()))
            late = self._clock() - due
            if late > self.slack:
                with self._lock:
                    self._stopped += late
            due = self._clock() + self.interval

    def seconds(self):
        """Seconds stopped so far."""
        with self._lock:
            return self._stopped


@functools.lru_cache(maxsize=None)
def process_stopped_time():
    """This process's one ``StoppedTime``, started on first use (a training run's start)."""
    return StoppedTime()


class RunningTime:
    """Wall seconds since ``restart()`` (or creation) without the seconds the process sat
    stopped in between (``StoppedTime``).

    Arguments:
        stopped: the process's ``StoppedTime`` (``process_stopped_time()``).
        clock: the wall clock (``time.time``).

    Example:
        ```python
        epoch = RunningTime()
        ...  # an epoch
        seconds, paused = epoch.seconds()
        ```
    """

    def __init__(self, stopped=None, clock=time.time):
        self.stopped, self._clock = stopped or process_stopped_time(), clock
        self.restart()

    def restart(self):
        self.started, self.stopped_before = self._clock(), self.stopped.seconds()

    def seconds(self):
        """(seconds the process ran since the start, seconds it sat stopped)."""
        paused = self.stopped.seconds() - self.stopped_before
        return self._clock() - self.started - paused, paused
