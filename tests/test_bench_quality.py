"""tools/bench_quality.py's measures: parameters per task, transfer, fingerprints."""

import dataclasses

import pytest

from keras_evomt.recipe import load_recipe
from keras_evomt.search import Search
from keras_evomt.search.journal import CandidateJournal, is_probe
from keras_evomt.system import ROOT
from tests.helpers import load_tool


@pytest.fixture(scope="module")
def bench():
    return load_tool("bench_quality")


@pytest.fixture(scope="module")
def revisited(tmp_path_factory, bench):
    """offline_mini's smoke tasks, each visited twice, under the bench's fingerprint check."""
    workdir = tmp_path_factory.mktemp("revisits")
    config = load_recipe("offline_mini.py:smoke", ["task_iterations=2"])
    ref: list = []
    observer = bench._Fingerprints(workdir, ref)
    with Search(config, workdir, observer=observer) as search:
        ref.append(search)
        system = search.run()
    return system, observer, workdir


@pytest.mark.slow
def test_params_ratio_counts_every_stored_parameter_once(bench, revisited):
    system, *_ = revisited
    paths = list(system.paths.values())
    stored = sum(system.params(c) for c in {cid for p in paths for cid in p.components})
    assert sum(system.accounted_params(p) for p in paths) == pytest.approx(stored)
    root = sum(system.params(c) for c in system.root.components)
    fulls = [root + system.params(p.components[-1]) for p in paths]  # a model per task
    ratio = bench.params_ratio(system)
    assert stored / (len(paths) * max(fulls)) <= ratio <= stored / (len(paths) * min(fulls))


@pytest.mark.slow
def test_no_candidate_id_is_reused_on_a_revisit(revisited):
    *_, workdir = revisited
    lines = CandidateJournal(workdir / "search" / "candidates.jsonl").read()
    records = [r for r in lines if not is_probe(r)]  # source probes have no id
    assert len(records) == 2 * 2 * 2  # 2 tasks x 2 visits x 2 candidates
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids), ids
    for task in ("digits", "textures"):
        assert [i for i in ids if i.startswith(task)] == [f"{task}#{n}" for n in range(4)]


@pytest.mark.slow
def test_a_revisit_adds_to_the_scores_and_tensorboard_steps_of_the_first_visit(revisited):
    from tensorboard.backend.event_processing import event_accumulator

    from keras_evomt.workdir import WorkdirLayout

    system, _, workdir = revisited
    layout = WorkdirLayout(workdir)

    def steps(run, tag: str) -> list[int]:
        events = event_accumulator.EventAccumulator(str(run), size_guidance={"tensors": 0})
        events.Reload()
        return [e.step for e in events.Tensors(tag)]

    for task in ("digits", "textures"):  # 1 generation a visit, 2 candidates a generation
        assert len(system.paths[task].metrics["best_by_generation"]) == 2  # both visits
        assert steps(layout.tb_task(task), "search/best_score") == [2, 4]
        assert steps(layout.tb_task(task), "task/params_added") == [2, 4]
    assert steps(layout.tb_system, "system/tasks") == [2, 4, 6, 8]  # candidates so far


@pytest.mark.slow
def test_no_revisit_changes_another_tasks_fingerprint(revisited):
    system, observer, _ = revisited
    assert set(observer.at_finish) == set(system.paths) and not observer.changed


def test_only_another_tasks_changed_fingerprint_counts(bench, tmp_path):
    class Search:
        system = type("System", (), {"fingerprint": lambda self, task: prints[task]})()

    prints = {"a": "a1", "b": "b1"}
    observer = bench._Fingerprints(tmp_path, [Search()])
    finish = lambda task: observer.task_finished(task, {}, 0, 0, len(prints))  # noqa: E731
    finish("a")
    finish("b")
    prints["a"] = "a2"  # a's revisit changes a's own path
    finish("a")
    assert not observer.changed
    prints["a"] = "a3"  # b's revisit changes a: forgetting
    finish("b")
    assert observer.changed == {"a"}


@pytest.mark.slow
def test_transfer_counts_descent_from_any_other_task(bench, revisited):
    system, *_ = revisited
    first, second = list(system.paths)
    own = {
        t: [c for c in p.components if c not in system.root.components]
        for t, p in system.paths.items()
    }
    for task, other in ((first, second), (second, first)):
        path = system.paths[task]
        system.paths[task] = dataclasses.replace(path, origin=other)
        assert task in bench.transfer(system)
        system.paths[task] = dataclasses.replace(path, origin=ROOT)
        shares_earlier = task == second and set(own[second]) & set(own[first])
        assert (task in bench.transfer(system)) == bool(shares_earlier)
        system.paths[task] = path
