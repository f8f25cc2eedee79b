"""The `evomt` command: thin Click commands over the library.

Exit status: 0 on success, 2 on bad input, 1 on failure. Errors print one or two
lines; `--debug` shows the traceback.

Example:
    evomt status --workdir runs/demo --json
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import sys

import click

from keras_evomt import __version__
from keras_evomt.errors import EvomtError, UserInputError
from keras_evomt.workdir import WorkdirLayout

_RO_HINT = (
    "this command writes there: run it on a writable copy of the work directory, or give "
    "`report` and `export` an --out on a writable disk"
)
_DISK_FULL_HINT = (
    "The last committed state is intact: free some space and rerun the same command to resume."
)
RUN_ONLY_KEYS = ("tasks", "task_iterations")  # evomt run's task list; evolve takes --task


class _Context:
    debug = False
    imports: tuple[str, ...] = ()


def without_tensorflow(command):
    """Marks a command that never imports TensorFlow (see `handle_errors`)."""
    command.needs_tensorflow = False
    return command


def checked_first(preflight):
    """Marks a command whose input checks `preflight(**options)` run before TensorFlow
    is imported (see `handle_errors`), so a wrong command fails in a second."""

    def mark(command):
        command.preflight = preflight
        return command

    return mark


def handle_errors(command):
    """Turns library errors into short messages and exit statuses 2 (input) / 1 (failure).

    Before the command runs, TensorFlow is imported quietly (`quiet.py`), unless the
    command is marked `@without_tensorflow`; a `@checked_first` command's checks run
    before that import.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            if getattr(command, "preflight", None):
                command.preflight(**kwargs)
            if getattr(command, "needs_tensorflow", True):
                from keras_evomt.quiet import import_tensorflow

                import_tensorflow(debug=_Context.debug)
            for module in _Context.imports:
                _import_module(module)
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except UserInputError as error:
            _fail(error, 2)
        except (FileNotFoundError, NotADirectoryError, PermissionError) as error:
            _fail(UserInputError(f"{error.strerror}: {error.filename}"), 2)
        except EvomtError as error:
            _fail(error, 1)
        except OSError as error:  # e.g. a full disk under TensorBoard's writer
            if error.errno == errno.EROFS:
                where = error.filename or "the work directory"
                _fail(UserInputError(f"read-only file system: {where}", hint=_RO_HINT), 2)
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                _fail(error, 1)
            where = os.path.dirname(error.filename or "") or "the work directory"
            _fail(EvomtError(f"{error.strerror} in {where}", hint=_DISK_FULL_HINT), 1)
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
    "--workdir",
    required=True,
    type=click.Path(file_okay=False),
    help="The run's work directory (system, search state, TensorBoard logs).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evomt")
@click.option(
    "--debug", is_flag=True, help="Show full tracebacks and TensorFlow's own start-up output."
)
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="Import a Python module (a name, or a .py file) before the command, e.g. one that "
    "registers custom components: evomt --import mycomps export ... (repeatable).",
)
def main(debug: bool, imports: tuple[str, ...]) -> None:
    """Grow one multitask Keras model system, task after task (µ2Net)."""
    _Context.debug = debug
    _Context.imports = imports
    _show_library_warnings()


def _import_module(name: str) -> None:
    """Imports `name` (a module of the current folder or sys.path, or a .py file) for
    the classes it registers."""
    import importlib
    import importlib.util

    try:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(os.path.basename(name)[:-3], name)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:  # as `python -m` finds the folder's modules
                sys.path.insert(0, os.getcwd())
            importlib.import_module(name)
    except (ImportError, FileNotFoundError) as error:
        raise UserInputError(f"--import {name}: {error}") from None
    except Exception as error:  # noqa: BLE001 - the user's module failed: say so, briefly
        raise UserInputError(f"--import {name} failed: {type(error).__name__}: {error}") from None


class _Once(logging.Filter):
    """Lets each distinct message through once per process."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def _show_library_warnings() -> None:
    """keras_evomt's own warnings (e.g. skipped image files): one `warning: ...` line each."""
    logger = logging.getLogger("keras_evomt")
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler.addFilter(_Once())
        logger.addHandler(handler)


@main.command()
@workdir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--compare",
    "others",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Other work directories (e.g. baselines) to show beside this one, task by "
    "task (repeatable).",
)
@handle_errors
@without_tensorflow
def status(workdir: str, as_json: bool, others: tuple[str, ...]) -> None:
    """Tasks of the saved system: accuracy, parameters, parent, fingerprint; totals."""
    from keras_evomt import display, store
    from keras_evomt.summary import search_position
    from keras_evomt.summary import status as system_status

    for other in others:
        if not os.path.isdir(other) or not store.manifest_numbers(store.system_dir(other)):
            state = "does not exist" if not os.path.isdir(other) else "holds no saved system"
            raise UserInputError(
                f"--compare {other} {state}: give the work directory of another run, e.g. "
                f"`evomt run recipes/baselines.py:finetune_all --workdir {other}`."
            )
    rows, totals = system_status(_read_structure(workdir))
    compared = {other: system_status(_read_structure(other))[0] for other in others}
    position = search_position(workdir)
    if as_json:
        data = {"tasks": rows, "system": totals, "search": position}
        if compared:
            from keras_evomt.summary import common_tasks, means

            data["compare"] = compared
            shared = common_tasks(rows, *compared.values())
            runs = {workdir: rows, **compared}
            data["means"] = {name: means(run, shared) for name, run in runs.items()}
        click.echo(json.dumps(data, indent=1))
        return
    display.status_table(rows, totals)
    display.search_line(position)
    if compared:
        display.comparison_table(workdir, rows, compared)


def _read_structure(workdir: str):
    """The work directory's saved structure, from its manifest alone (no TensorFlow)."""
    from keras_evomt.structure import read_structure

    structure = read_structure(workdir)
    for warning in structure.load_warnings:
        click.echo(f"warning: {warning}; read state {structure.loaded_state} instead.", err=True)
    return structure


def _load_system(workdir: str, tasks=None):
    """The work directory's system; with `tasks`, only their weights are read."""
    from keras_evomt.system import System

    _require_workdir(workdir)
    system = System.load(workdir, tasks=tasks)
    missing = [t for t in tasks or () if t not in system.paths]
    if missing and system.load_warnings:
        _refuse_tasks_of_damaged_states(workdir, system, missing)
    for warning in system.load_warnings:
        click.echo(f"warning: {warning}; loaded state {system.loaded_state} instead.", err=True)
    return system


def _warn_if_the_data_changed(task: str, recorded: dict[str, int], task_data) -> None:
    now = {split: task_data.known_examples(split) for split in recorded}
    changed = [s for s, n in now.items() if n is not None and n != recorded[s]]
    if changed:
        what = ", ".join(f"{s} {recorded[s]:,} -> {now[s]:,} examples" for s in changed)
        click.echo(
            f"warning: the data of task '{task}' changed since it was trained ({what}): "
            "this accuracy is not comparable with the recorded one, and a split carved "
            "from the training images may now hold images the model trained on.",
            err=True,
        )


def _require_workdir(workdir: str) -> None:
    if not os.path.isdir(workdir):
        raise UserInputError(
            f"--workdir {workdir} does not exist: run `evomt run RECIPE --workdir {workdir}` first."
        )


def _refuse_tasks_of_damaged_states(workdir: str, system, missing: list[str]) -> None:
    """A task missing from the loaded (older) state that a damaged newer state holds, or
    may hold (its manifest is unreadable), is refused as damaged, not as unknown."""
    from keras_evomt import store
    from keras_evomt.errors import CorruptStateError

    directory = store.system_dir(workdir)
    held, unreadable = set(), False
    for number in store.manifest_numbers(directory):
        if number > system.loaded_state:
            try:
                manifest = store.read_manifest(directory, number)
            except CorruptStateError:
                unreadable = True
                continue
            held.update(p["task"] for p in manifest["system"]["tasks"])
    lost = [t for t in missing if t in held] or (missing if unreadable else [])
    if not lost:
        return  # not in any state: an unknown task, said as such later
    maybe = "" if set(lost) <= held else " (if it is a task of the damaged states)"
    raise CorruptStateError(
        f"task {', '.join(map(repr, lost))} cannot be loaded{maybe}: "
        f"{'; '.join(system.load_warnings)}, and the older state {system.loaded_state} "
        "was saved before it existed.",
        hint=f"`evomt check --workdir {workdir}` lists the damaged files and the tasks "
        "they affect; restore those files from a backup.",
    )


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key (repeatable), e.g. --set generations=1.",
)


@main.command()
@click.argument("recipe")
@workdir_option
@set_option
@click.option("--quiet", is_flag=True, help="Only the final status table.")
@handle_errors
def run(recipe: str, workdir: str, overrides: tuple[str, ...], quiet: bool) -> None:
    """Run RECIPE[:VARIANT]'s whole task sequence; rerunning resumes where it stopped."""
    from keras_evomt.recipe import load_recipe, pinned
    from keras_evomt.search.config import validate
    from keras_evomt.workdir_lock import WorkdirLock

    config = load_recipe(recipe, list(overrides))
    validate(config)  # before anything is written to the work directory
    _check_task_names(config, recipe)
    with WorkdirLock(workdir), pinned(config, workdir) as config:
        with _search(config, workdir, quiet) as search:
            system = search.run()
    _finish(system, workdir)


@main.command()
@workdir_option
@click.option(
    "--task",
    required=True,
    help="The task to add or revisit: a registered name, or NAME=SOURCE with SOURCE "
    "tfds:NAME, dir:PATH or npz:PATH (e.g. flowers=dir:/data/flowers).",
)
@click.option(
    "--recipe",
    default=None,
    help="Recipe for a new work directory (default: the work directory's config.json).",
)
@set_option
@click.option("--quiet", is_flag=True, help="Only the final status table.")
@handle_errors
@checked_first(lambda workdir, recipe, **_: _check_evolvable(workdir, recipe))
def evolve(
    workdir: str, task: str, recipe: str | None, overrides: tuple[str, ...], quiet: bool
) -> None:
    """One task iteration on the work directory's system (adds the task if it is new)."""
    from keras_evomt.data.catalog import name_and_source
    from keras_evomt.recipe import (
        apply_overrides,
        load_recipe,
        pinned,
        remembered_task_spec,
        resolved_task_spec,
        stored_config,
    )
    from keras_evomt.search.config import validate
    from keras_evomt.workdir_lock import WorkdirLock

    config = stored_config(workdir)
    new = config is None
    if new:
        _check_evolvable(workdir, recipe)
        config = load_recipe(recipe, list(overrides))
    else:
        listed = [o for o in overrides if o.partition("=")[0].strip() in RUN_ONLY_KEYS]
        if listed:
            raise UserInputError(
                f"--set {listed[0]}: evomt evolve grows the one task --task names; the task "
                f"list ({', '.join(RUN_ONLY_KEYS)}) is evomt run's, pinned in config.json",
                hint=f"evolve each task in turn (`evomt evolve --workdir {workdir} --task "
                "NAME`), or start a new work directory with the list",
            )
        pinned_rule = config.score.quality
        config = apply_overrides(config, list(overrides))
    validate(config)  # before anything is written to the work directory
    task = resolved_task_spec(workdir, task, planned=config.tasks)
    if not new and config.score.quality != pinned_rule:
        _check_rescorable(workdir, name_and_source(task)[0], pinned_rule, config.score.quality)
    pin = pinned(config, workdir) if new else contextlib.nullcontext(config)
    with WorkdirLock(workdir), pin as config:
        with _search(config, workdir, quiet) as search, remembered_task_spec(workdir, task):
            search.evolve(task)
    _finish(search.system, workdir)


def _check_evolvable(workdir: str, recipe: str | None) -> None:
    """A work directory without config.json takes a recipe."""
    from keras_evomt.recipe import stored_config

    if recipe is not None or stored_config(workdir) is not None:
        return
    if WorkdirLayout(workdir).system.exists():
        raise UserInputError(
            f"{workdir} holds a system made from Python (it has no config.json): pass "
            "--recipe RECIPE to evolve it from the command line",
            hint="the recipe's root.* must be the system's root",
        )
    raise UserInputError(
        f"{workdir} has no config.json: pass --recipe RECIPE to start a new system."
    )


def _check_rescorable(workdir: str, task: str, pinned_rule: str, rule: str) -> None:
    """Before anything runs: a search of `task` under `rule` rescores its kept path from
    the path's validation counts, which versions that did not record the path's rule (it
    was then `pinned_rule`) did not keep either."""
    from keras_evomt import store
    from keras_evomt.search.scoring import validation_quality

    directory = store.system_dir(workdir)
    if not store.manifest_numbers(directory):
        return
    manifest, _ = store.newest_good(directory, lambda n: store.read_manifest(directory, n))
    for kept in manifest["system"]["tasks"]:
        if kept["task"] == task:
            what = f"--set score.quality={rule}: task '{task}''s kept path"
            validation_quality(kept["metrics"], rule, assumed_rule=pinned_rule, what=what)


def _check_task_names(config, recipe: str) -> None:
    """Unknown task names and every task whose data is missing fail now, together, not
    when their turn comes (no data is read here)."""
    from keras_evomt.data.registry import missing_data
    from keras_evomt.errors import MissingDataError

    data = config.data
    missing = missing_data(config.tasks, data.data_dir or None, data.download)
    if missing and data.get("mock_examples", 0) <= 0:
        raise MissingDataError.combined(missing, recipe=recipe)


def _search(config, workdir: str, quiet: bool):
    from keras_evomt.observe import Observer
    from keras_evomt.search import Search

    observer = Observer(workdir, quiet=quiet, log_every_steps=config.log_every_steps)
    return Search(config, workdir, observer=observer)


def _finish(system, workdir: str) -> None:
    from keras_evomt import display
    from keras_evomt.summary import status as system_status

    display.status_table(*system_status(system))
    from keras_evomt.report import write_report

    try:
        files = write_report(workdir)
        click.echo(f"report: {files[0].parent}")
    except Exception as error:  # noqa: BLE001 - the run itself succeeded
        click.echo(
            f"warning: the report could not be written ({error}); "
            f"try `evomt report --workdir {workdir}`.",
            err=True,
        )
    click.echo(
        f"TensorBoard logs: {WorkdirLayout(workdir).tb} "
        f"(tensorboard --logdir {WorkdirLayout(workdir).tb})"
    )


@main.command(name="eval")
@workdir_option
@click.option("--task", required=True, help="The task whose model is evaluated.")
@click.option(
    "--split",
    default="test",
    type=click.Choice(["train", "validation", "test"]),
    show_default=True,
    help="The split of the task's data to score.",
)
@click.option(
    "--data",
    "source",
    default=None,
    help="The task's data, when evomt does not know it (a task added from Python), or "
    "held-out data: tfds:NAME, dir:PATH or npz:PATH. An .npz of x_test and y_test alone, "
    "or a folder holding test/ alone, serves --split test.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a line.")
@handle_errors
def evaluate(workdir: str, task: str, split: str, source: str | None, as_json: bool) -> None:
    """Accuracy of one task's model on a split."""
    import tensorflow as tf

    from keras_evomt.data import get_task
    from keras_evomt.data.catalog import task_spec
    from keras_evomt.data.held_out import held_out_task
    from keras_evomt.data.task import check_same_classes, check_same_range, is_read_failure
    from keras_evomt.recipe import stored_config, task_specs
    from keras_evomt.training import CandidateTrainer

    task = _task_name(task)
    system = _load_system(workdir, tasks=[task])
    path = system.path(task)
    config = stored_config(workdir)
    data_dir = (config.data.data_dir or None) if config else None
    spec = f"{task}={source}" if source else task_spec(task, task_specs(workdir))
    try:
        # Test arrays, or a test/ folder, suffice to score the test split.
        held_out = held_out_task(task, source, split, system.class_names(task)) if source else None
        task_data = held_out or get_task(spec, data_dir=data_dir)
    except UserInputError as error:
        if source and error.message.startswith("unknown task") and ":" not in source:
            raise UserInputError(
                f"--data {source} names no data source",
                hint=f"a file or folder takes its kind: --data npz:{source} (or dir:PATH)",
            ) from error
        if source or not error.message.startswith("unknown task"):
            raise
        raise UserInputError(
            f"evomt does not know the data of task '{task}' (a task added from Python, "
            "e.g. with Task.from_arrays, keeps no data in the work directory).",
            hint=f"pass it: `evomt eval --workdir {workdir} --task {task} --data npz:FILE` "
            "(or dir:PATH, tfds:NAME)",
        ) from error
    check_same_classes(task, system.class_names(task), getattr(task_data, "class_names", None))
    check_same_range(
        task,
        system.value_range(task),
        getattr(task_data, "value_range", None),
        lambda: task_data.pixel_extremes(split),
    )
    if not source:
        _warn_if_the_data_changed(task, system.split_sizes(task), task_data)
    classes = system.num_classes(path)
    if task_data.num_classes > classes:
        raise UserInputError(
            f"task '{task}' scores {classes} classes, but this data has "
            f"{task_data.num_classes} (labels up to {task_data.num_classes - 1})",
            hint="evaluate a task on the data it was trained on",
        )
    data = task_data.eval_dataset(
        split, image_size=path.image_size, batch_size=config.batch_size if config else 64
    )
    try:
        accuracy = CandidateTrainer().accuracy(system, path, data)
    except tf.errors.OpError as error:
        if not is_read_failure(error):
            raise
        raise task_data.read_error(error, split) from error
    examples = task_data.num_examples(split)
    if as_json:
        line = {"task": task, "split": split, "accuracy": accuracy, "examples": examples}
        click.echo(json.dumps(line))
    else:
        click.echo(f"{task} {split} accuracy: {100 * accuracy:.2f}% ({examples:,} examples)")


@main.command()
@workdir_option
@click.option("--task", default=None, help="The task to export (alone).")
@click.option("--all", "all_tasks", is_flag=True, help="Every task, in one model.")
@click.option("--tasks", default=None, help="Several tasks, in one model: a,b,...")
@click.option("--out", required=True, type=click.Path(), help="Output file or directory.")
@click.option(
    "--format",
    "fmt",
    default=None,
    type=click.Choice(["keras", "savedmodel"]),
    help="keras (default for --task) or savedmodel (default for --all/--tasks).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing export.")
@handle_errors
@checked_first(lambda **options: _check_export(**options))
def export(
    workdir: str,
    task: str | None,
    all_tasks: bool,
    tasks: str | None,
    out: str,
    fmt: str | None,
    overwrite: bool,
) -> None:
    """One task's model, or several tasks in one model (shared weights stored once), as a
    .keras file or a TF SavedModel, with the input contract."""
    from keras_evomt.export import contract_path, export_task, export_tasks

    fmt = _export_format(task, fmt)
    if task is not None:
        task = _task_name(task)
        written = export_task(
            _load_system(workdir, tasks=[task]), task, out, fmt=fmt, overwrite=overwrite
        )
        what = task
    else:
        names = None if all_tasks else _task_list(tasks)
        system = _load_system(workdir, tasks=names)
        written = export_tasks(system, names, out, fmt=fmt, overwrite=overwrite)
        count = len(names or system.paths)
        what = f"{count} task{'s' * (count != 1)}"
        exported = json.loads(contract_path(written).read_text())["unique_parameters"]
        what += f" ({exported:,} unique parameters"
        unused = system.total_params() - exported if all_tasks else 0
        if unused:  # status counts them: the root's components that no path kept
            what += f"; the system's other {unused:,} are in root components no task uses"
        what += ")"
    click.echo(f"exported {what} to {written} (input contract: {contract_path(written)})")


def _check_export(
    workdir: str, task: str | None, all_tasks: bool, tasks: str | None, out: str, fmt, overwrite
) -> None:
    from keras_evomt.export_target import check_target

    if sum((task is not None, all_tasks, tasks is not None)) != 1:
        raise UserInputError("name what to export: exactly one of --task, --tasks or --all.")
    check_target(out, _export_format(task, fmt), overwrite)
    _require_workdir(workdir)


def _export_format(task: str | None, fmt: str | None) -> str:
    return fmt or ("keras" if task is not None else "savedmodel")


def _task_list(text: str) -> list[str]:
    names = [_task_name(name.strip()) for name in text.split(",") if name.strip()]
    if not names:
        raise UserInputError(f"--tasks needs task names, e.g. --tasks a,b. Received: {text!r}")
    return names


def _task_name(name: str) -> str:
    """A task as the system names it: an unnamed `dir:`/`npz:` path made absolute, as
    `evomt run` named it (`--task dir:data/flowers` finds `dir:/home/me/data/flowers`)."""
    from keras_evomt.data.catalog import name_and_source, split_name

    return name if split_name(name)[0] else name_and_source(name)[0]


@main.command()
@workdir_option
@click.option("--tasks", default=None, help="Serve only these tasks: a,b,... (default: all).")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 exposes the server to other machines.",
)
@click.option(
    "--max-request-mb",
    default=64.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Requests with a larger body are refused (HTTP 413).",
)
@handle_errors
def serve(workdir: str, tasks: str | None, port: int, host: str, max_request_mb: float) -> None:
    """Keep the system resident and answer TF Serving's REST API, one model per task."""
    from keras_evomt.serve import ServedSystem
    from keras_evomt.serve import serve as run_server

    names = None if tasks is None else _task_list(tasks)
    served = ServedSystem(_load_system(workdir, tasks=names), names)
    stopped_by = run_server(
        served,
        host=host,
        port=port,
        max_request_mb=max_request_mb,
        on_ready=lambda line: click.echo(line, err=True),
    )
    if stopped_by:
        click.echo(f"stopped by {stopped_by}: the requests in flight were answered", err=True)


@main.command()
@workdir_option
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Output directory (default: WORKDIR/reports).",
)
@handle_errors
@without_tensorflow
def report(workdir: str, out: str | None) -> None:
    """Pictures and a markdown summary of the system."""
    from keras_evomt.report import write_report

    files = write_report(workdir, out, _read_structure(workdir))  # no weights needed
    for file in files:
        click.echo(str(file))


@main.command()
@workdir_option
@click.option(
    "--drop-damaged-slots",
    is_flag=True,
    help="Without a backup: commit the search's state again without the optimizer slots "
    "that are damaged, so training goes on (clones of those components start at zero "
    "momentum; no task's weights change).",
)
@handle_errors
@without_tensorflow
def check(workdir: str, drop_damaged_slots: bool) -> None:
    """Verify every checksum of the saved system; list damaged files and the tasks they
    affect (exit status 1 if any)."""
    from keras_evomt.check import check_workdir

    if drop_damaged_slots:
        _drop_damaged_slots(workdir)
        return

    result = check_workdir(workdir)
    leftovers = WorkdirLayout(workdir).write_leftovers()
    if leftovers:
        click.echo(
            f"{len(leftovers)} unfinished {'write' if len(leftovers) == 1 else 'writes'} "
            f"({', '.join(str(f.relative_to(workdir)) for f in leftovers[:3])}"
            f"{', ...' if len(leftovers) > 3 else ''}"
            "): of a stopped run, or of one running now; no kept state uses them, and the "
            "next `evomt run` or `evomt evolve` removes a stopped run's."
        )
    for item in result.damage:
        affects = f"tasks {', '.join(item.tasks)}" if item.tasks else "no task"
        if item.manifest:
            affects = "its state: tasks added in it cannot be loaded"
        if item.affects:
            affects = item.affects
        if item.slots_only:
            affects += " (optimizer slots only: inference, eval and export still work)"
        if not (item.in_newest or item.manifest or item.affects):
            affects += f" in states older than the newest ({result.newest_state})"
        click.echo(f"damaged: {item.file}: {item.problem}; affects {affects}", err=True)
    if result.only_older_states():
        click.echo(
            f"{len(result.damage)} damaged of {result.files + result.workdir_files} files "
            f"({result.states} kept states), named only by states older than the newest "
            f"({result.newest_state}), which is sound: every task loads and trains from it. "
            "The older states keep them until newer states replace them; restore the files "
            "from a backup to make those states whole.",
            err=True,
        )
        sys.exit(1)
    if result.damage:
        unaffected = result.unaffected()
        verb = "loads" if len(unaffected) == 1 else "load"
        if all(item.slots_only for item in result.damage):
            others = "every task still loads for inference (eval, export, serve)"
        elif unaffected:
            others = (
                f"the {'task' if len(unaffected) == 1 else 'tasks'} whose weights are intact "
                f"({', '.join(unaffected)}) {verb} as saved in the newest readable state"
            )
        else:
            others = "no task loads as it was saved"
        without_backup = (
            f" Without one, `evomt check --workdir {workdir} --drop-damaged-slots` lets "
            "training go on without the damaged slots."
            if all(item.slots_only for item in result.damage)
            else ""
        )
        click.echo(
            f"{len(result.damage)} damaged of {result.files + result.workdir_files} files "
            f"({result.states} kept states); {others}. Restore the damaged files from a "
            f"backup.{without_backup}",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"ok: {result.files} files in {result.states} kept states match their sha256; the "
        f"work directory's {result.workdir_files} other files are sound"
    )


@main.command()
@workdir_option
@handle_errors
@checked_first(lambda workdir: _check_abandonable(workdir))
def abandon(workdir: str) -> None:
    """Drop the task iteration in flight: the system goes back to where it began."""
    from keras_evomt.search.abandon import abandon_iteration

    task = abandon_iteration(workdir)
    click.echo(
        f"abandoned the iteration of task '{task}': the system is as it was before it "
        "began (its candidates dropped; their TensorBoard runs stay)"
    )


def _check_abandonable(workdir: str) -> None:
    """Before TensorFlow is imported: a work directory with a task iteration in flight."""
    from keras_evomt.summary import search_position

    _require_workdir(workdir)
    position = search_position(workdir)
    if position is not None and position["in_flight"] is None:
        raise UserInputError(f"no task iteration is in flight in {workdir}: nothing to abandon")


def _drop_damaged_slots(workdir: str) -> None:
    from keras_evomt.quiet import import_tensorflow
    from keras_evomt.slots_repair import drop_damaged_slots

    _require_workdir(workdir)
    import_tensorflow(debug=_Context.debug)
    dropped, state = drop_damaged_slots(workdir)
    if not dropped:
        click.echo(f"no optimizer slots of state {state} are damaged: nothing to drop")
        return
    click.echo(
        f"state {state} holds the system without the damaged optimizer slots of "
        f"{', '.join(dropped)}: training goes on, with those components' clones starting "
        "at zero momentum. Older kept states still name the damaged files (`evomt check` "
        "lists them) until newer states replace them."
    )


@main.group()
def data() -> None:
    """The registered tasks and their data."""


@data.command(name="list")
@click.option("--data-dir", default=None, help="TFDS data directory.")
@click.option("--group", default=None, help="vit, vtab_full, vdd, chars, vtab_1k, offline.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handle_errors
@without_tensorflow
def data_list(data_dir: str | None, group: str | None, as_json: bool) -> None:
    """Registered tasks: name, source, classes, splits, whether the data is here."""
    from keras_evomt import display
    from keras_evomt.data.catalog import describe_tasks, list_tasks

    names = set(list_tasks(group)) if group else None
    rows = [r for r in describe_tasks(data_dir) if names is None or r["name"] in names]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
    else:
        display.task_table(rows)


@data.command(name="prepare")
@click.argument("names", nargs=-1)
@click.option("--recipe", default=None, help="Also every task of RECIPE[:VARIANT].")
@click.option("--data-dir", default=None, help="TFDS data directory.")
@click.option("--download", is_flag=True, help="Allow downloading (TFDS sources).")
@handle_errors
def data_prepare(
    names: tuple[str, ...], recipe: str | None, data_dir: str | None, download: bool
) -> None:
    """Prepare tasks' data into the TFDS data directory (those needing a manual download
    are listed, and skipped, when others remain)."""
    from keras_evomt.data import prepare_task
    from keras_evomt.data.registry import missing_data

    specs = list(names)
    if recipe:
        from keras_evomt.recipe import load_recipe

        config = load_recipe(recipe, [])
        specs += list(config.tasks)
        data_dir = data_dir or config.data.data_dir or None
    if not specs:
        raise UserInputError("name the tasks to prepare, or pass --recipe RECIPE.")
    specs = list(dict.fromkeys(specs))
    manual = {m.task: m for m in missing_data(specs, data_dir) if m.manual}
    if len(specs) == 1 or len(manual) == len(specs):
        manual = {}  # nothing else to do: prepare_task says what the manual download is
    failed = []
    for spec in specs:
        if spec in manual:
            click.echo(f"{spec}: skipped, needs a manual download first ({manual[spec].dataset})")
            continue
        try:
            done = prepare_task(spec, data_dir=data_dir, download=download)
            click.echo(done if len(specs) == 1 else f"{spec}: {done}")
        except EvomtError as error:
            if len(specs) == 1:
                raise
            failed.append(spec)
            click.echo(f"{spec}: {error.message}", err=True)
    if failed or manual:
        raise EvomtError(
            f"{len(failed) + len(manual)} of {len(specs)} tasks are not prepared"
            + (f" (failed: {', '.join(failed)})" if failed else "")
            + (f" ({len(manual)} need a manual download)" if manual else "")
        )


if __name__ == "__main__":
    main()
