"""Where a measured number comes from: command, git commit, machine and date, and the
report files that record it (``write_report``: Markdown with its JSON record beside it)."""

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from el_zoo.atomic import write_text_atomically

# The repository's one folder of generated reports (Markdown with its JSON beside it): the
# benchmark scripts and training's reports write there by default. Relative to the
# repository root, where those commands run.
REPORTS_DIR = "reports"
# This checkout's root: the repository whose commit a record carries by default.
REPOSITORY = Path(__file__).resolve().parent.parent
# What git_commit appends to the commit of a work tree with uncommitted changes.
DIRTY = "+dirty"
# What git_commit gives when it cannot read the commit (no git, or not a git checkout).
UNKNOWN = "unknown"


def report_path(file_name):
    """``reports/<file_name>``: the default output of a report, e.g.
    ``report_path("deploy.md")``."""
    return f"{REPORTS_DIR}/{file_name}"


def json_beside(markdown_path):
    """The path of the JSON record a report keeps beside its Markdown: the same name with
    ``.json`` for its suffix, e.g. ``json_beside("reports/deploy.md")`` is
    ``"reports/deploy.json"`` (a string, as ``report_path`` gives)."""
    return str(Path(markdown_path).with_suffix(".json"))


def git_commit(root=None, ignore=()):
    """The checked-out commit, with '+dirty' (``DIRTY``) when the work tree has changes;
    ``UNKNOWN`` when git cannot tell (not installed, not a checkout, or git refuses it).

    ``ignore``: folders or files (relative to the repository root) whose changes do not
    count, e.g. the outputs a tool itself writes.
    """
    root = root or REPOSITORY
    excluded = [f":(exclude,top){path}" for path in ignore]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excluded],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return UNKNOWN
    return commit + (DIRTY if dirty else "")


def report_commit(out, root=None, option="--out", folder=REPORTS_DIR, ignore=()):
    """The commit a report written to ``out`` records (``git_commit``), read before the
    run measures anything: a report in the repository's ``reports/`` folder must come from
    a clean work tree at a known commit, so that anyone can rerun its command at its commit.

    Raises ValueError, naming the problem and the fix, when ``out`` lies in ``reports/``
    (``REPORTS_DIR``; ``out`` is relative to the working directory, as the tool writes it:
    ``reports/deploy.md``, ``./reports/deploy.md`` and an absolute path alike) and the work
    tree has uncommitted changes (``+dirty``) or its commit is unknown (``UNKNOWN``).
    Elsewhere a dirty tree is allowed: that is how one tries a change before committing it.
    The guard is for ``root``'s ``reports/`` folder (``folder``), by default this checkout's
    (``REPOSITORY``, where el_zoo is imported from), not that of whatever checkout ``out``
    may lie in.

    Arguments:
        out: where the tool writes its report (its Markdown path; for ``--output``, the path
            without suffix).
        root: the repository's root (default: this checkout's, ``REPOSITORY``).
        option: the tool's option that sets ``out``, named in the message.
        folder: the repository's folder, relative to its root, that must be written from a
            clean tree (``training.publish`` gives "models").
        ignore: ``git_commit``'s: what the tool itself writes, whose changes do not count.

    Example:
        ```python
        commit = report_commit("reports/deploy.md")
        # ValueError: reports/deploy.md would record commit 709eda8...+dirty (uncommitted
        # changes in the work tree), which no one can rerun: commit your changes first, or
        # write elsewhere with --out /tmp/deploy.md
        ```
    """
    root = Path(root or REPOSITORY).resolve()
    commit = git_commit(root, ignore)
    if not Path(out).resolve().is_relative_to(root / folder):
        return commit
    elsewhere = f"write elsewhere with {option} /tmp/{Path(out).name}"
    if commit == UNKNOWN:
        raise ValueError(f"{out} would record commit {UNKNOWN} (git is missing, {root} is not "
                         f"a git checkout, or git refuses it: see git -C {root} status), which "
                         "no one can rerun: run it from a git checkout with git installed, or "
                         f"{elsewhere}")
    if commit.endswith(DIRTY):
        raise ValueError(f"{out} would record commit {commit} (uncommitted changes in the "
                         "work tree), which no one can rerun: commit your changes first, or "
                         f"{elsewhere}")
    return commit


def report_commit_or_exit(parser, out, option="--out", folder=REPORTS_DIR, ignore=()):
    """``report_commit(out)`` for a command line: its refusal ends the command as the repo's
    tools refuse, with one line (``<prog>: error: <message>``, no usage) and exit status 2,
    before the command measures anything.

    Arguments:
        parser: the command's ``argparse.ArgumentParser`` (its ``prog`` begins the line).
        out: where the command writes its report (as for ``report_commit``).
        option: the command's option that sets ``out``, named in the message.
        folder, ignore: as for ``report_commit``.

    Example:
        ```python
        args = parser.parse_args(argv)
        started, commit = time.time(), report_commit_or_exit(parser, args.out)
        ```
    """
    try:
        return report_commit(out, option=option, folder=folder, ignore=ignore)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def cpu_name(cpuinfo_text):
    """'AMD EPYC, family 25 model 17' from /proc/cpuinfo's text.

    Family and model are kept because a virtual machine's model name can be as bare as "AMD
    EPYC": two machines named alike here differed 1.4-1.7x in speed, and training times and x86
    latencies are only comparable on one kind of CPU.
    """
    fields = {}
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name", "")
    if name and fields.get("cpu family") and fields.get("model"):
        name += f", family {fields['cpu family']} model {fields['model']}"
    return name


def machine():
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = cpu_name(f.read()) or cpu
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){memory}"


def utc_date():
    """Now, as every record writes a date: '2026-12-01 06:00 UTC'."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_info(started=None, commit=None):
    """Provenance of a run: the exact command, commit, machine, UTC date, wall time.

    Pass ``commit`` read when the run started, so that later edits to the work tree do
    not mark a long run's results as coming from a dirty tree.
    """
    program = sys.argv[0]
    if program.endswith(".py"):  # a script: python path/to/script.py, relative to the repo
        program = "python " + os.path.relpath(program)
    else:  # a console script such as .venv/bin/el-zoo
        program = Path(program).name
    info = {
        "command": " ".join([program, shlex.join(sys.argv[1:])]).strip(),
        "git_commit": commit or git_commit(),
        "machine": machine(),
        "date": utc_date(),
    }
    if started is not None:
        info["wall_time_s"] = round(time.time() - started, 1)
    return info


def markdown_header(info):
    """The lines under a generated report's introduction that say how to rerun it and where:
    command, commit, machine and date of ``run_info``'s record ``info``."""
    return [f"Command: `{info['command']}`  ", f"Commit: {info['git_commit']}  ",
            f"Machine: {info['machine']}  ", f"Date: {info['date']}"]


def markdown_footer(info):
    """The lines that end every generated benchmark report: ``markdown_header``'s, with the
    run's wall time after its date."""
    *lines, date = markdown_header(info)
    return ["", *lines, f"{date}; wall time {info['wall_time_s'] / 60:.1f} min", ""]


def write_report(markdown_path, markdown, record):
    """Writes a generated report, each file atomically: the Markdown text ``markdown`` at
    ``markdown_path`` and the JSON of ``record`` (its numbers and ``run_info``'s provenance)
    beside it (``json_beside``). Returns the Markdown file's path.

    Example:
        ```python
        info = run_info(started, commit)
        write_report(args.out, to_markdown(results, info), {"results": results, **info})
        ```
    """
    path = write_text_atomically(markdown_path, markdown)
    write_text_atomically(json_beside(markdown_path), json.dumps(record, indent=1) + "\n")
    return path


# What each record of a report that keeps earlier records carries of its own (``run_info``'s
# fields): the command that measured it, once records of several commands share a report.
RECORD_PROVENANCE = ("command", "git_commit", "machine", "date", "wall_time_s")


def report_records(json_path, key, kind, remedy):
    """The records a ``kind`` report's JSON at ``json_path`` keeps under ``key``.

    Raises ValueError, ending with ``remedy``, when the file is not that kind of report
    (it has no ``key``), e.g. ``report_records(path, "entries", "stage_cost", "give the JSON
    of benchmarks/stage_cost.py")``.
    """
    records = json.loads(Path(json_path).read_text()).get(key)
    if records is None:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"{json_path} is not {article} {kind} report (no \"{key}\"): {remedy}")
    return records


def earlier_records(markdown_path, key, kind):
    """The records of the ``kind`` report already written at ``markdown_path`` (its JSON
    beside it, ``json_beside``; none when there is no JSON yet), for a report that keeps
    earlier records when a new command writes it (``merged_records``).

    Each record comes back with its own provenance (``RECORD_PROVENANCE``): a report written
    before its records kept their own gives them its header's, the one command that
    measured them all. Raises ValueError when the JSON is another kind of report.

    Example:
        ```python
        earlier = earlier_records(args.out, "results", "el_scale")
        results = merged_records(earlier, new, key=lambda result: result["source"])
        ```
    """
    path = Path(json_beside(markdown_path))
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    header = {field: report[field] for field in RECORD_PROVENANCE if field in report}
    return [{**header, **record}
            for record in report_records(path, key, kind, "give another --out, or remove it.")]


def merged_records(earlier, new, key):
    """``earlier`` records with ``new`` ones after them; a new record replaces, in its place,
    the earlier one of the same ``key(record)`` (within ``new``, the later one wins)."""
    by_key = {}
    for record in [*earlier, *new]:
        by_key[key(record)] = record  # a replaced key keeps its first place
    return list(by_key.values())
