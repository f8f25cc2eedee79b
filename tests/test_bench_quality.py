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


def test_seeds_are_read_as_lists_and_ranges(bench):
    assert bench.parse_seeds("0") == [0]
    assert bench.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(SystemExit, match="give distinct seeds"):
        bench.parse_seeds("0,0")


def _figures(tests: dict, ratio: float, transfer: list, changed=()):
    return {
        "test": tests,
        "steps": {t: 2 for t in tests},
        "params_ratio": ratio,
        "transfer": transfer,
        "changed": list(changed),
    }


def test_the_summary_over_seeds_averages_each_seeds_mean(bench):
    by_seed = {
        0: {
            "mu2net": _figures({"a": 0.8, "b": 0.6}, 0.4, ["b"]),
            "finetune_all": _figures({"a": 0.9, "b": 0.7}, 1.0, []),
        },
        3: {
            "mu2net": _figures({"a": 1.0, "b": 0.8}, 0.6, []),
            "finetune_all": _figures({"a": 0.7, "b": 0.5}, 1.0, [], changed=["a"]),
        },
    }
    summary = bench.seeds_summary(by_seed)
    assert summary["seeds"] == [0, 3]
    assert summary["mean_test_accuracy"] == {"mu2net": 0.8, "finetune_all": 0.7}
    assert summary["sd_of_seed_means"]["mu2net"] == pytest.approx(0.1414, abs=1e-4)
    assert summary["params_per_task_ratio"] == 0.5
    assert summary["tasks_with_transfer"] == 0  # the fewest of any seed
    assert summary["fingerprints_changed"] == 1 and summary["equal_steps"] is True
    assert [line["seed"] for line in summary["per_seed"]] == [0, 3]
    assert summary["per_seed"][0]["mean_test_accuracy"]["mu2net"] == 0.7


def test_a_run_over_seeds_writes_its_own_section_and_json(bench, tmp_path, capsys, monkeypatch):
    import json

    def canned(recipe, workdir, overrides):  # as run_method reports a run
        seed = int(overrides[-1].partition("=")[2])
        mu2net = recipe.startswith("offline_mini")
        return {
            **_figures({"a": 0.5 + 0.1 * seed + 0.05 * mu2net}, 0.4, ["a"] if mu2net else []),
            "seconds": 60.0,
            "failed": 0,
            "origin": {"a": "root"},
            "root": "builtin:vit_mini_fashion_mnist",
        }

    monkeypatch.setattr(bench, "run_method", canned)
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\n## Quality at equal steps\n\nkept\n")
    args = ["--workdir", str(tmp_path / "runs"), "--seeds", "1-2"]
    assert bench.main([*args, "--benchmarks", str(benchmarks), "--set=tasks=['a']"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["seeds"] == [1, 2] and summary["tasks_with_transfer"] == 1
    assert summary["mean_test_accuracy"]["mu2net"] == pytest.approx(0.7)
    text = benchmarks.read_text()
    assert "## Quality at equal steps\n\nkept\n" in text  # the seed-0 bench's section stays
    assert "| 2 | 75.00 | 70.00 | 70.00 | 0.40 | 1 |" in text
    assert "| **mean** | **70.00** | **65.00** | **65.00** | **0.40** | |" in text


@pytest.mark.slow
def test_a_run_in_its_own_process_agrees_with_one_in_this_process(bench, tmp_path):
    from argparse import Namespace

    tiny = ['tasks=["digits"]', "steps_per_validation=2", "validations=1", "generations=1"]
    tiny.append("task_iterations=1")
    recipe = bench.METHODS["finetune_all"]
    here = bench.run_method(recipe, tmp_path / "here", [*tiny, "seed=1"])
    own = Namespace(variant="", overrides=tiny)  # as --jobs runs each method and seed
    alone = bench._in_own_process(tmp_path / "alone", own, 1, "finetune_all")
    assert alone["test"] == here["test"] and alone["steps"] == here["steps"] == {"digits": 2}
