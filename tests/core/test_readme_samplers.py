"""The README documents exactly the registry's samplers: adding one without a README column fails here."""

import re

from audiodiff.sampling import SAMPLERS
from helpers.recipes import REPO

README = (REPO / "README.md").read_text()


def table() -> dict[str, list[str]]:
    """The 'What works with what' table: task → cells, plus its header row under 'task'."""
    lines = [line for line in README.splitlines() if line.startswith("| task |")]
    assert len(lines) == 1, "the README has one task × sampler table"
    start = README.splitlines().index(lines[0])
    rows = {}
    for line in README.splitlines()[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not set(cells[0]) <= set("-"):
            rows[cells[0]] = cells[1:]
    return rows


def test_the_sampler_table_names_exactly_the_registrys_samplers():
    assert [c.strip("`") for c in table()["task"]] == list(SAMPLERS)


def test_the_tables_refusals_are_the_records_capabilities():
    rows, names = table(), list(SAMPLERS)
    for name, cell in zip(names, rows["`denoise`"]):
        assert cell.startswith("✗") == (not SAMPLERS[name].starts_part_way), (name, cell)
    for name, cell in zip(names, rows["`inpaint` with RePaint jumps > 1"]):
        assert cell.startswith("✗") == (not SAMPLERS[name].resamples), (name, cell)


def test_the_cli_synopsis_lists_every_sampler():
    synopsis = re.search(r"--sampler ([\w+|]+)\]", README)
    assert synopsis and synopsis.group(1).split("|") == list(SAMPLERS)
