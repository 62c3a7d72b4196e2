"""The README's and the Elastic-Link page's promises: the README's commands are the ones CI
runs, every code block of it runs as written, the generated tables are current, and every
number of docs/elastic_link.md is in a file the paragraph links; no prose page gives a time
in ms (x86 times are ratios)."""

import re
import shlex

import numpy as np
import pytest

from el_zoo.registry import families
from tests.conftest import REPO, benchmark_script, build_facts

README = REPO / "README.md"
EL_PAGE = REPO / "docs" / "elastic_link.md"
NOT_RUN = "# not run"  # a block whose first line starts so is shown, not executed
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_a_demo_command_and_a_test_command():
    demo, tests = readme_commands()
    assert demo.startswith("python3.11 -m venv .venv") and "el-zoo demo" in demo
    assert tests.startswith("python3.11 -m venv .venv") and tests.endswith("-m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def readme_blocks():
    """[(section heading, language, code)] of the README's fenced blocks, in order, but the
    opening set-up commands (which CI runs, above) and the citation."""
    text = README.read_text()
    blocks, heading, prose_start = [], "", 0
    for match in FENCE.finditer(text):  # headings from the prose only, not code comments
        heading = ([heading] + re.findall(r"^#+ (.*)$", text[prose_start:match.start()],
                                          re.M))[-1]
        blocks.append((heading, match.group(1), match.group(2)))
        prose_start = match.end()
    return [block for block in blocks[1:] if block[1] != "bibtex"]


def shell_commands(code):
    """The commands of a bash block as argument lists: comments dropped, continued lines
    joined."""
    joined = code.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines()
            if shlex.split(line, comments=True)]


def run_block(heading, language, code):
    """Runs one README block as written; returns its namespace (Python) or None."""
    where = f"README block under '{heading}'"
    if language == "python":
        namespace = {"__name__": "__main__"}
        exec(compile(code, where, "exec"), namespace)  # a fresh namespace: self-contained
        return namespace
    assert language == "bash", f"{where}: a {language!r} block; mark it '{NOT_RUN}' or run it"
    from el_zoo import cli

    for command in shell_commands(code):
        # the el-zoo command line in this process: no second TensorFlow start-up per line
        assert command[0] == "el-zoo", f"{where}: only el-zoo commands run here: {command}"
        assert cli.main(command[1:]) == 0, f"{where}: {shlex.join(command)} failed"
    return None


def test_every_readme_code_block_runs_as_written(data_dir, tmp_path, monkeypatch):
    """In order, in an empty folder (what the blocks write lands there), with $EL_ZOO_DATA
    set (the data_env fixture); the fine-tuning example is checked on its own below."""
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in readme_blocks() if b[0] != "Fine-tuning"]
    assert [language for _, language, _ in blocks].count("python") >= 3
    ran = [run_block(*block) for block in blocks if not block[2].startswith(NOT_RUN)]
    assert len(ran) >= 4  # nothing silently skipped by a heading or marker change
    assert (tmp_path / "test_image.png").is_file()


def test_the_readme_says_how_to_read_a_binary_classifiers_single_output():
    # it said only "one probability per class" and took the argmax(), which of a binary
    # classifier's [1, 1] output is always 0: an app so written printed the negative class
    from el_zoo._keras import keras
    from el_zoo.layers import decision_threshold

    deploying = " ".join(README.read_text().split("## Deploying")[1].split("\n## ")[0].split())
    assert "`[1, 1]`, whose `argmax()` is always 0" in deploying
    inputs = keras.Input((4,))
    for activation, output in (("sigmoid", 'a probability (`Dense(1, activation="sigmoid")`'),
                               (None, "a logit (`Dense(1)`)")):
        threshold = decision_threshold(keras.Model(inputs, keras.layers.Dense(
            1, activation=activation)(inputs)))
        assert f"above {threshold:g} for {output}" in deploying
    assert "labels file's second line (the positive class)" in deploying
    assert "when `q` is at least the value `el-zoo convert` prints" in deploying


def test_the_readmes_model_table_has_a_row_for_every_registered_family():
    # resnet26p, registered for #24 and offered by list_models(), had no row
    text = (REPO / "README.md").read_text()
    table = text[text.index("## The models"):]
    rows = {row.split("|")[1] for row in table.splitlines() if row.startswith("| `")}
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row)}
    missing = [family for family in families() if not {family, f"{family}_el"} <= named]
    assert missing == [], f"README's model table has no row for {missing}"


def test_readme_blocks_not_run_are_el_zoo_train_commands_that_parse(data_dir):
    """A block shown but not run (an hour of training) still holds only commands that the
    trainer's own parser takes, for a registered model and a data folder that exists."""
    import el_zoo
    from training import command

    shown = [b for b in readme_blocks() if b[2].startswith(NOT_RUN)]
    assert shown, f"no README block is marked {NOT_RUN!r}: drop this test or the marker"
    for heading, language, code in shown:
        assert language == "bash", f"README block under {heading!r}: only bash is shown"
        for line in shell_commands(code):
            assert line[:2] == ["el-zoo", "train"], f"under {heading!r}: {shlex.join(line)}"
            args = command.parse_args(line[2:])  # exits (fails) on an unknown option
            assert args.model in el_zoo.list_models(include_research=True), args.model
            assert (REPO / args.data_dir).resolve().is_dir(), args.data_dir


def test_readme_fine_tuning_example_beats_chance_with_a_frozen_backbone(data_dir, tmp_path,
                                                                        monkeypatch):
    import el_zoo
    from el_zoo._keras import keras

    (block,) = [b for b in readme_blocks() if b[0] == "Fine-tuning"]
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)  # the new head's initial weights and the batch order
    namespace = run_block(*block)

    assert namespace["accuracy"] > 0.75, namespace["accuracy"]  # chance is 0.5
    backbone, model = namespace["backbone"], namespace["model"]
    published = el_zoo.load("resnet18_el.cifar10", include_top=False, pooling="avg")
    assert all(np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(published.weights, backbone.weights))  # frozen
    assert len(model.trainable_weights) == 2  # the new head only


def el_cost_script():
    return benchmark_script("el_cost")


STALE = "{doc}'s EL cost table is stale: run python benchmarks/el_cost.py --doc {doc}"


def page_cost_lines():
    """The lines of the page's generated block, from its start marker to its end marker."""
    page = EL_PAGE.read_text()
    return el_cost_block(page).search(page).group().split("\n")


def test_el_cost_table_has_one_row_per_family_and_configuration():
    """With the test below (each family's rows as generated), the page's block is the
    table el_cost.py generates: its markers, header and rows in this order."""
    el_cost = el_cost_script()
    assert REPO / el_cost.DOC == EL_PAGE
    lines = page_cost_lines()
    assert lines[:3] == [el_cost.START, *el_cost.HEADER], STALE.format(doc=el_cost.DOC)
    assert lines[-1] == el_cost.END, STALE.format(doc=el_cost.DOC)
    keys = [tuple(cell.strip() for cell in row.split("|")[1:3]) for row in lines[3:-1]]
    assert keys == [(family, label) for family in el_cost.FAMILIES
                    for label in el_cost.CONFIGS], STALE.format(doc=el_cost.DOC)


@pytest.mark.parametrize("family", families(include_research=True))
def test_el_cost_rows_of_each_family_are_current(family):
    # one test per family: the builds of a family (4, at width 1) are most of the cost
    el_cost = el_cost_script()
    rows = [line for line in page_cost_lines() if line.startswith(f"| {family} |")]
    assert rows == el_cost.family_rows(
        family, lambda name, config: build_facts(name, **config).profile
    ), STALE.format(doc=el_cost.DOC)


def test_the_el_page_names_every_elastic_link_option():
    from el_zoo.elastic_link import ElasticLinkOptions

    page = EL_PAGE.read_text()
    assert [name for name in ElasticLinkOptions.names() if f"`{name}`" not in page] == []


DECIMAL = re.compile(r"\d+\.\d+")


def el_cost_block(markdown):
    """The pattern of the page's generated cost table, between el_cost.py's markers."""
    el_cost = el_cost_script()
    return re.compile(re.escape(el_cost.START) + ".*?" + re.escape(el_cost.END), re.S)


def paragraphs(markdown):
    """The page's paragraphs and list items, without generated blocks, code and URLs."""
    text = el_cost_block(markdown).sub("", markdown)
    text = re.sub(r"\[[^\]]*\]\(https?://[^)]*\)", "", text)  # outside links: not sources
    return [part for block in re.split(r"\n\s*\n", text)
            for part in re.split(r"\n(?=- )", block)]


def linked_numbers(paragraph, folder, page):
    """The decimal numbers of the local files a paragraph links; a link to el_cost.py
    stands for the table it generates in the page (kept current by the test above)."""
    numbers = set()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", paragraph):
        path = (folder / target).resolve()
        if path == REPO / "benchmarks" / "el_cost.py":
            numbers |= set(DECIMAL.findall(el_cost_block(page).search(page).group()))
        elif path.is_file():
            numbers |= set(DECIMAL.findall(path.read_text()))
    return numbers


def test_every_number_of_the_el_page_is_in_a_file_its_paragraph_links():
    page, unsourced = EL_PAGE.read_text(), []
    for paragraph in paragraphs(page):
        prose = re.sub(r"`[^`]*`", "", paragraph)  # code: commands and values, not results
        missing = set(DECIMAL.findall(prose)) - linked_numbers(paragraph, EL_PAGE.parent, page)
        if missing:
            unsourced.append((sorted(missing), paragraph[:80]))
    assert not unsourced, f"numbers not in any report the paragraph links: {unsourced}"


@pytest.mark.parametrize("page", [README, EL_PAGE], ids=["README", "elastic_link"])
def test_local_links_point_to_existing_files(page):
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text())
    assert [t for t in targets if not (page.parent / t).exists()] == []


@pytest.mark.parametrize("page", [README, *sorted((REPO / "docs").glob("*.md"))],
                         ids=lambda page: page.name)
def test_prose_pages_give_no_absolute_milliseconds(page):
    """x86 times are ratios only: LCE has no optimised x86 kernels, so a time in ms measured
    here reads as an ARM latency it is not (the reports keep the times, in their JSON)."""
    assert re.findall(r".{0,40}\d ?ms\b", page.read_text()) == []
