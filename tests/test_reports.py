"""Generated reports live in one folder, ``reports/`` (``el_zoo.provenance.REPORTS_DIR``):
every writer's default output is there, benchmarks/ holds only scripts, and every report a
page or module names exists."""

import re

from el_zoo.provenance import REPORTS_DIR, json_beside, report_path

from tests.conftest import REPO

NOT_REPORTS = {"release.py"}  # its --out is the folder of staged release assets
WRITERS = sorted(path for path in [*(REPO / "benchmarks").rglob("*.py"),  # folders too
                                   *(REPO / "training").glob("*.py")]
                 if path.name not in NOT_REPORTS)
# the option that names a report's output: --out FILE.md, or --output PATH (no suffix)
OUTPUT_OPTION = re.compile(r"add_argument\(\s*\"--out(?:put)?\"(.*?)\)\n", re.S)
READERS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").glob("*.md"),
           *(REPO / "models").glob("*/README.md"), *WRITERS, *(REPO / "el_zoo").rglob("*.py"),
           *(REPO / "tests").glob("*.py")]


def test_report_path_is_under_the_reports_folder():
    assert report_path("deploy.md") == "reports/deploy.md" == f"{REPORTS_DIR}/deploy.md"
    assert (REPO / REPORTS_DIR).is_dir()


def test_a_reports_json_is_beside_its_markdown():
    assert json_beside(report_path("deploy.md")) == "reports/deploy.json"
    assert json_beside("/tmp/partial.md.d/deploy.md") == "/tmp/partial.md.d/deploy.json"


def test_benchmarks_holds_scripts_and_no_report():
    files = [p for p in (REPO / "benchmarks").iterdir() if p.is_file()]
    assert files and all(p.suffix == ".py" for p in files), files


def test_every_report_writer_defaults_to_the_reports_folder():
    options = {path.name: OUTPUT_OPTION.findall(path.read_text()) for path in WRITERS}
    writers = {name: found for name, found in options.items() if found}
    assert len(writers) >= 6  # the benchmarks, the ablation, compare (recipe_study shares it)
    for name, found in writers.items():
        assert all("default=report_path(" in text for text in found), (name, found)


def test_every_named_report_exists_and_none_is_named_in_benchmarks():
    named, stale = set(), []
    for path in READERS:
        text = path.read_text()
        named |= set(re.findall(r"reports/(\w+\.(?:md|json))", text))
        stale += [(path.name, m) for m in re.findall(r"benchmarks/\w+\.(?:md|json)", text)]
    assert named and not stale, stale
    assert [name for name in named if not (REPO / REPORTS_DIR / name).is_file()] == []
