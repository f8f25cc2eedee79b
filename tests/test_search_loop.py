"""The search loop end to end: transfer, no forgetting, failures, resume (search/loop.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from keras_evomt.errors import EvomtError
from keras_evomt.observe import Observer
from keras_evomt.recipe import load_recipe
from keras_evomt.search import Search
from keras_evomt.search.journal import CandidateJournal, is_probe
from tests.helpers import (
    REPO,
    child_env,
    digits,
    kill_mid_generation_and_resume,
    tiny_search_config,
)


@pytest.mark.slow
def test_three_tasks_transfer_and_zero_forgetting(tmp_path):
    config = tiny_search_config(("digits", "textures", "lfw_faces"))
    config.generations, config.candidates_per_generation = 2, 1
    config.first_generation_candidates = 3  # the sources; then one candidate a generation
    config.first_generation_validations = 1  # each trains one round of the others' two
    search = Search(config, tmp_path, observer=Observer(tmp_path, quiet=True))
    probe = digits(8)[0]
    fingerprints, predictions = {}, {}
    for task in config.tasks:
        search.evolve(task)
        for old in fingerprints:
            assert search.system.fingerprint(old) == fingerprints[old]
            np.testing.assert_array_equal(search.system.model(old)(probe), predictions[old])
        fingerprints[task] = search.system.fingerprint(task)
        predictions[task] = search.system.model(task)(probe).numpy()
    paths = search.system.paths
    assert all("test_accuracy" in p.metrics for p in paths.values())
    assert (tmp_path / "tb").is_dir()
    # The first generation of a later task tries several sources (other tasks, the root).
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    assert all("hparams" in r and "quality" in r for r in records)
    for task in config.tasks:
        assert [r["generation"] for r in records if r["task"] == task] == [0, 0, 0, 1]
        assert [r["steps"] for r in records if r["task"] == task] == [3, 3, 3, 6]
    for task, sources in (("textures", 2), ("lfw_faces", 3)):
        first = [r for r in records if r["task"] == task and r["generation"] == 0]
        tried = {r["parent"].rsplit("#", 1)[0] for r in first}
        assert len(tried) == sources, (task, tried)


@pytest.mark.slow
def test_a_nan_candidate_is_recorded_and_the_search_goes_on(tmp_path):
    config = tiny_search_config(("digits",))
    config.space.opt_lr = [1e30]
    config.defaults.opt_lr = 1e30
    config.max_consecutive_failures = 2
    search = Search(config, tmp_path, observer=Observer(tmp_path, quiet=True))
    with pytest.raises(EvomtError, match="2 candidates of 'digits' failed in a row"):
        search.evolve("digits")
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    assert "became nan" in state["population"]["proposals"][0]["outcome"]["failed"]


@pytest.mark.slow
def test_a_damaged_newest_state_restarts_the_task_in_flight(tmp_path):
    from keras_evomt import store

    config = tiny_search_config(("digits", "textures"))
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.run()
        newest = search.state.system_state
    # The state the search state names (textures finished) is damaged; the one before it
    # still has textures in flight.
    (store.system_dir(tmp_path) / f"manifest-{newest:08d}.json").write_text("{")
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        system = search.run()
    assert list(system.paths) == ["digits", "textures"]
    assert "test_accuracy" in system.paths["textures"].metrics
    ids = [json.loads(line)["id"] for line in (tmp_path / "search" / "candidates.jsonl").open()]
    textures = [int(i.split("#")[1]) for i in ids if i.startswith("textures#")]
    per_visit = config.generations * config.candidates_per_generation
    # The log holds the committed state's lines: the redone visit only, numbered after
    # the abandoned one (whose ids TensorBoard keeps).
    assert len(textures) == per_visit and min(textures) == per_visit
    assert len(set(ids)) == len(ids)


@pytest.mark.slow
def test_a_generation_shares_its_image_size_and_data_hyperparameters(tmp_path, monkeypatch):
    from keras_evomt.observe import CandidateLog

    records = []
    monkeypatch.setattr(
        CandidateLog,
        "finished",
        lambda log, record, hp: records.append(
            (record, {k: v for k, v in hp.items() if k.startswith("ds_")})
        ),
    )
    config = tiny_search_config(("digits",))
    config.generations, config.candidates_per_generation = 3, 2
    config.space.image_size = [16, 24, 32, 40]
    config.space._mu_ = [1.0]
    config.defaults._mu_ = 1.0  # every key moves each generation
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.evolve("digits")
    by_generation: dict[int, set] = {}
    for record, data in records:
        by_generation.setdefault(record["generation"], set()).add(
            (record["image_size"], tuple(sorted(data.items())))
        )
    assert sorted(by_generation) == [0, 1, 2]
    assert all(len(shared) == 1 for shared in by_generation.values())
    assert len({next(iter(s))[0] for s in by_generation.values()}) > 1  # sizes did change


RUN = """
import sys
sys.path.insert(0, {root!r})
from keras_evomt.observe import Observer
from keras_evomt.recipe import load_recipe
from keras_evomt.search import Search
from tests.helpers import tiny_search_config
config = tiny_search_config(("digits", "textures"))
config.candidates_per_generation = 3
Search(config, {workdir!r}, observer=Observer({workdir!r}, quiet=True)).run()
"""


def _fingerprints(workdir):
    from keras_evomt.system import System

    system = System.load(workdir)
    return {t: system.fingerprint(t) for t in system.paths}, len(system.components)


@pytest.mark.slow
def test_a_killed_search_resumes_to_the_same_system(tmp_path):
    root = str(REPO)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(
        [sys.executable, "-c", RUN.format(root=root, workdir=str(whole))],
        check=True,
        timeout=300,
        cwd=tmp_path,
        env=child_env(),
    )
    kill_mid_generation_and_resume(RUN.format(root=root, workdir=str(killed)), killed, "digits")
    assert _fingerprints(killed) == _fingerprints(whole)

    def candidates(workdir):
        lines = CandidateJournal(workdir / "search" / "candidates.jsonl").read()
        return [{k: v for k, v in r.items() if k != "seconds"} for r in lines]

    assert candidates(killed) == candidates(whole) and len(candidates(whole)) == 6


@pytest.mark.slow
def test_a_generation_draws_its_parents_from_the_population_as_it_began(tmp_path):
    config = tiny_search_config(("digits",))
    config.generations, config.candidates_per_generation = 3, 3
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.evolve("digits")
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    assert [r["generation"] for r in records] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert {r["parent"] for r in records if r["generation"] == 0} == {"root"}
    for generation in (1, 2):
        mine = {r["id"] for r in records if r["generation"] == generation}
        earlier_members = {r["id"] for r in records if r["generation"] < generation and r["joined"]}
        parents = {r["parent"] for r in records if r["generation"] == generation}
        assert not parents & mine  # never a sibling of the same generation
        assert parents <= earlier_members | {"root"}


def test_missing_data_stops_a_run_before_anything_trains(tmp_path):
    from keras_evomt.errors import MissingDataError

    config = tiny_search_config(("digits", "cifar100", "svhn_cropped"))
    config.data.data_dir = str(tmp_path / "tfds")  # empty: no TFDS data prepared
    workdir = tmp_path / "run"
    with Search(config, workdir, observer=Observer(workdir, quiet=True)) as search:
        with pytest.raises(MissingDataError) as error:
            search.run()
    assert "cifar100" in str(error.value) and "svhn_cropped" in str(error.value)  # all at once
    assert not search.system.paths and search.state.position == 0
    assert not CandidateJournal(workdir / "search" / "candidates.jsonl").read()


@pytest.mark.slow
def test_a_revisit_of_a_state_without_candidate_numbers_numbers_after_the_log(tmp_path):
    config = load_recipe("offline_mini.py:smoke", [])
    with Search(config, tmp_path) as search:
        kept = search.run().paths["textures"].id
    assert kept == "textures#0", "the test needs a kept path older than the last candidate"
    state_file = tmp_path / "search" / "state.json"
    state = json.loads(state_file.read_text())
    del state["serials"]  # as written before the numbers were kept
    state_file.write_text(json.dumps(state))
    with Search(config, tmp_path) as search:
        search.evolve("textures")
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    ids = [r["id"] for r in records if r["task"] == "textures" and not is_probe(r)]
    assert ids == [f"textures#{n}" for n in range(4)], ids


def test_a_search_says_which_executor_it_starts(tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr(Observer, "message", lambda self, text: said.append(text))
    config = tiny_search_config(("digits",))
    config.distribute.executor = "devices"
    Search(config, tmp_path, observer=Observer(tmp_path)).close()
    assert said == [
        "starting the devices executor (distribute.executor) ...",
        "devices executor: 1 candidate at a time",
    ]


def test_a_task_keeps_its_classes_its_root_and_a_search_its_config_type(tmp_path):
    from keras_evomt.data import Task
    from keras_evomt.errors import UserInputError
    from keras_evomt.search import evolve

    config = tiny_search_config(("digits",), candidates_per_generation=1, validations=1)
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.run()
    journal = CandidateJournal(tmp_path / "search" / "candidates.jsonl")
    state_file, manifests = tmp_path / "search" / "state.json", tmp_path / "system"
    before = journal.read(), state_file.read_bytes(), sorted(manifests.glob("manifest-*"))
    from keras_evomt.system import System

    assert System.load(tmp_path).class_names("digits") == [str(d) for d in range(10)]
    assert System.load(tmp_path).value_range("digits") == [0.0, 16.0]
    x, y = digits(64)
    two_classes = Task.from_arrays("digits", x, y % 2)
    with pytest.raises(UserInputError, match="'digits' has 10 classes in this system, but"):
        evolve(tmp_path, two_classes, config, observer=Observer(tmp_path, quiet=True))
    as_uint8 = np.round((x + 1) * 8).astype(np.uint8)  # digits' 0..16, read as 0..255
    misread = Task.from_arrays("digits", as_uint8, y, num_classes=10, value_range=(0, 255))
    with pytest.raises(UserInputError, match=r"trained on pixels in \[0, 16\], but this"):
        evolve(tmp_path, misread, config, observer=Observer(tmp_path, quiet=True))
    other_root = tiny_search_config(("digits",), root__name="vit_mini")
    with pytest.raises(UserInputError, match=r"another root: root.name='vit_mini'"):
        evolve(tmp_path, "digits", other_root, observer=Observer(tmp_path, quiet=True))
    with pytest.raises(UserInputError, match="must be an ml_collections.ConfigDict"):
        evolve(tmp_path, "digits", {"generations": 1})
    with pytest.raises(UserInputError, match="a task name or a keras_evomt Task"):
        evolve(tmp_path, (x, y), config, observer=Observer(tmp_path, quiet=True))
    after = journal.read(), state_file.read_bytes(), sorted(manifests.glob("manifest-*"))
    assert after == before  # nothing trained, nothing written
    from keras_evomt.search import default_config
    from tests.helpers import tiny_system

    fresh = tmp_path.parent / f"{tmp_path.name}_fresh"
    with pytest.raises(UserInputError, match="another root: root.name='vit_l16'"):
        evolve(tiny_system(), "digits", default_config(), workdir=fresh)
    assert not (fresh / "system").exists()  # checked before the system is written
    with pytest.raises(AttributeError, match="cannot be added since the config is locked"):
        config.generation = 1  # a typo of generations


@pytest.mark.slow
def test_a_run_killed_in_its_first_save_starts_over(tmp_path):
    config = tiny_search_config(("digits",))
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    weights = killed / "system" / "weights"  # what a kill before the first manifest leaves
    weights.mkdir(parents=True)
    (weights / "block.0-a1b2.npz").write_bytes(b"half")
    (weights / ".block.1-c3d4.npz.x1y2.tmp").write_bytes(b"half")
    for workdir in (fresh, killed):
        with Search(config, workdir, observer=Observer(workdir, quiet=True)) as search:
            search.run()
    assert _fingerprints(killed) == _fingerprints(fresh)


def test_an_iteration_in_flight_resumes_only_under_the_settings_it_began_with(
    tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from keras_evomt.cli import main
    from keras_evomt.recipe import pin_config

    config = tiny_search_config(tasks=("digits",))
    pin_config(config, tmp_path)
    evolve = ["evolve", "--workdir", str(tmp_path), "--task", "digits", "--quiet"]
    with monkeypatch.context() as patch:  # killed before its first generation ends
        patch.setattr(Search, "_generation", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        killed = CliRunner().invoke(
            main, [*evolve, "--set", "seed=7", "--set", "score.quality=likelihood"]
        )
    assert killed.exit_code == 130, killed.output  # as Ctrl-C
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    assert state["population"]["task"] == "digits" and state["iteration_config"]["seed"] == 7

    refused = CliRunner().invoke(main, evolve)  # `--set seed=7` is not in config.json
    assert refused.exit_code == 2, refused.output
    assert "task 'digits' is in flight" in refused.output
    assert "seed (0, began with 7)" in refused.output
    rule = config.score.quality  # its candidates would be scored under two rules
    assert f"score.quality ('{rule}', began with 'likelihood')" in refused.output
    assert '--task digits --set score.quality="likelihood" --set seed=7' in refused.output
    refused = CliRunner().invoke(main, [*evolve, "--set", "seed=7"])
    assert refused.exit_code == 2 and "score.quality (" in refused.output, refused.output
    # Another task waits for it; this command's own --set do not resume it.
    other = [*evolve[:-3], "--task", "lfw_faces", "--quiet", "--set", "seed=7"]
    refused = CliRunner().invoke(main, other)
    assert refused.exit_code == 2, refused.output
    resume = '--task digits --set score.quality="likelihood" --set seed=7`'
    assert "task 'digits' is in flight" in refused.output and resume in refused.output
    # A key one version lacks (added since, or dropped) is not compared.
    state_file = tmp_path / "search" / "state.json"
    state = json.loads(state_file.read_text())
    state["iteration_config"].pop("parents.probe_examples")
    state["iteration_config"]["a.dropped_key"] = 1
    state_file.write_text(json.dumps(state))
    resumed = CliRunner().invoke(
        main, [*evolve, "--set", "seed=7", "--set", "score.quality=likelihood"]
    )
    assert resumed.exit_code == 0, resumed.output
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    assert state["population"] is None and state["iteration_config"] is None


def test_an_evolve_that_fails_before_its_first_commit_leaves_no_files(tmp_path):
    from keras_evomt.errors import UserInputError
    from keras_evomt.search import evolve

    with pytest.raises(UserInputError, match="unknown task 'no_such_task'"):
        evolve(tmp_path / "runs", "no_such_task", tiny_search_config(tasks=("digits",)))
    assert not (tmp_path / "runs").exists()  # no candidate log: the directory stays fresh


@pytest.mark.slow
def test_a_revisit_on_other_data_is_told_its_kept_path_was_scored_on_other_examples(
    tmp_path, monkeypatch
):
    from keras_evomt.data import Task
    from keras_evomt.search import evolve
    from keras_evomt.system import System
    from tests.helpers import digits

    config = tiny_search_config(tasks=("mine",), generations=1, candidates_per_generation=1)
    x, y = digits(200)
    evolve(tmp_path, Task.from_arrays("mine", x, y, value_range=(-1, 1)), config)
    sizes = System.load(tmp_path).split_sizes("mine")
    assert sizes == {"train": 162, "validation": 19, "test": 19}
    said = []
    monkeypatch.setattr(Observer, "message", lambda self, text: said.append(text))
    evolve(tmp_path, Task.from_arrays("mine", x, y, value_range=(-1, 1)), config)
    assert not [s for s in said if "other data" in s]  # the same data: no warning
    evolve(tmp_path, Task.from_arrays("mine", x[:100], y[:100], value_range=(-1, 1)), config)
    warned = [s for s in said if "other data than at its last visit" in s]
    assert len(warned) == 1 and "validation 19 -> 10 examples" in warned[0], said
    with pytest.raises(EvomtError, match="the data of task 'mine' is not known here") as e:
        evolve(tmp_path, "mine", config)  # by name: the work directory keeps no arrays
    assert "pass the Task again" in e.value.hint


@pytest.mark.slow
def test_a_kept_path_no_candidate_beat_keeps_its_data_facts_and_test_accuracy(
    tmp_path, monkeypatch
):
    from keras_evomt.data import Task
    from keras_evomt.search import evolve, loop
    from keras_evomt.search.population import Population
    from keras_evomt.system import System
    from tests.helpers import digits

    config = tiny_search_config(tasks=("mine",), generations=1, candidates_per_generation=1)
    x, y = digits(200)  # [-1, 1]
    sixteenths = np.round((x + 1) * 8).astype(np.float32)
    evolve(tmp_path, Task.from_arrays("mine", sixteenths, y, value_range=(0, 16)), config)
    first = System.load(tmp_path)
    tested = first.paths["mine"].metrics["test_accuracy"]
    # The same images in 0..255 pass the range check; no candidate beats the kept path.
    monkeypatch.setattr(loop, "joins_population", lambda *args, **kwargs: False)
    added = []
    monkeypatch.setattr(
        Observer, "task_finished", lambda self, t, m, a, *rest, **kw: added.append(a)
    )
    bytes255 = (sixteenths * 255 / 16)[:120]
    evolve(tmp_path, Task.from_arrays("mine", bytes255, y[:120], value_range=(0, 255)), config)
    assert added == [0]  # the system did not grow
    kept = System.load(tmp_path)
    assert kept.paths["mine"].id == first.paths["mine"].id
    assert kept.value_range("mine") == [0.0, 16.0]
    assert kept.split_sizes("mine") == first.split_sizes("mine")
    assert kept.paths["mine"].metrics["test_accuracy"] == tested
    # A candidate that wins was trained on the new data: the task takes its facts.
    monkeypatch.undo()
    monkeypatch.setattr(loop, "joins_population", lambda *args, **kwargs: True)
    monkeypatch.setattr(Population, "best", lambda self: self.path(list(self.members)[-1]))
    monkeypatch.setattr(
        Observer, "task_finished", lambda self, t, m, a, *rest, **kw: added.append(a)
    )
    evolve(tmp_path, Task.from_arrays("mine", bytes255, y[:120], value_range=(0, 255)), config)
    grown = System.load(tmp_path)
    assert grown.paths["mine"].id != first.paths["mine"].id
    assert added[-1] == grown.total_params() - first.total_params()
    assert grown.value_range("mine") == [0.0, 255.0]
    assert grown.split_sizes("mine") != first.split_sizes("mine")


@pytest.mark.slow
def test_a_spec_evolved_from_python_is_remembered_for_revisits_and_eval(tmp_path):
    from click.testing import CliRunner

    from keras_evomt.cli import main
    from keras_evomt.errors import UserInputError
    from keras_evomt.search import evolve
    from keras_evomt.system import System
    from tests.helpers import digits

    x, y = digits(160)
    data = tmp_path / "mine.npz"
    np.savez(data, x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:])
    workdir = tmp_path / "runs"
    config = tiny_search_config(tasks=("mine",), generations=1, candidates_per_generation=1)
    evolve(workdir, f"mine=npz:{data}", config)
    evaluated = CliRunner().invoke(main, ["eval", "--workdir", str(workdir), "--task", "mine"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "mine test accuracy:" in evaluated.output and "(40 examples)" in evaluated.output
    assert "warning" not in evaluated.output
    np.savez(data, x_train=x[:100], y_train=y[:100], x_test=x[120:], y_test=y[120:])
    evaluated = CliRunner().invoke(main, ["eval", "--workdir", str(workdir), "--task", "mine"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "warning: the data of task 'mine' changed since it was trained (train " in (
        evaluated.output
    )
    np.savez(data, x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:])
    evolve(workdir, "mine", config)  # the name alone finds its data
    assert len(System.load(workdir).paths["mine"].metrics["visits"]) == 2
    with pytest.raises(UserInputError, match="no data at .*other.npz: the file does not"):
        evolve(workdir, f"mine=npz:{tmp_path / 'other.npz'}", config)
    np.savez(tmp_path / "other.npz", x_train=x, y_train=y)
    with pytest.raises(UserInputError, match="task 'mine' already has its data"):
        evolve(workdir, f"mine=npz:{tmp_path / 'other.npz'}", config)
    from keras_evomt.workdir_lock import WorkdirLock

    with WorkdirLock(workdir):  # released after each evolve; held, it keeps others out
        with pytest.raises(UserInputError, match="is in use by another evomt process"):
            evolve(workdir, "mine", config)


@pytest.mark.slow
def test_a_file_that_does_not_decode_past_the_checks_sample_stops_the_search_unblamed(
    tmp_path, monkeypatch
):
    from click.testing import CliRunner
    from PIL import Image

    from keras_evomt.cli import main
    from keras_evomt.data import task as task_module
    from keras_evomt.errors import UserInputError
    from keras_evomt.search import evolve

    images, labels = digits(120)
    for split, (start, stop) in (("train", (0, 100)), ("test", (100, 120))):
        for i in range(start, stop):
            folder = tmp_path / "data" / split / f"class_{labels[i] % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = ((images[i] + 1) * 127.5).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.jpg")
    damaged = (
        tmp_path
        / "data"
        / "train"
        / "class_1"
        / sorted(p.name for p in (tmp_path / "data" / "train" / "class_1").iterdir())[-1]
    )
    whole = damaged.read_bytes()
    damaged.write_bytes(whole[:200])
    monkeypatch.setattr(task_module, "CHECK_SAMPLE", 2)  # the damaged file is not checked
    config = tiny_search_config(tasks=("pets",), generations=1, candidates_per_generation=1)
    workdir = tmp_path / "runs"
    with pytest.raises(UserInputError, match=f"does not decode: {damaged} \\(") as caught:
        evolve(workdir, f"pets=dir:{tmp_path / 'data'}", config)
    assert "remove or replace them" in str(caught.value)
    population = json.loads((workdir / "search" / "state.json").read_text())["population"]
    assert population["consecutive_failures"] == 0  # no candidate was charged with it
    assert all("outcome" not in p for p in population["proposals"])
    damaged.write_bytes(whole)  # mended, the same command goes on
    evolve(workdir, f"pets=dir:{tmp_path / 'data'}", config)
    test_file = sorted((tmp_path / "data" / "test" / "class_1").iterdir())[-1]
    test_file.write_bytes(test_file.read_bytes()[:200])
    evaluated = CliRunner().invoke(main, ["eval", "--workdir", str(workdir), "--task", "pets"])
    assert evaluated.exit_code == 2, evaluated.output
    assert f"of the test split does not decode: {test_file} (" in evaluated.output


@pytest.mark.slow
def test_data_that_moved_is_taken_at_its_new_place_once_the_old_one_is_gone(
    tmp_path, monkeypatch, caplog
):
    import shutil

    from click.testing import CliRunner

    from keras_evomt.cli import main

    rng = np.random.default_rng(0)
    (tmp_path / "a").mkdir()
    x, y = rng.integers(0, 256, (60, 8, 8, 3)).astype(np.uint8), np.arange(60) % 3
    np.savez(tmp_path / "a" / "mine.npz", x_train=x, y_train=y, x_test=x[:12], y_test=y[:12])
    workdir = tmp_path / "run"

    def run(place: str, *quiet: str):
        recipe = str(REPO / "recipes" / "offline_mini.py:smoke")
        tasks = f'tasks=["mine=npz:{tmp_path}/{place}/mine.npz"]'
        return CliRunner().invoke(
            main, ["run", recipe, "--workdir", str(workdir), "--set", tasks, *quiet]
        )

    with monkeypatch.context() as patch:  # killed in its first generation: in flight
        patch.setattr(Search, "_generation", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        assert run("a", "--quiet").exit_code == 130
    (tmp_path / "a").rename(tmp_path / "b")
    refused = run("a", "--quiet")
    assert refused.exit_code == 2, refused.output
    assert f"no data at {tmp_path}/a/mine.npz: the file does not exist" in refused.output
    assert "if the data moved, give its new place" in refused.output
    resumed = run("b")
    assert resumed.exit_code == 0, resumed.output
    assert "mine: resuming its task iteration where it stopped, at generation 1 of" in (
        resumed.output
    )
    assert f"task 'mine' now reads its data from npz:{tmp_path}/b/mine.npz" in caplog.text
    config = json.loads((workdir / "config.json").read_text())
    assert config["tasks"] == [f"mine=npz:{tmp_path}/b/mine.npz"]
    evaluated = CliRunner().invoke(main, ["eval", "--workdir", str(workdir), "--task", "mine"])
    assert evaluated.exit_code == 0, evaluated.output

    (tmp_path / "b").rename(tmp_path / "c")  # moved again: evolve takes it as well
    evolve = ["evolve", "--workdir", str(workdir), "--quiet", "--task"]
    typo = CliRunner().invoke(main, [*evolve, f"mine=npz:{tmp_path}/cc/mine.npz"])
    assert typo.exit_code == 2, typo.output
    assert f"no data at {tmp_path}/cc/mine.npz: the file does not exist" in typo.output
    moved = CliRunner().invoke(main, [*evolve, f"mine=npz:{tmp_path}/c/mine.npz"])
    assert moved.exit_code == 0, moved.output
    config = json.loads((workdir / "config.json").read_text())
    assert config["tasks"] == [f"mine=npz:{tmp_path}/c/mine.npz"]
    assert not (workdir / "tasks.json").exists()  # the recipe's task, re-pointed there
    shutil.copytree(tmp_path / "c", tmp_path / "d")  # a copy: the old place still holds it
    refused = CliRunner().invoke(main, [*evolve, f"mine=npz:{tmp_path}/d/mine.npz"])
    assert refused.exit_code == 2, refused.output
    assert "task 'mine' already has its data" in refused.output
    assert f"once {tmp_path}/c/mine.npz is gone" in refused.output
    refused = run("d", "--quiet")
    assert refused.exit_code == 2 and "differing keys: tasks" in refused.output, refused.output
    assert "once its pinned path is gone" in refused.output


@pytest.mark.slow
def test_an_iteration_in_flight_can_be_abandoned_leaving_the_system_as_it_began(
    tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from keras_evomt.cli import main
    from keras_evomt.recipe import pin_config

    pin_config(tiny_search_config(tasks=("digits",)), tmp_path)
    evolve = ["evolve", "--workdir", str(tmp_path), "--quiet", "--task"]
    assert CliRunner().invoke(main, [*evolve, "digits"]).exit_code == 0
    before, log = _fingerprints(tmp_path), (tmp_path / "search" / "candidates.jsonl").read_text()
    with monkeypatch.context() as patch:  # killed in its first generation: in flight
        patch.setattr(Search, "_generation", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        assert CliRunner().invoke(main, [*evolve, "private:lfw_faces"]).exit_code == 130
    refused = CliRunner().invoke(main, [*evolve, "textures"])
    assert refused.exit_code == 2 and "or drop it: `evomt abandon --workdir" in refused.output
    status = CliRunner().invoke(main, ["status", "--workdir", str(tmp_path)])
    assert (
        "evomt run: 0 of 1 task iterations done; in flight: lfw_faces, generation 1 of 1 (0 "
        in (status.output)
    )
    status = CliRunner().invoke(main, ["status", "--workdir", str(tmp_path), "--json"])
    flight = json.loads(status.output)["search"]["in_flight"]
    assert flight == {
        "task": "lfw_faces",
        "generation": 1,
        "generations": 1,
        "candidates_trained": 0,
    }

    abandoned = CliRunner().invoke(main, ["abandon", "--workdir", str(tmp_path)])
    assert abandoned.exit_code == 0, abandoned.output
    assert "abandoned the iteration of task 'lfw_faces'" in abandoned.output
    assert _fingerprints(tmp_path) == before  # its candidates' components dropped too
    assert (tmp_path / "search" / "candidates.jsonl").read_text() == log  # its probes cut
    from keras_evomt.system import System

    assert System.load(tmp_path).private_tasks == set()
    status = CliRunner().invoke(main, ["status", "--workdir", str(tmp_path), "--json"])
    assert json.loads(status.output)["search"]["in_flight"] is None
    again = CliRunner().invoke(main, ["abandon", "--workdir", str(tmp_path)])
    assert again.exit_code == 2 and "nothing to abandon" in again.output, again.output
    nowhere = CliRunner().invoke(main, ["abandon", "--workdir", str(tmp_path / "none")])
    assert nowhere.exit_code == 2 and "none does not exist" in nowhere.output, nowhere.output
    assert CliRunner().invoke(main, [*evolve, "textures"]).exit_code == 0
