"""`evomt report`: pictures of a grown system and a short markdown summary linking them.

Four PNG pictures, readable from 5 to 69+ tasks (heights grow with the task count):
- `sharing.png`: tasks (rows, in arrival order) by component slots (columns in path order);
  grey cells run a root component, blue ones a component the task uses alone, coloured
  numbered ones a component shared between tasks (the number is the task that added it);
- `params.png`: parameters of the kept components each task added (split into those it still
  uses alone and those later tasks reuse) and the system's cumulative unique parameters;
- `accuracy.png`: validation and test accuracy per task;
- `search.png`: the search's best score by generation per task, every visit's in turn, from
  `path.metrics["best_by_generation"]` or, failing that, the TensorBoard scalar
  `search/best_score` under `DIR/tb/<task>/`; a line between a task's visits, dashed
  orange where the quality rule changed (`path.metrics["visits"]`), since scores under two
  rules do not compare.
`summary.md` links them, with a row per task (accuracies, parameters, the path it
descends from, the sources its candidates started from).
Figures use matplotlib's object API (no pyplot), so no global backend is touched.

Example:
    files = write_report("runs/demo")   # [.../reports/sharing.png, ..., .../summary.md]
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import Patch

from keras_evomt import store
from keras_evomt.errors import UserInputError
from keras_evomt.path import ROOT, Path
from keras_evomt.search.journal import is_probe
from keras_evomt.structure import SavedStructure, read_structure
from keras_evomt.system import System, base_name
from keras_evomt.workdir import WorkdirLayout

ROOT_COLOUR, OWN_COLOUR, EMPTY_COLOUR = "#c9c9c9", "#9ecae1", "#ffffff"
SHARED_COLOURS = [
    "#e6550d",
    "#31a354",
    "#d62728",
    "#756bb1",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#fd8d3c",
]
ROW_INCHES, FONT = 0.17, 6.5
PICTURES = {
    "sharing": "which components each task's path uses",
    "params": "parameters added per task and the system's unique parameters",
    "accuracy": "validation and test accuracy per task",
    "search": "the search's best score by generation per task",
}


def write_report(
    workdir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    structure: SavedStructure | None = None,
) -> list[FsPath]:
    """Writes the pictures and `summary.md` (default `workdir/reports/`); returns their paths.

    `structure` is `read_structure(workdir)` when the caller has read it already.

    Example:
        write_report("runs/demo")  # [runs/demo/reports/sharing.png, ..., summary.md]
    """
    workdir = FsPath(workdir)
    system = structure if structure is not None else read_structure(workdir)
    if not system.paths:
        raise UserInputError(
            f"the system in {workdir} has no finished task yet; nothing to report."
        )
    out = FsPath(out_dir) if out_dir is not None else WorkdirLayout(workdir).reports
    out.mkdir(parents=True, exist_ok=True)
    progress = {task: search_progress(workdir, path) for task, path in system.paths.items()}
    visits = {task: search_visits(path, len(progress[task])) for task, path in system.paths.items()}
    figures = {
        "sharing": sharing_figure(system),
        "params": params_figure(system),
        "accuracy": accuracy_figure(system),
        "search": search_figure(progress, task_labels(system), visits),
    }
    written = []
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=130)
        written.append(_write(out / f"{name}.png", buffer.getvalue()))
    text = summary_markdown(system, workdir, progress, visits)
    return [*written, _write(out / "summary.md", text.encode())]


def _write(file: FsPath, data: bytes) -> FsPath:
    """Atomically, readable by others as the umask allows (temporary files are 0600)."""
    store.atomic_write_bytes(file, data)
    umask = os.umask(0)
    os.umask(umask)
    file.chmod(0o666 & ~umask)
    return file


# === Data ===
def component_count(system: System) -> int:
    """Components that the root or a task's path uses."""
    return len({cid for path in system.all_paths() for cid in path.components})


def task_labels(system: System) -> list[str]:
    """'3 cifar10' style row labels: the arrival number (from 1) and the task name."""
    private = system.private_tasks
    return [
        f"{i} {t}" + (" (private)" if t in private else "") for i, t in enumerate(system.paths, 1)
    ]


def column_keys(components: Sequence[str]) -> list[str]:
    """Column key per component: its base name, '#k' added when it repeats in the path."""
    seen: dict[str, int] = {}
    keys = []
    for cid in components:
        name = base_name(cid)
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return keys


def merged_columns(sequences: Sequence[Sequence[str]]) -> list[str]:
    """One column order consistent with every path's order (first seen wins ties)."""
    first: dict[str, int] = {}
    after: dict[str, set[str]] = {}
    for keys in sequences:
        for i, key in enumerate(keys):
            first.setdefault(key, len(first))
            after.setdefault(key, set())
            if i:
                after[key].add(keys[i - 1])
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(first):
        ready = [k for k in first if k not in placed and after[k] <= placed]
        if not ready:  # a cycle (paths disagree on order): fall back to first seen
            ready = [k for k in first if k not in placed]
        key = min(ready, key=first.__getitem__)
        order.append(key)
        placed.add(key)
    return order


def added_params(system: System) -> list[tuple[int, int]]:
    """Per task in arrival order: (params added and still used alone, added and reused)."""
    known = set(system.root.components) if system.root else set()
    rows = []
    for task, path in system.paths.items():
        new = [c for c in dict.fromkeys(path.components) if c not in known]
        known.update(new)
        alone = sum(system.params(c) for c in new if system.users(c) - {ROOT} <= {task})
        rows.append((alone, sum(system.params(c) for c in new) - alone))
    return rows


def cumulative_params(system: System) -> list[int]:
    """Unique parameters of the root plus the first k tasks, for each k."""
    used = set(system.root.components) if system.root else set()
    total = sum(system.params(c) for c in used)
    totals = []
    for path in system.paths.values():
        for cid in path.components:
            if cid not in used:
                used.add(cid)
                total += system.params(cid)
        totals.append(total)
    return totals


def search_progress(workdir: str | os.PathLike, path: Path) -> list[float]:
    """Best score by generation: the path's metrics, else TensorBoard's `search/best_score`."""
    stored = path.metrics.get("best_by_generation")
    if stored:
        return [float(v) for v in stored]
    events = WorkdirLayout(workdir).tb_task(path.task)
    if not events.is_dir():
        return []
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    accumulator = event_accumulator.EventAccumulator(
        str(events), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    tags = accumulator.Tags()
    by_step: dict[int, tuple[float, float]] = {}  # step -> (wall time, value); newest wins
    if "search/best_score" in tags.get("tensors", []):
        for event in accumulator.Tensors("search/best_score"):
            value = float(tensor_util.make_ndarray(event.tensor_proto))
            if event.step not in by_step or event.wall_time >= by_step[event.step][0]:
                by_step[event.step] = (event.wall_time, value)
    elif "search/best_score" in tags.get("scalars", []):
        for event in accumulator.Scalars("search/best_score"):
            by_step[event.step] = (event.wall_time, float(event.value))
    return [by_step[step][1] for step in sorted(by_step)]


def search_visits(path: Path, generations: int) -> list[dict[str, Any]]:
    """The visits that made `path.metrics["best_by_generation"]`, in order: each one's
    generations and quality rule (None: not recorded). Empty when the path's visits were not
    recorded (older versions) or do not add up to the series' `generations`.

    Example:
        search_visits(path, 12)  # [{"generations": 6, "quality_rule": "accuracy"}, ...]
    """
    visits = path.metrics.get("visits")
    if not isinstance(visits, list) or not visits:
        return []
    try:
        spans = [
            {"generations": int(v["generations"]), "quality_rule": v.get("quality_rule")}
            for v in visits
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        return []  # hand-edited or damaged: the series is still shown, unsplit
    return spans if sum(v["generations"] for v in spans) == generations else []


def rule_changes(visits: Sequence[dict[str, Any]]) -> list[int]:
    """Indices of the visits scored under another quality rule than the visit before.

    Example:
        rule_changes([{"quality_rule": "accuracy"}, {"quality_rule": "likelihood"}])  # [1]
    """
    return [
        i
        for i in range(1, len(visits))
        if visits[i]["quality_rule"] != visits[i - 1]["quality_rule"]
    ]


# === Figures ===
def _height(rows: int, extra: float) -> float:
    return max(2.6, rows * ROW_INCHES + extra)


def _task_axis(ax, labels: list[str]) -> None:
    ax.set_yticks(range(len(labels)), labels, fontsize=FONT)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)


def sharing_figure(system: System) -> Figure:
    """Tasks x component slots; colours show which component instance each path runs."""
    root = system.root
    paths = [root, *system.paths.values()] if root else list(system.paths.values())
    labels = (["root"] if root else []) + task_labels(system)
    keys = [column_keys(p.components) for p in paths]
    columns = merged_columns(keys)
    arrival = {task: i for i, task in enumerate(system.paths, 1)}
    introduced: dict[str, int] = {}
    for path in system.paths.values():
        for cid in path.components:
            introduced.setdefault(cid, arrival[path.task])
    root_ids = set(root.components) if root else set()

    grid = np.tile(_rgb(EMPTY_COLOUR), (len(paths), len(columns), 1))
    numbers: list[tuple[int, int, str]] = []
    for row, (path, row_keys) in enumerate(zip(paths, keys)):
        for cid, key in zip(path.components, row_keys):
            col = columns.index(key)
            tasks = system.users(cid) - {ROOT}
            if cid in root_ids:
                colour = ROOT_COLOUR
            elif len(tasks) <= 1:
                colour = OWN_COLOUR
            else:
                colour = SHARED_COLOURS[(introduced[cid] - 1) % len(SHARED_COLOURS)]
                numbers.append((row, col, str(introduced[cid])))
            grid[row, col] = _rgb(colour)

    width = max(5.5, 0.24 * len(columns) + 0.065 * max(map(len, labels)) + 1.2)
    figure = Figure(figsize=(width, _height(len(paths), 2.6)), layout="constrained")
    ax = figure.add_subplot()
    ax.imshow(grid, aspect="auto", interpolation="nearest")
    _task_axis(ax, labels)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=FONT)
    ax.set_xticks(np.arange(-0.5, len(columns)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(paths)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    number_size = min(FONT, 5.5 + 0.5 * (len(paths) < 30))
    for row, col, text in numbers:
        ax.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=number_size,
            color="white",
            fontweight="bold",
        )
    ax.set_title(
        f"Components per task ({len(system.paths)} tasks, {component_count(system)} components)",
        fontsize=FONT + 2,
    )
    if root:
        ax.axhline(0.5, color="#404040", linewidth=1.2)
    shared = tuple(Patch(color=c) for c in SHARED_COLOURS[:4])
    figure.legend(
        [Patch(color=ROOT_COLOUR), Patch(color=OWN_COLOUR), shared],
        [
            "root component (shared, frozen)",
            "used by this task alone",
            "shared between tasks (number: the task that added it)",
        ],
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0)},
        loc="outside lower center",
        ncols=3 if width > 11 else 1,
        fontsize=FONT,
        frameon=False,
    )
    return figure


def params_figure(system: System) -> Figure:
    """Parameters each task added (bars) and cumulative unique parameters (line)."""
    labels = task_labels(system)
    added = np.array(added_params(system), dtype=float).reshape(-1, 2)
    totals = cumulative_params(system)
    rows = range(len(labels))
    figure = Figure(figsize=(8.5, _height(len(labels), 1.6)), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[3, 2])
    left.barh(rows, added[:, 0], height=0.7, color=OWN_COLOUR, label="still used alone")
    left.barh(
        rows,
        added[:, 1],
        left=added[:, 0],
        height=0.7,
        color=SHARED_COLOURS[0],
        label="reused by later tasks",
    )
    left.set_title("Parameters of the components each task added (as kept)", fontsize=FONT + 2)
    left.set_xlim(0, max(added.sum(axis=1).max(), 1) * 1.04)
    root = sum(system.params(c) for c in system.root.components) if system.root else 0
    right.plot(
        totals,
        rows,
        marker="o",
        markersize=2.5,
        linewidth=1.2,
        color="#3182bd",
        label="system after the task",
    )
    right.axvline(root, color="#969696", linestyle="--", linewidth=1, label="root")
    # The total in the title: a label beside the line's end would cross it or the root's.
    right.set_title(f"Unique parameters of the system: {_eng(totals[-1])}", fontsize=FONT + 2)
    right.set_xlim(0, max(totals) * 1.05)
    figure.legend(loc="outside lower center", ncols=4, fontsize=FONT, frameon=False)
    for ax in (left, right):
        ax.xaxis.set_major_formatter(ticker.EngFormatter())
        ax.tick_params(axis="x", labelsize=FONT)
        ax.grid(axis="x", linewidth=0.4, alpha=0.5)
        ax.set_axisbelow(True)
    _task_axis(left, labels)
    right.tick_params(axis="y", length=0)
    return figure


def accuracy_figure(system: System) -> Figure:
    """Validation and test accuracy per task, side by side."""
    labels = task_labels(system)
    figure = Figure(figsize=(7.0, _height(len(labels), 1.2)), layout="constrained")
    ax = figure.add_subplot()
    annotate = len(labels) <= 25
    for offset, (key, colour, name) in enumerate(
        [("validation_accuracy", "#9ecae1", "validation"), ("test_accuracy", "#3182bd", "test")]
    ):
        values = [path.metrics.get(key) for path in system.paths.values()]
        rows = np.arange(len(labels)) - 0.2 + 0.4 * offset
        known = [(r, v) for r, v in zip(rows, values) if v is not None]
        if known:
            ax.barh(
                [r for r, _ in known], [v for _, v in known], height=0.38, color=colour, label=name
            )
        if annotate:
            for r, v in known:
                ax.text(min(v, 1.0) + 0.005, r, f"{v:.1%}", va="center", fontsize=FONT - 1)
    ax.set_xlim(0, 1.08 if annotate else 1.0)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.tick_params(axis="x", labelsize=FONT)
    ax.grid(axis="x", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    _task_axis(ax, labels)
    ax.set_title("Accuracy per task", fontsize=FONT + 2)
    if ax.get_legend_handles_labels()[0]:  # no accuracy recorded yet: no legend
        figure.legend(fontsize=FONT, frameon=False, loc="outside lower center", ncols=2)
    return figure


def search_figure(
    progress: dict[str, list[float]],
    labels: list[str] | None = None,
    visits: dict[str, list[dict[str, Any]]] | None = None,
) -> Figure:
    """Best score by generation: one row per task, one cell per generation; a white line
    between a task's visits, an orange dashed one where its quality rule changed (the
    scores either side of it are not comparable)."""
    labels = labels or [f"{i} {t}" for i, t in enumerate(progress, 1)]
    visits = visits or {}
    generations = max((len(v) for v in progress.values()), default=0)
    grid = np.full((len(labels), max(generations, 1)), np.nan)
    for row, values in enumerate(progress.values()):
        grid[row, : len(values)] = values
    width = max(5.0, 0.45 * generations + 0.065 * max(map(len, labels)) + 2.0)
    figure = Figure(figsize=(width, _height(len(labels), 1.3)), layout="constrained")
    ax = figure.add_subplot()
    finite = grid[np.isfinite(grid)]
    if finite.size:
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            aspect="auto",
            cmap="viridis",
            interpolation="nearest",
            vmin=finite.min(),
            vmax=finite.max(),
        )
        colourbar = figure.colorbar(
            image, ax=ax, location="bottom", shrink=0.6, aspect=30, pad=0.01
        )
        colourbar.ax.tick_params(labelsize=FONT)
        colourbar.set_label("best score", fontsize=FONT)
        middle = (finite.min() + finite.max()) / 2
        if generations <= 16:
            for (row, col), value in np.ndenumerate(grid):
                if math.isfinite(value):
                    ax.text(
                        col,
                        row,
                        f"{value:.3f}",
                        ha="center",
                        va="center",
                        fontsize=FONT - 1,
                        color="black" if value > middle else "white",
                    )
    changed = _visit_lines(ax, [visits.get(task, []) for task in progress])
    if changed:
        ax.set_xlabel("generation (orange dashed line: the quality rule changed)", fontsize=FONT)
    for row, values in enumerate(progress.values()):
        if not values:
            ax.text(
                0, row, "no search data", ha="left", va="center", fontsize=FONT - 1, color="#636363"
            )
    ax.set_xticks(
        range(max(generations, 1)),
        [str(g) for g in range(1, max(generations, 1) + 1)],
        fontsize=FONT,
    )
    if not changed:
        ax.set_xlabel("generation", fontsize=FONT)
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    _task_axis(ax, labels)
    ax.set_title("Search progress: best score by generation", fontsize=FONT + 2)
    return figure


def _visit_lines(ax, rows: list[list[dict[str, Any]]]) -> bool:
    """Draws a line between a row's visits, dashed orange where the quality rule changed;
    returns whether any did."""
    changed = False
    for row, spans in enumerate(rows):
        changes = set(rule_changes(spans))
        changed |= bool(changes)
        edge = 0
        for i, span in enumerate(spans[:-1]):
            edge += span["generations"]
            colour, line = ("#ff7f0e", "--") if i + 1 in changes else ("white", "-")
            ax.plot([edge - 0.5] * 2, [row - 0.5, row + 0.5], color=colour, ls=line, lw=2)
    return changed


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))


def _eng(value: float) -> str:
    return ticker.EngFormatter(places=2)(value)


# === Summary ===
def summary_markdown(
    system: System,
    workdir: FsPath,
    progress: dict[str, list[float]],
    visits: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """The short markdown summary: totals, the pictures, one table row per task."""
    visits = visits or {}
    root_params = sum(system.params(c) for c in system.root.components) if system.root else 0
    lines = [
        f"# keras_evomt report: {workdir}",
        "",
        f"{len(system.paths)} {'task' if len(system.paths) == 1 else 'tasks'}, "
        f"{component_count(system)} components, "
        f"{system.total_params():,} unique parameters (root `{system.info.get('root')}`: "
        f"{root_params:,}; weights: {system.info.get('checkpoint') or 'random init'}).",
        "",
    ]
    if system.active_task:
        lines += [f"Task `{system.active_task}` is being searched; it is not in this report.", ""]
    for name, caption in PICTURES.items():
        lines += [f"## {caption.capitalize()}", "", f"![{caption}]({name}.png)", ""]
    lines += [
        "## Tasks",
        "",
        "| # | task | validation % | test % | own params | accounted params | path length "
        "| descends from | sources probed (best 3 a visit by score: accuracy x size term) "
        "| sources tried (candidates) "
        "| best score by generation |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tried, probed = sources_tried(workdir), sources_probed(workdir)
    for i, (task, path) in enumerate(system.paths.items(), 1):
        scores = _progress_cell(progress[task], visits.get(task, []))
        sources = ", ".join(f"{s} {n}" for s, n in tried.get(task, {}).items()) or "n/a"
        probes = _probed_cell(probed.get(task, {}))
        lines.append(
            f"| {i} | {task} | {_percent(path.metrics.get('validation_accuracy'))} "
            f"| {_percent(path.metrics.get('test_accuracy'))} "
            f"| {system.own_params(path):,} | {round(system.accounted_params(path)):,} "
            f"| {len(path.components)} | {path.origin or 'n/a'} | {probes} "
            f"| {sources} | {scores} |"
        )
    return "\n".join(lines) + "\n"


def sources_tried(workdir: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Per task, how many of its candidates started from each other task's path or from
    the root, in the order first tried (DIR/search/candidates.jsonl): the transfer the
    search tried, kept or not.

    Example:
        sources_tried("runs/demo")  # {"textures": {"digits": 1, "root": 1}, ...}
    """
    tried: dict[str, dict[str, int]] = {}
    for record in _journal_lines(workdir):
        task, source = record.get("task"), _source_task(record)
        if task and source and source != task and not is_probe(record):
            counts = tried.setdefault(task, {})
            counts[source] = counts.get(source, 0) + 1
    return tried


def sources_probed(workdir: str | os.PathLike) -> dict[str, dict[int, dict[str, float]]]:
    """Per task and visit (1, 2, ...), the sources that visit probed
    (`parents.seed_order = "probe"`), best first, with their probes' accuracy
    (DIR/search/candidates.jsonl).

    Example:
        sources_probed("runs/demo")  # {"textures": {1: {"digits": 0.82, "root": 0.74}}, ...}
    """
    probed: dict[str, dict[int, dict[str, float]]] = {}
    visits: dict[str, int] = {}
    previous: dict[str, Any] = {}
    for record in _journal_lines(workdir):
        task = record.get("task")
        probe = is_probe(record)
        # A visit's lines are one block: its probes (rank 0 first), then its candidates.
        if task != previous.get("task") or (
            probe and record.get("rank") == 0 and not is_probe(previous)
        ):
            visits[task] = visits.get(task, 0) + 1
        if probe:
            by_visit = probed.setdefault(task, {}).setdefault(visits[task], {})
            by_visit[_source_task(record)] = record.get("quality")
        previous = record
    return probed


def _probed_cell(visits: dict[int, dict[str, float]], shown: int = 3) -> str:
    parts = []
    for visit, sources in visits.items():
        best = ", ".join(f"{s} {_percent(a)}%" for s, a in list(sources.items())[:shown])
        more = f" (+{len(sources) - shown} more)" if len(sources) > shown else ""
        parts.append(f"visit {visit}: {best}{more}")
    return "; ".join(parts) or "n/a"


def _progress_cell(values: Sequence[float], visits: Sequence[dict[str, Any]]) -> str:
    """`0.812 → 0.851`; with several visits `visit 1: ... ; visit 2: ...`, each visit's
    quality rule named when the rule changed between them."""
    if not values:
        return "n/a"
    if len(visits) < 2:
        return " → ".join(f"{v:.3f}" for v in values)
    named = bool(rule_changes(visits))
    parts, start = [], 0
    for number, visit in enumerate(visits, 1):
        stop = start + visit["generations"]
        rule = f" ({visit['quality_rule'] or 'rule not recorded'})" if named else ""
        scores = " → ".join(f"{v:.3f}" for v in values[start:stop])
        parts.append(f"visit {number}{rule}: {scores}")
        start = stop
    return "; ".join(parts)


def _journal_lines(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    file = WorkdirLayout(workdir).candidates
    if not file.exists():
        return []
    records = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # blank, or a line a running search is writing
            continue
    return records


def _source_task(record: dict[str, Any]) -> str:
    parent = str(record.get("parent") or "")
    return parent.rsplit("#", 1)[0] if "#" in parent else parent


def _percent(value: Any) -> str:  # as `evomt status` shows accuracies
    return "n/a" if value is None else f"{100 * float(value):.2f}"
