"""The README runs as written: its Python blocks, its commands, its links."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


@pytest.mark.slow
def test_readme_python_blocks_run_in_order(capsys):
    """Every ``python`` block runs, in order, in one namespace, as a reader
    pasting them into one session would; none may need names it does not
    define."""
    blocks = _blocks("python")
    assert blocks, "the README shows no Python"
    namespace: dict = {"__name__": "__readme__"}
    for index, block in enumerate(blocks):
        try:
            exec(
                compile(block, f"README.md python block {index + 1}", "exec"), namespace
            )
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"README python block {index + 1} fails: {exc!r}\n{block}")
    printed = capsys.readouterr().out
    # The first example prints the test accuracy of the ticket, then the
    # callback one line per round.
    assert re.search(r"^0\.9\d+$", printed, re.MULTILINE), printed
    assert printed.count("round ") == namespace["clf"].pruning_rounds + 1


def test_readme_starts_with_the_two_commands_ci_runs():
    """The first block gives exactly two commands: the main job and the tests;
    ``.ci/run`` runs that same test command."""
    first = FENCE.search(README)
    assert first.group(1) == "bash"
    commands = first.group(2).strip().splitlines()
    assert commands == [
        "pip install -e . && sklearn-lth",
        'pip install -e ".[test]" && python -m pytest',
    ]
    assert README.index(first.group(0)) < 1000  # among the first lines
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci


def test_readme_links_point_at_files_that_exist():
    targets = re.findall(r"\]\(((?!https?:)[^)#]+)\)", README)
    assert targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing


def test_the_development_map_names_every_module():
    """A module added to sklearn_lth/ is placed in the README's map."""
    development = README.split("## Development", 1)[1]
    package = ROOT / "sklearn_lth"
    unnamed = [
        path.name
        for path in package.iterdir()
        if path.name.startswith("_")
        and not path.name.startswith("__")
        and (path.suffix == ".py" or (path / "__init__.py").exists())
        and f"`{path.name}{'/' if path.is_dir() else ''}" not in development
    ]
    assert not unnamed, f"README's Development section does not name {unnamed}"
