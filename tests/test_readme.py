"""The README's promises: its commands are the ones CI runs, its tables are current."""

import importlib.util
import re

from tests.conftest import REPO


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_a_demo_command_and_a_test_command():
    demo, tests = readme_commands()
    assert demo.startswith("python3.11 -m venv .venv") and "el-zoo demo" in demo
    assert tests.startswith("python3.11 -m venv .venv") and tests.endswith("-m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_readme_el_cost_table_is_current():
    spec = importlib.util.spec_from_file_location("el_cost", REPO / "benchmarks" / "el_cost.py")
    el_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(el_cost)
    readme = (REPO / "README.md").read_text()
    assert el_cost.replace_block(readme, el_cost.cost_table()) == readme, (
        "README's EL cost table is stale: run python benchmarks/el_cost.py --readme README.md"
    )
