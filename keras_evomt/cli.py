"""The `evomt` command: thin Click commands over the library.

Exit status: 0 on success, 2 on bad input, 1 on failure. Errors print one or two
lines; `--debug` shows the traceback.

Example:
    evomt status --workdir runs/demo --json
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from keras_evomt import __version__
from keras_evomt.errors import EvomtError, UserInputError


class _Context:
    debug = False


def handle_errors(command):
    """Turns library errors into short messages and exit statuses 2 (input) / 1 (failure)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except UserInputError as error:
            _fail(error, 2)
        except EvomtError as error:
            _fail(error, 1)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to resume.", err=True)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - the last line of defence
            _fail(error, 1)

    return wrapper


def _fail(error: Exception, status: int) -> None:
    if _Context.debug:
        raise error
    message = str(error) or type(error).__name__
    if not isinstance(error, EvomtError):
        message = f"{type(error).__name__}: {message}\n(rerun with --debug for the traceback)"
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


workdir_option = click.option(
    "--workdir", required=True, type=click.Path(file_okay=False),
    help="The run's work directory (system, search state, TensorBoard logs).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evomt")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Grow one multitask Keras model system, task after task (µ2Net)."""
    _Context.debug = debug


@main.command()
@workdir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handle_errors
def status(workdir: str, as_json: bool) -> None:
    """Tasks of the saved system: accuracy, parameters, parent, fingerprint; totals."""
    from keras_evomt import display
    from keras_evomt.summary import status as system_status

    system = _load_system(workdir)
    rows, totals = system_status(system)
    if as_json:
        click.echo(json.dumps({"tasks": rows, "system": totals}, indent=1))
    else:
        display.status_table(rows, totals)


def _load_system(workdir: str):
    from keras_evomt.system import System

    if not os.path.isdir(workdir):
        raise UserInputError(f"--workdir {workdir} does not exist: run `evomt run RECIPE "
                             f"--workdir {workdir}` first.")
    system = System.load(workdir)
    for warning in system.load_warnings:
        click.echo(f"warning: {warning}; loaded state {system.loaded_state} instead.", err=True)
    return system
