"""Generated reports live in one folder, ``reports/`` (``el_zoo.provenance.REPORTS_DIR``):
every writer's default output is there, benchmarks/ holds only scripts, and every report a
page or module names exists."""

import re

import pytest

from el_zoo.provenance import REPORTS_DIR, json_beside, report_path
from training import cards, compare, recipe_study

from tests.conftest import REPO, assert_refused_as_dirty, benchmark_script

NOT_REPORTS = {"release.py"}  # its --out is the folder of staged release assets
WRITERS = sorted(path for path in [*(REPO / "benchmarks").rglob("*.py"),  # folders too
                                   *(REPO / "training").glob("*.py")]
                 if path.name not in NOT_REPORTS)
# the option that names a report's output: --out FILE.md, or --output PATH (no suffix)
OUTPUT_OPTION = re.compile(r"add_argument\(\s*\"--out(?:put)?\"(.*?)\)\n", re.S)
# a writer whose report another module reads takes its --out default from that reader
READ_ELSEWHERE = {"THROUGHPUT_MD": cards.THROUGHPUT_MD,  # benchmarks/train_throughput.py
                  "STAGE_COST_MD": recipe_study.STAGE_COST_MD}  # benchmarks/stage_cost.py
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
        assert all("default=report_path(" in text or
                   any(f"default={constant})" in text for constant in READ_ELSEWHERE)
                   for text in found), (name, found)
    assert all(path.startswith(f"{REPORTS_DIR}/") for path in READ_ELSEWHERE.values())


def test_a_reports_readers_read_it_where_its_writer_writes_it(tmp_path, monkeypatch, capsys):
    """Each pair by behaviour, in an empty folder: what a writer writes by default is what
    its readers read by default (a renamed report would leave the cards silently without
    their lines, or the recipe study without its clock)."""
    from tests.test_compare import fake_run as compared_run
    from tests.test_recipe_study import fake_run as studied_run

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as raised:  # --render reads the JSON beside --out
        benchmark_script("train_throughput").main(["--render"])
    assert f" {cards.THROUGHPUT_REPORT.relative_to(REPO)} does not exist" in str(raised.value)

    _, measured = benchmark_script("stage_cost").parse_options(["resnet18_el"])
    with pytest.raises(SystemExit):
        recipe_study.main([studied_run(tmp_path, "cifar10", 0.7, [("main", 1)])])
    assert f"no stage cost report at {json_beside(measured.out)}:" in capsys.readouterr().err

    runs = [compared_run(tmp_path, model, 0.4) for model in ("resnet26", "resnet26_el")]
    compare.main(runs)
    assert (tmp_path / cards.EL_VS_PLAIN_REPORT.relative_to(REPO)).is_file()
    assert (tmp_path / cards.EL_VS_PLAIN_MD).is_file()


def test_every_named_report_exists_and_none_is_named_in_benchmarks():
    named, stale = set(), []
    for path in READERS:
        text = path.read_text()
        named |= set(re.findall(r"reports/(\w+\.(?:md|json))", text))
        stale += [(path.name, m) for m in re.findall(r"benchmarks/\w+\.(?:md|json)", text)]
    assert named and not stale, stale
    assert [name for name in named if not (REPO / REPORTS_DIR / name).is_file()] == []


def test_a_report_from_a_dirty_work_tree_is_refused_before_measuring(monkeypatch, capsys,
                                                                     dirty_work_tree):
    """The tools without a test file of their own (the others' are beside their tests)."""
    from el_zoo import data
    from training import el_ablation

    monkeypatch.setattr(data, "load_split", lambda *args, **kwargs: pytest.fail("loaded"))
    assert_refused_as_dirty(lambda: el_ablation.main([]), capsys, "reports/el_ablation.md")
    autotune = benchmark_script("data_autotune")
    monkeypatch.setattr(autotune, "run_in_fresh_process", lambda *args: pytest.fail("ran"))
    assert_refused_as_dirty(lambda: autotune.main([]), capsys, "reports/data_autotune.md")
