"""Segments: each invocation of a run's command, as the run's history records it.

A long run is trained as a chain of segments: the first start, then each rerun of the same
command, which resumes from the newest checkpoint (or, after a lost run folder, a restart
from committed weights: ``training.restart``). ``--segment-minutes N`` ends a segment
cleanly at the first epoch boundary past N minutes, with its checkpoint written.

A segment's record (one dict, kept in every checkpoint beside the epoch rows, then in
metrics.json under "segments"):

    segment     its number in the chain, from 1
    began_as    "start", "resume" (a rerun of the command) or "restart" (a new run folder
                from committed weights, with a fresh optimizer)
    start, end  UTC ("2026-12-01 06:00 UTC"); ``end`` is that of its last record
    ended_by    "finished", "segment limit" or "interrupted": a segment killed or crashed
                ends at its last checkpoint, and is marked "interrupted" when the next one
                resumes; None while it runs
    epochs      [first, last] of the epochs it trained, numbered over the whole run (every
                stage's epochs in order, a restart's earlier ones included: ``epochs_of``),
                or None (a rerun that only finished the final evaluation)
    top1        top-1 on the evaluation split at its end (the last epoch's validation, or
                the final evaluation), or None
    wall_time_s, cpu_s  wall time and CPU time of the process (all its threads) from the
                invocation's start to the segment's last record; work after a killed
                segment's last checkpoint is lost and not counted
    command, git_commit, machine   as ``el_zoo.provenance.run_info`` records them
    recorded    False for a segment made up from an older record: epochs trained before
                segments were recorded (their times and CPU are unknown, None)

A segment killed before its first checkpoint trained nothing that was kept, and leaves no
record.
"""

import time

from el_zoo.provenance import machine, utc_date

from training.logs import epochs_of

ENDINGS = ("finished", "segment limit", "interrupted")


def unrecorded_segment(rows, ended_by, **known):
    """The record standing for epochs ``rows`` (all of the run's so far) trained before
    segments were recorded: one segment for them all, its unknowns None."""
    top1 = rows[-1].get("val_top1") if rows else None
    segment = {"segment": 1, "began_as": "start", "start": None, "end": None,
               "ended_by": ended_by, "epochs": [1, epochs_of(rows)] if rows else None, "top1": top1,
               "wall_time_s": None, "cpu_s": None, "command": None, "git_commit": None,
               "machine": None, "recorded": False}
    segment.update(known)
    return segment


def closed(segments):
    """``segments`` (recorded by earlier invocations) with the last one marked
    "interrupted" if it has no clean end: it was killed or crashed after its last
    checkpoint."""
    segments = [dict(segment) for segment in segments]
    if segments and segments[-1]["ended_by"] is None:
        segments[-1]["ended_by"] = "interrupted"
    return segments


class Segment:
    """This invocation of a run: its record, kept up to date at every epoch end.

    Arguments:
        earlier: the records of the earlier segments (from the newest checkpoint, or those
            a restart carries over), [] for a first start.
        began_as: "start", "resume" or "restart".
        command, commit: the run's documented command and the commit read at its start.
        started: ``time.time()`` at the invocation's start.
        limit_minutes: ``--segment-minutes``, or None for no limit.
        done: {stage: epochs} a restart took as done (``training.restart.stages_done``),
            counted in the epoch numbers where the rows lack them.

    Example:
        ```python
        segment = Segment([], "start", "el-zoo train ...", git_commit(), time.time(), 150)
        segment.epoch_done(rows)          # after each epoch: rows = every epoch so far
        if segment.limit_passed(): segment.end("segment limit")
        ```
    """

    def __init__(self, earlier, began_as, command, commit, started, limit_minutes=None,
                 done=None):
        self.earlier, self.done = closed(earlier), done
        self.started, self.cpu_started = started, time.process_time()
        self.limit_s = None if limit_minutes is None else 60.0 * limit_minutes
        self.record = {"began_as": began_as, "start": utc_date(), "end": utc_date(),
                       "ended_by": None, "epochs": None, "top1": None, "wall_time_s": 0.0,
                       "cpu_s": 0.0, "command": command, "git_commit": commit,
                       "machine": machine()}

    @property
    def ended_by(self):
        return self.record["ended_by"]

    def limit_passed(self):
        """True once this invocation has run for ``limit_minutes``."""
        return self.limit_s is not None and time.time() - self.started >= self.limit_s

    def _covers(self, rows_before):
        """Stands for the epochs before this segment by one unrecorded segment when no
        earlier one is recorded (a run folder started before segments were)."""
        if not self.earlier and rows_before:
            self.earlier = [unrecorded_segment(rows_before, "interrupted")]

    def _measured(self, top1):
        self.record.update(
            end=utc_date(), top1=top1,
            wall_time_s=round(time.time() - self.started, 1),
            cpu_s=round(time.process_time() - self.cpu_started, 1))

    def epoch_done(self, rows):
        """Records an epoch just trained: ``rows`` are the run's epoch rows so far, the
        last one this epoch's."""
        epoch = epochs_of(rows, self.done)
        if self.record["epochs"] is None:
            self._covers(rows[:-1])
            self.record["epochs"] = [epoch, epoch]
        self.record["epochs"][1] = epoch
        self._measured(rows[-1].get("val_top1"))

    def end(self, ended_by, rows=(), top1=None):
        """Ends the segment ``ended_by`` one of ``ENDINGS``; ``top1`` (the final
        evaluation's) replaces the last epoch's, ``rows`` are the run's epochs (to stand
        for unrecorded ones when this segment trained none)."""
        if ended_by not in ENDINGS:
            raise ValueError(f"a segment ends {ENDINGS}, not {ended_by!r}")
        if self.record["epochs"] is None:
            self._covers(list(rows))
        self._measured(top1 if top1 is not None else self.record["top1"])
        self.record["ended_by"] = ended_by

    def records(self):
        """Every segment of the run so far, this one last."""
        return [*self.earlier, {"segment": len(self.earlier) + 1, **self.record}]
