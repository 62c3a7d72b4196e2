"""The import contracts of pyproject.toml ([tool.importlinter]), checked by import-linter: the
library imports neither training nor the benchmark scripts, and inside el_zoo a module
imports only from the layers below its own."""

import functools
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

CHECKED = ("el_zoo", "training", "benchmarks")  # pyproject.toml's root_packages


def lint_imports(root, contract=None):
    """Runs import-linter on the contracts of ``root``/pyproject.toml (or only the one with
    id ``contract``), with ``root``'s packages importable; returns (passed, its report)."""
    command = [sys.executable, "-c",
               "from importlinter.cli import lint_imports_command; lint_imports_command()",
               "--no-cache", "--no-logo"]  # no cache: it would write into the repository
    if contract is not None:
        command += ["--contract", contract]
    # PYTHONPATH="": the packages come from root (import-linter puts its working folder
    # first on the path), not from this checkout; COLUMNS: report lines are not wrapped.
    environment = {**os.environ, "PYTHONPATH": "", "COLUMNS": "200"}
    result = subprocess.run(command, cwd=root, env=environment, capture_output=True,
                            text=True, timeout=120)
    return result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold():
    passed, report = lint_imports(REPO)
    assert passed, report
    assert "Contracts: 2 kept, 0 broken." in report, report


@functools.lru_cache(maxsize=None)
def kept_here(contract):
    """Whether this checkout keeps ``contract`` (``lint_imports(REPO, contract)``), checked
    once per process: the cases of one contract compare their copy with the same checkout."""
    return lint_imports(REPO, contract)


def copy_with_import(tmp_path, module, statement):
    """A copy of the checked packages and pyproject.toml in which ``module`` (a path under
    the copy) ends with the import ``statement``."""
    for package in CHECKED:
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.md"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / module, "a") as f:
        f.write(f"\n{statement}  # the forbidden import\n")
    return tmp_path


@pytest.mark.parametrize("contract, module, statement, broken, detail", [
    ("library-alone", "el_zoo/atomic.py", "import training.recipes",
     "el_zoo is not allowed to import training:", "el_zoo.atomic -> training.recipes"),
    ("library-alone", "el_zoo/data.py", "from benchmarks import el_cost",
     "el_zoo is not allowed to import benchmarks:", "el_zoo.data -> benchmarks.el_cost"),
    ("el_zoo-layers", "el_zoo/layers.py", "from el_zoo.registry import load",
     "el_zoo.layers is not allowed to import el_zoo.registry:",
     "el_zoo.layers -> el_zoo.registry"),
    ("el_zoo-layers", "el_zoo/newcomer.py", "import el_zoo.atomic",  # a module in no layer
     "The following modules are not listed as layers:", "- el_zoo.newcomer"),
], ids=["el_zoo imports training", "el_zoo imports a benchmark", "a layer imports a higher one",
        "a module in no layer"])
def test_a_forbidden_import_breaks_its_contract(tmp_path, contract, module, statement,
                                                broken, detail):
    assert kept_here(contract)[0], kept_here(contract)[1]  # kept without the import
    passed, report = lint_imports(copy_with_import(tmp_path, module, statement), contract)
    assert not passed, report
    assert "Contracts: 0 kept, 1 broken." in report, report
    assert broken in report and detail in report, report
