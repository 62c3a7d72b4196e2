"""Where a number comes from: the git commit recorded beside it."""

import json
import re
import subprocess

import pytest

from el_zoo.provenance import git_commit


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


def test_dirty_flag_counts_code_changes_but_not_ignored_output_folders(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / "models" / "card.md").write_text("old\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")

    (tmp_path / "models" / "card.md").write_text("new\n")  # what publishing writes
    assert git_commit(tmp_path) == clean + "+dirty"
    assert git_commit(tmp_path, ignore=("models",)) == clean

    (tmp_path / "code.py").write_text("a = 2\n")  # a code change always counts
    assert git_commit(tmp_path, ignore=("models",)) == clean + "+dirty"


def not_in_a_checkout(folder, monkeypatch):
    """``folder`` resolved, with git kept from finding a checkout above it (a temporary
    folder may lie inside one)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(folder.resolve().parent))
    return folder.resolve()


def test_outside_a_git_repository_the_commit_is_unknown(tmp_path, monkeypatch):
    not_in_a_checkout(tmp_path, monkeypatch)
    assert git_commit(tmp_path) == "unknown"


def test_cpu_name_keeps_family_and_model_of_a_bare_name():
    from el_zoo.provenance import cpu_name

    text = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
            "model name\t: AMD EPYC\n\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 17\n"
            "model name\t: AMD EPYC\n")
    assert cpu_name(text) == "AMD EPYC, family 25 model 17"
    assert cpu_name("model name\t: Apple M2\n") == "Apple M2"
    assert cpu_name("") == ""


def test_a_reports_header_names_command_commit_machine_and_date():
    from el_zoo.provenance import markdown_header

    info = {"command": "python -m training.compare runs/a", "git_commit": "abc+dirty",
            "machine": "Linux x86_64, 2 cores", "date": "2026-12-01 06:00 UTC"}
    assert markdown_header(info) == [
        "Command: `python -m training.compare runs/a`  ", "Commit: abc+dirty  ",
        "Machine: Linux x86_64, 2 cores  ", "Date: 2026-12-01 06:00 UTC"]


def test_a_benchmark_reports_footer_is_its_header_with_the_wall_time():
    from el_zoo.provenance import markdown_footer, markdown_header

    info = {"command": "python benchmarks/deploy.py", "git_commit": "abc",
            "machine": "Linux x86_64, 2 cores", "date": "2026-12-01 06:00 UTC",
            "wall_time_s": 90.0}
    assert markdown_footer(info) == [
        "", *markdown_header(info)[:-1], "Date: 2026-12-01 06:00 UTC; wall time 1.5 min", ""]


def test_a_report_is_written_with_its_json_record_beside_it(tmp_path):
    from el_zoo.provenance import write_report

    record = {"results": {"a": 1.5}, "git_commit": "abc"}
    written = write_report(str(tmp_path / "sub" / "speed.md"), "# Speed\n", record)
    assert written == tmp_path / "sub" / "speed.md" and written.read_text() == "# Speed\n"
    assert json.loads((tmp_path / "sub" / "speed.json").read_text()) == record
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["speed.json", "speed.md"]


def test_a_report_that_keeps_earlier_records_reads_them_with_their_provenance(tmp_path):
    from el_zoo.provenance import earlier_records

    assert earlier_records(str(tmp_path / "none.md"), "results", "el_scale") == []
    header = {"command": "measure all", "git_commit": "a" * 40, "machine": "m", "date": "d",
              "wall_time_s": 60.0}
    (tmp_path / "report.json").write_text(json.dumps(
        {"results": [{"source": "old"}, {"source": "own", "command": "measure own"}],
         **header}))
    # a record without its own provenance is given the header's, the command that wrote them
    assert earlier_records(str(tmp_path / "report.md"), "results", "el_scale") == [
        {**header, "source": "old"}, {**header, "source": "own", "command": "measure own"}]


def test_reading_another_kind_of_report_is_a_clear_error(tmp_path):
    from el_zoo.provenance import earlier_records, report_records

    (tmp_path / "deploy.json").write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match=r"deploy.json is not a stage_cost report \(no "
                                         r"\"entries\"\): give the JSON of stage_cost"):
        report_records(tmp_path / "deploy.json", "entries", "stage_cost",
                       "give the JSON of stage_cost")
    with pytest.raises(ValueError, match=r"is not an el_scale report .*give another --out"):
        earlier_records(str(tmp_path / "deploy.md"), "entries", "el_scale")


def test_a_new_record_replaces_the_earlier_one_of_its_key_in_its_place():
    from el_zoo.provenance import merged_records

    earlier = [{"key": "a", "n": 1}, {"key": "b", "n": 1}]
    new = [{"key": "c", "n": 2}, {"key": "a", "n": 2}]
    assert merged_records(earlier, new, key=lambda record: record["key"]) == [
        {"key": "a", "n": 2}, {"key": "b", "n": 1}, {"key": "c", "n": 2}]


def test_a_report_in_reports_needs_a_clean_work_tree_and_elsewhere_does_not(tmp_path,
                                                                             monkeypatch):
    from el_zoo.provenance import report_commit

    (tmp_path / "reports").mkdir()
    (tmp_path / "code.py").write_text("a = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    monkeypatch.chdir(tmp_path)  # where the tools run: out relative to it
    clean = git_commit(tmp_path)
    assert report_commit("reports/deploy.md", root=tmp_path) == clean  # a clean tree: allowed

    (tmp_path / "code.py").write_text("a = 2\n")  # uncommitted: no one can rerun it
    report = tmp_path / "reports" / "deploy.md"
    inside = ["reports/deploy.md", "./reports/deploy.md", str(report), "reports/sub/deploy.md",
              "code/../reports/deploy.md"]
    for out in inside:
        with pytest.raises(ValueError) as refused:
            report_commit(out, root=tmp_path)
        assert str(refused.value) == (
            f"{out} would record commit {clean}+dirty (uncommitted changes in the work "
            "tree), which no one can rerun: commit your changes first, or write elsewhere "
            "with --out /tmp/deploy.md")
    with pytest.raises(ValueError, match="write elsewhere with --output /tmp/el_vs_plain$"):
        report_commit("reports/el_vs_plain", root=tmp_path, option="--output")

    elsewhere = ["deploy.md", "reports_old/deploy.md", str(tmp_path.parent / "reports" / "a.md")]
    for out in elsewhere:  # trying a change before committing it
        assert report_commit(out, root=tmp_path) == clean + "+dirty"


def test_a_report_in_reports_needs_a_known_commit(tmp_path, monkeypatch):
    from el_zoo.provenance import report_commit

    (tmp_path / "reports").mkdir()  # a reports/ folder, but not a git checkout
    monkeypatch.chdir(tmp_path)
    root = not_in_a_checkout(tmp_path, monkeypatch)
    with pytest.raises(ValueError) as refused:
        report_commit("reports/deploy.md", root=tmp_path)
    assert str(refused.value) == (
        f"reports/deploy.md would record commit unknown (git is missing, {root} is not a git "
        f"checkout, or git refuses it: see git -C {root} status), which no one can rerun: run "
        "it from a git checkout with git installed, or write elsewhere with --out "
        "/tmp/deploy.md")
    assert report_commit("deploy.md", root=tmp_path) == "unknown"  # elsewhere: allowed


def test_a_command_refuses_a_report_with_one_line_and_exit_status_2(tmp_path, monkeypatch,
                                                                     capsys):
    import argparse

    from el_zoo.provenance import report_commit_or_exit

    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("el_zoo.provenance.REPOSITORY", tmp_path)  # not a git checkout
    root = not_in_a_checkout(tmp_path, monkeypatch)
    parser = argparse.ArgumentParser(prog="deploy")
    parser.add_argument("--out")
    with pytest.raises(SystemExit) as exited:
        report_commit_or_exit(parser, "reports/deploy.md")
    assert exited.value.code == 2
    assert capsys.readouterr().err == (  # as the repo's tools refuse: no usage
        f"deploy: error: reports/deploy.md would record commit unknown (git is missing, {root} "
        f"is not a git checkout, or git refuses it: see git -C {root} status), which no one "
        "can rerun: run it from a git checkout with git installed, or write elsewhere with "
        "--out /tmp/deploy.md\n")
    assert report_commit_or_exit(parser, "deploy.md") == "unknown"


# A call of write_report, the one way the tools write a report (not its definition)
WRITES_A_REPORT = re.compile(r"(?<!def )\bwrite_report\(")
# A call of report_commit or report_commit_or_exit (an import or a comment does not count)
CHECKS_ITS_COMMIT = re.compile(r"(?<!def )\breport_commit(_or_exit)?\(")


def test_every_tool_that_writes_a_report_calls_report_commit():
    from el_zoo.provenance import REPOSITORY

    writers = sorted(path.relative_to(REPOSITORY).as_posix()
                     for folder in ("el_zoo", "training", "benchmarks")
                     for path in (REPOSITORY / folder).rglob("*.py")
                     if WRITES_A_REPORT.search(path.read_text()))
    assert "benchmarks/deploy.py" in writers and "training/compare.py" in writers, writers
    unchecked = [path for path in writers if not CHECKS_ITS_COMMIT.search(
                 (REPOSITORY / path).read_text())]
    assert unchecked == [], (f"{unchecked} write a report without report_commit_or_exit (or "
                             "report_commit): a report in reports/ must be refused from a "
                             "dirty work tree")
