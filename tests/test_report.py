import numpy as np
import pytest
from matplotlib import image as mpimg

from keras_evomt.components import roots
from keras_evomt.components.vit import (
    ClassToken,
    EncoderBlock,
    EncoderNorm,
    PatchEmbedding,
    PositionEmbedding,
    ResidualAdapter,
)
from keras_evomt.data.registry import list_tasks
from keras_evomt.errors import UserInputError
from keras_evomt.observe import Observer
from keras_evomt.report import column_keys, merged_columns, write_report
from keras_evomt.system import System

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PICTURES = ["sharing.png", "params.png", "accuracy.png", "search.png"]


def grow(workdir, tasks: list[str], num_layers: int = 2, tb_every: int = 4) -> System:
    """A system of untrained tasks with varied sharing: own blocks, reused blocks, adapters.

    Every `tb_every`-th task logs its search progress to TensorBoard instead of its metrics;
    the last task has no search record at all.
    """
    parts = [
        (roots.EMBEDDING, PatchEmbedding(8, 8)),
        (roots.CLASS_TOKEN, ClassToken()),
        (roots.POSITIONS, PositionEmbedding(4)),
    ]
    parts += [(roots.block_name(i), EncoderBlock(2, 16)) for i in range(num_layers)]
    parts.append((roots.NORM, EncoderNorm()))
    roots.build_in_order([c for _, c in parts], 32)
    system = System.from_root_components(parts, {"root": f"test_{num_layers}"}, image_size=32)
    rng = np.random.default_rng(0)
    observer = Observer(workdir, quiet=True)
    kept = []
    for k, task in enumerate(tasks):
        system.start_task(task)
        path = system.new_task_path(task, 10)
        blocks = [i for i, c in enumerate(path.components) if c.startswith("encoderblock_")]
        if k % 4 == 1:  # its own top block
            path.components[blocks[-1]] = system.clone(path.components[blocks[-1]])
        elif k % 4 in (2, 3):  # reuse the layers of the task before (2) or two before (3)
            donor = kept[-1 if k % 4 == 2 else -2]
            path.components[:-2] = donor.components[:-2]
            path.parent, path.origin = donor.id, donor.task
            if k % 4 == 3:  # and add its own adapter after the first block
                adapter = ResidualAdapter(4)
                adapter.build((None, 17, 8))
                path.components.insert(blocks[0] + 1, system.add("adapter_4", adapter))
        elif k % 8 == 4:  # its own middle block
            middle = blocks[len(blocks) // 2]
            path.components[middle] = system.clone(path.components[middle])
        path.id = f"{task}#0"
        scores = np.sort(rng.uniform(0.3, 0.9, 4)).round(4).tolist()
        path.metrics = {
            "validation_accuracy": scores[-1],
            "test_accuracy": float(rng.uniform(0.3, 0.9)),
        }
        if k == len(tasks) - 1:
            pass
        elif k % tb_every == tb_every - 1:
            for generation, score in enumerate(scores):
                observer.generation_finished(task, generation, score)
        else:
            path.metrics["best_by_generation"] = scores
        system.end_task(path)
        kept.append(path)
    observer.close()
    system.save(workdir)
    return system


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("five")
    tasks = ["digits", "lfw_faces", "textures", "fashion_mnist", "cifar10"]
    return workdir, grow(workdir, tasks, num_layers=4, tb_every=2)


def _check_png(path, min_size=(300, 300)):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    assert pixels.shape[0] >= min_size[0] and pixels.shape[1] >= min_size[1]
    assert pixels.shape[0] < 5000 and pixels.shape[1] < 5000
    assert np.ptp(pixels) > 0  # not blank


@pytest.mark.slow
def test_report_five_tasks(five):
    workdir, system = five
    files = write_report(workdir)
    assert [f.name for f in files] == [*PICTURES, "summary.md"]
    assert all(f.parent == workdir / "reports" for f in files)
    for png in files[:-1]:
        _check_png(png)
    summary = files[-1].read_text()
    for task in system.paths:
        assert f"| {task} |" in summary
    for picture in PICTURES:
        assert f"({picture})" in summary
    # progress comes from the metrics, or from TensorBoard for every 2nd task, or is missing
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "→" in line]
    assert len(rows) == 4
    assert "| 5 | cifar10 |" in summary and summary.rstrip().endswith("n/a |")


def test_the_sources_each_task_tried_come_from_the_candidate_log(tmp_path):
    from keras_evomt.report import sources_tried
    from keras_evomt.search.journal import CandidateJournal

    assert sources_tried(tmp_path) == {}
    parents = [("a", "root"), ("a", "a#0"), ("b", "a#1"), ("b", "root"), ("b", "a#0")]
    log = tmp_path / "search" / "candidates.jsonl"
    CandidateJournal(log).append([{"task": task, "parent": parent} for task, parent in parents])
    with open(log, "a") as f:
        f.write('{"task": "b", "par')  # a line a running search is writing
    assert sources_tried(tmp_path) == {"a": {"root": 1}, "b": {"a": 2, "root": 1}}


def test_the_sources_each_visit_probed_come_from_the_candidate_log(tmp_path):
    from keras_evomt.report import _probed_cell, sources_probed, sources_tried
    from keras_evomt.search.journal import CandidateJournal
    from keras_evomt.search.probe import SourceProbe

    def probes(task, ranked):
        return [
            SourceProbe(pid, accuracy, 0.1, accuracy, 1.0, 32, 64, 16).record(task, 0, rank)
            for rank, (pid, accuracy) in enumerate(ranked)
        ]

    CandidateJournal(tmp_path / "search" / "candidates.jsonl").append(
        [
            {"task": "a", "parent": "root"},  # a's first visit: the root alone, no probe
            *probes("b", [("a#0", 0.9), ("root", 0.7)]),
            {"task": "b", "parent": "a#0"},
            *probes("a", [("b#0", 0.8), ("root", 0.6)]),  # a's second visit
            {"task": "a", "parent": "b#0"},
            *probes("a", [("root", 0.5), ("b#0", 0.4)]),  # a's third, straight after
        ]
    )
    probed = sources_probed(tmp_path)
    assert probed == {
        "b": {1: {"a": 0.9, "root": 0.7}},
        "a": {2: {"b": 0.8, "root": 0.6}, 3: {"root": 0.5, "b": 0.4}},
    }
    assert sources_tried(tmp_path) == {"a": {"root": 1, "b": 1}, "b": {"a": 1}}
    cell = _probed_cell({1: {"a": 0.9, "b": 0.8, "c": 0.7, "root": 0.6}})
    assert cell == "visit 1: a 90.00%, b 80.00%, c 70.00% (+1 more)"


def test_the_systems_total_is_in_the_params_title_not_on_the_plot(five):
    from keras_evomt.report import cumulative_params, params_figure

    _, system = five
    right = params_figure(system).axes[1]
    total = cumulative_params(system)[-1]
    assert total == system.total_params()
    assert right.get_title() == f"Unique parameters of the system: {total / 1000:.2f} k"
    assert not right.texts  # nothing written where the line or the root's line may run


@pytest.mark.slow
def test_report_69_tasks_stays_readable(tmp_path):
    tasks = list_tasks()[:69]
    grow(tmp_path, tasks, num_layers=12)
    files = write_report(tmp_path, out_dir=tmp_path / "out")
    for png in files[:-1]:
        _check_png(png, min_size=(1000, 500))
    summary = files[-1].read_text()
    assert all(f"| {task} |" in summary for task in tasks)


def test_report_rejects_empty_workdirs(tmp_path):
    with pytest.raises(UserInputError, match="no saved system"):
        write_report(tmp_path)
    System.create("vit_tiny", image_size=32).save(tmp_path)
    with pytest.raises(UserInputError, match="no finished task"):
        write_report(tmp_path)


def test_columns_follow_every_paths_order():
    root = ["embedding.0", "encoderblock_0.1", "encoderblock_1.2", "head.3"]
    adapters = [
        "embedding.0",
        "encoderblock_0.1",
        "adapter_4.5",
        "encoderblock_1.2",
        "adapter_4.6",
        "head.7",
    ]
    assert column_keys(adapters)[4] == "adapter_4 #2"
    columns = merged_columns([column_keys(root), column_keys(adapters)])
    assert columns == [
        "embedding",
        "encoderblock_0",
        "adapter_4",
        "encoderblock_1",
        "adapter_4 #2",
        "head",
    ]


def _two_visit_path(rules, generations=(2, 3)):
    from keras_evomt.path import Path

    path = Path(task="digits", components=["head"], hparams={}, id="digits#5")
    path.metrics = {
        "best_by_generation": [0.5, 0.6, 0.55, 0.58, 0.61][: sum(generations)],
        "visits": [{"generations": g, "quality_rule": r} for g, r in zip(generations, rules)],
    }
    return path


def test_a_series_over_visits_under_two_rules_names_each_visits_rule():
    from keras_evomt.report import _progress_cell, rule_changes, search_visits

    path = _two_visit_path(["accuracy", "likelihood"])
    visits = search_visits(path, 5)
    assert rule_changes(visits) == [1]
    cell = _progress_cell(path.metrics["best_by_generation"], visits)
    assert cell == "visit 1 (accuracy): 0.500 → 0.600; visit 2 (likelihood): 0.550 → 0.580 → 0.610"
    same = search_visits(_two_visit_path(["accuracy", "accuracy"]), 5)
    assert rule_changes(same) == []
    assert _progress_cell([0.5, 0.6, 0.55, 0.58, 0.61], same).startswith("visit 1: 0.500 →")
    assert search_visits(path, 4) == []  # visits that do not add up: shown unsplit
    damaged = _two_visit_path(["accuracy", "accuracy"])
    damaged.metrics["visits"] = [{"generations": "many"}]
    assert search_visits(damaged, 5) == []


def test_the_search_picture_marks_where_a_tasks_quality_rule_changed():
    from keras_evomt.report import search_figure, search_visits

    changed = _two_visit_path(["accuracy", "likelihood"])
    same = _two_visit_path(["accuracy", "accuracy"])
    progress = {"digits": changed.metrics["best_by_generation"], "textures": [0.4, 0.5]}
    figure = search_figure(progress, None, {"digits": search_visits(changed, 5)})
    ax = figure.axes[0]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_xdata()) for line in dashed] == [[1.5, 1.5]]
    assert "quality rule changed" in ax.get_xlabel()
    figure = search_figure(progress, None, {"digits": search_visits(same, 5)})
    ax = figure.axes[0]
    assert [line.get_linestyle() for line in ax.get_lines()] == ["-"]  # a visit, same rule
    assert ax.get_xlabel() == "generation"
