"""Command-line interface: the only place that prints errors and chooses exit codes."""

from __future__ import annotations

import sys

import typer

from stalecheck.cli_litmus import litmus
from stalecheck.errors import StalecheckError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find where Arm CPUs, devices, walkers and VMs can read stale data; prove fixes.",
)
app.command("litmus")(litmus)

_debug = "--debug" in sys.argv


def main() -> None:
    """Entry point: run the app, render user errors once, exit non-zero on error."""
    if _debug:
        sys.argv.remove("--debug")
    try:
        app(standalone_mode=False)
    except StalecheckError as err:
        if _debug:
            raise
        typer.echo(f"error: {err.render()}", err=True)
        raise SystemExit(2) from None
    except (typer.Exit, SystemExit) as exc:
        raise SystemExit(getattr(exc, "exit_code", getattr(exc, "code", 0))) from None
    except Exception as exc:  # click usage errors and our own bugs
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Abort):
            raise SystemExit(130) from None
        if _debug:
            raise
        typer.echo(
            f"internal error (not your fault, please report): {type(exc).__name__}: {exc}",
            err=True,
        )
        raise SystemExit(3) from None
