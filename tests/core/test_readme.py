"""The README's two set-up commands stay true: CI runs the second, the first names real things."""

from helpers.recipes import REPO


def setup_commands() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index("```bash") + 1
    end = lines.index("```", start)
    return lines[start:end]


def test_readme_opens_with_exactly_two_commands():
    assert len(setup_commands()) == 2


def test_ci_runs_the_readme_test_command():
    assert setup_commands()[1] in (REPO / ".ci/run").read_text().splitlines()


def test_main_command_uses_existing_recipe_and_cli_options():
    main = setup_commands()[0]
    assert "audiodiff train recipes/quickstart" in main
    assert (REPO / "recipes/quickstart/recipe.toml").is_file()
    assert "audiodiff sample --n 16 --out wavs/" in main
