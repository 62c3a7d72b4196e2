"""A training process's stopped time (``training.pauses``): what its recorded times leave
out."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from training.logs import paused_of, wall_time_of
from training.pauses import RunningTime, StoppedTime


class ScriptedClock:
    """A monotonic clock and a sleep for ``StoppedTime``: each sleep lasts what it was asked
    plus the next scripted lateness; when the script runs out, the sleep never returns and
    ``done`` is set (every wake-up before it has been counted)."""

    def __init__(self, lateness):
        self.now, self.lateness, self.done = 0.0, list(lateness), threading.Event()

    def clock(self):
        return self.now

    def sleep(self, seconds):
        if not self.lateness:
            self.done.set()
            threading.Event().wait()
        self.now += seconds + self.lateness.pop(0)


def test_only_wake_ups_later_than_the_slack_count_as_stopped():
    script = ScriptedClock([0.01, 7.0, 0.3, 4.9, 12.5, 0.0])
    stopped = StoppedTime(interval=1.0, slack=5.0, clock=script.clock, sleep=script.sleep)
    assert script.done.wait(10)
    assert stopped.seconds() == pytest.approx(7.0 + 12.5)


class FixedStopped:
    def __init__(self):
        self.total = 0.0

    def seconds(self):
        return self.total


def test_running_time_leaves_out_the_stops_since_its_start():
    wall, stopped = [1000.0], FixedStopped()
    stopped.total = 40.0  # before the start: not this span's
    running = RunningTime(stopped, clock=lambda: wall[0])
    wall[0], stopped.total = 1300.0, 40.0 + 200.0
    assert running.seconds() == (100.0, 200.0)
    running.restart()
    wall[0] += 30.0
    assert running.seconds() == (30.0, 0.0)


def test_a_runs_pauses_are_unknown_once_a_row_was_logged_before_them():
    # a resumed run: a checkpoint's history row (no key), a CSV row (empty cell), then new
    old = [{"elapsed_s": 100.0}, {"elapsed_s": 250.0, "paused_s": None}]
    new = [{"elapsed_s": 400.0, "paused_s": 0.0}, {"elapsed_s": 500.0, "paused_s": 3000.0}]
    assert paused_of(new) == 3000.0 and paused_of(old + new) is None
    assert paused_of([]) == 0


def test_a_runs_wall_time_puts_back_the_pauses_its_elapsed_time_left_out():
    # elapsed_s leaves out the epochs' paused_s; an old row's elapsed_s has its pauses in it
    rows = [{"elapsed_s": 100.0}, {"elapsed_s": 250.0, "paused_s": None},
            {"elapsed_s": 400.0, "paused_s": 20.0}, {"elapsed_s": 500.0, "paused_s": 3000.0}]
    assert wall_time_of(rows) == 500.0 + 20.0 + 3000.0
    assert wall_time_of(rows[:2]) == 250.0


CHILD = """
import sys, time
from training.pauses import StoppedTime
stopped = StoppedTime(interval=0.05, slack=0.5)
print("ready", flush=True)
sys.stdin.readline()
# the watcher counts the stop at its first wake-up after it, however late the machine
# lets it run: wait for that (up to a minute) instead of for a fixed time
deadline = time.monotonic() + 60
while stopped.seconds() == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
print(stopped.seconds(), flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_process_stopped_with_sigstop_counts_the_stop():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert child.stdout.readline().strip() == "ready"
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(2.0)  # at least this long stopped, however busy the machine
        os.kill(child.pid, signal.SIGCONT)
        child.stdin.write("\n")
        child.stdin.flush()
        stopped = float(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    # the stop lasted >= 2 s: its wake-up came >= 1.95 s late, > the 0.5 s slack
    assert stopped >= 1.9
