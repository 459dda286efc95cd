"""The CLI starts and renders help (a canary for packaging)."""

from typer.testing import CliRunner

from stalecheck.cli import app


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "litmus" in result.output
