"""Several tasks in one model: routing over shared prefixes, and `export --all/--tasks`."""

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from keras_evomt.cli import main
from keras_evomt.errors import UserInputError
from keras_evomt.export import contract_path, export_task, export_tasks
from keras_evomt.multitask import MultiTaskModel, multitask_model, signature_keys
from tests.helpers import SEVERAL_TASKS, digits, run_python, several_tasks_system

TASKS = list(SEVERAL_TASKS)


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """vit_mini (enough weights that checkpoint bookkeeping is small beside them)."""
    workdir = tmp_path_factory.mktemp("system")
    system = several_tasks_system("vit_mini")
    system.save(workdir)
    return workdir, system, digits(8)[0]


def unique_params(system, tasks):
    return sum(system.params(c) for c in {c for t in tasks for c in system.path(t).components})


def count_calls(monkeypatch, model):
    """{component id: calls} for every call of the model's components from now on."""
    calls = {cid: 0 for cid in model.component_ids}
    by_object = {id(c): cid for cid, c in zip(model.component_ids, model.components)}
    for cls in {type(c) for c in model.components}:
        original = cls.call

        def counted(self, *args, original=original, **kwargs):
            calls[by_object[id(self)]] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "call", counted)
    return calls


def test_several_tasks_run_their_shared_prefix_once_then_branch(grown, monkeypatch):
    _, system, images = grown
    model = multitask_model(system)
    shared = model.shared_prefix(TASKS)
    assert shared == system.path("a").components[: len(shared)] and len(shared) >= 4
    calls = count_calls(monkeypatch, model)
    outputs = model(images, tasks=TASKS)
    used = {c for t in TASKS for c in system.path(t).components}
    assert calls == {cid: 1 for cid in used}  # each component once, shared or not
    for task in TASKS:
        expected = system.model(task)(images).numpy()
        np.testing.assert_allclose(outputs[task].numpy(), expected, atol=1e-5, rtol=0)
        assert expected.shape == (8, SEVERAL_TASKS[task]) and np.ptp(expected) > 0


def test_one_task_runs_only_its_own_path(grown, monkeypatch):
    _, system, images = grown
    model = multitask_model(system)
    calls = count_calls(monkeypatch, model)
    logits = model(images, tasks="c")
    assert list(logits) == ["c"]
    assert {cid for cid, n in calls.items() if n} == set(system.path("c").components)
    assert max(calls.values()) == 1
    with pytest.raises(UserInputError, match="no task 'd'"):
        model(images, tasks=["d"])
    with pytest.raises(UserInputError, match="root has no classification head"):
        multitask_model(system, ["a", "root"])
    with pytest.raises(UserInputError, match="takes 32x32 images"):
        model(np.zeros((1, 16, 16, 3), "float32"), tasks=["a"])


def test_signature_keys_are_identifiers_unique_and_not_reserved():
    keys = signature_keys(
        ["dsprites/label_x_position", "tfds:cifar10", "a/b", "a_b", "3d", "contract", "all_32"]
    )
    assert keys == {
        "dsprites/label_x_position": "dsprites_label_x_position",
        "tfds:cifar10": "tfds_cifar10",
        "a/b": "a_b",
        "a_b": "a_b_2",
        "3d": "task_3d",
        "contract": "task_contract",
        "all_32": "task_all_32",
    }


@pytest.mark.slow
def test_one_savedmodel_equals_the_per_task_exports_and_stores_weights_once(grown, tmp_path):
    workdir, system, images = grown
    out = export_tasks(workdir, None, tmp_path / "all")
    singles = {
        t: export_task(system, t, tmp_path / f"single{i}", fmt="savedmodel")
        for i, t in enumerate(TASKS)
    }
    np.save(tmp_path / "images.npy", images)
    result = run_python(f"""
        import json, sys
        import numpy as np
        import tensorflow as tf

        images = tf.constant(np.load({str(tmp_path / "images.npy")!r}))
        served = tf.saved_model.load({str(out)!r})
        with open({str(out / "assets" / "contract.json")!r}) as file:
            contract = json.load(file)
        result = {{"signatures": sorted(served.signatures), "contract": contract, "single": {{}},
                  "multi": {{}}}}
        for task, path in {json.dumps({t: str(p) for t, p in singles.items()})}.items():
            single = tf.saved_model.load(path).signatures["serving_default"]
            result["single"][task] = single(images=images)["logits"].numpy().tolist()
            key = contract["signatures_by_task"][task]
            result["multi"][task] = served.signatures[key](images=images)["logits"].numpy().tolist()
        result["all"] = {{k: v.numpy().tolist()
                         for k, v in served.signatures["all_32"](images=images).items()}}
        result["imported"] = [m for m in sys.modules if m.startswith("keras_evomt")]
        print(json.dumps(result))
    """)
    assert result["imported"] == []
    keys = result["contract"]["signatures_by_task"]
    assert keys["dsprites/label_x_position"] == "dsprites_label_x_position"
    assert result["contract"]["tasks_by_signature"] == {k: t for t, k in keys.items()}
    assert set(result["signatures"]) == {*keys.values(), "all_32", "contract", "serving_default"}
    for task in TASKS:
        single = np.array(result["single"][task])
        np.testing.assert_allclose(np.array(result["multi"][task]), single, atol=1e-5, rtol=0)
        np.testing.assert_allclose(np.array(result["all"][keys[task]]), single, atol=1e-5, rtol=0)
        np.testing.assert_allclose(single, system.model(task)(images), atol=1e-5, rtol=0)
        task_contract = result["contract"]["tasks"][task]
        assert task_contract["input"]["image_size"] == 32
        assert task_contract["output"]["num_classes"] == SEVERAL_TASKS[task]
        assert task_contract["fingerprint"] == system.fingerprint(task)
    assert json.loads(contract_path(out).read_text()) == result["contract"]
    stored = sum(f.stat().st_size for f in (out / "variables").iterdir())
    params = unique_params(system, TASKS)
    assert result["contract"]["unique_parameters"] == params
    assert stored <= 1.3 * 4 * params, (stored, params)
    per_task = sum(f.stat().st_size for p in singles.values() for f in (p / "variables").iterdir())
    assert per_task > 2 * stored  # three copies of the shared root, in the per-task exports


@pytest.mark.slow
def test_one_keras_file_holds_the_tasks_once_with_one_output_each(grown, tmp_path):
    workdir, system, images = grown
    out = export_tasks(system, ["c", "a"], tmp_path / "two.keras", fmt="keras")
    model = keras.saving.load_model(out)
    assert isinstance(model, MultiTaskModel) and model.tasks == ["c", "a"]
    assert model.count_params() == unique_params(system, ["a", "c"])
    outputs = model(images)
    assert list(outputs) == ["c", "a"]
    for task in ("a", "c"):
        np.testing.assert_allclose(outputs[task], system.model(task)(images), atol=1e-5, rtol=0)
    np.testing.assert_allclose(model(images, tasks="a")["a"], outputs["a"], atol=1e-6, rtol=0)
    contract = json.loads(contract_path(out).read_text())
    assert set(contract["tasks"]) == {"a", "c"} and contract["serving_default"] == "c"
    assert contract["format"] == "keras"


def test_export_tasks_rejects_bad_input(grown, tmp_path):
    workdir, system, _ = grown
    with pytest.raises(UserInputError, match="did you mean: c") as error:
        export_tasks(system, ["a", "cc"], tmp_path / "x")
    with pytest.raises(UserInputError, match="root has no classification head"):
        export_tasks(system, ["root"], tmp_path / "x")
    with pytest.raises(UserInputError, match="must end in '.keras'"):
        export_tasks(system, None, tmp_path / "x", fmt="keras")
    assert not list(tmp_path.iterdir()) and error.value.hint


@pytest.mark.slow
def test_cli_exports_all_or_some_tasks(grown, tmp_path):
    workdir, system, _ = grown

    def evomt(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    result = evomt(
        "export",
        "--workdir",
        workdir,
        "--tasks",
        "a, c",
        "--out",
        tmp_path / "ac.keras",
        "--format",
        "keras",
    )
    assert result.exit_code == 0, result.output
    assert f"exported 2 tasks ({unique_params(system, ['a', 'c']):,} unique parameters)" in (
        result.output
    )
    assert keras.saving.load_model(tmp_path / "ac.keras").tasks == ["a", "c"]
    tasks = list(system.paths)
    all_out = ["--out", tmp_path / "all.keras", "--format", "keras"]
    result = evomt("export", "--workdir", workdir, "--all", *all_out)
    assert result.exit_code == 0, result.output
    exported = unique_params(system, tasks)
    unused = system.total_params() - exported  # each task's path has its own final norm
    assert unused > 0
    said = f"exported {len(tasks)} tasks ({exported:,} unique parameters; the system's other "
    assert said + f"{unused:,} are in root components no task uses)" in result.output
    result = evomt("export", "--workdir", workdir, "--out", tmp_path / "x")
    assert result.exit_code == 2 and "exactly one of --task, --tasks or --all" in result.output
    result = evomt("export", "--workdir", workdir, "--all", "--task", "a", "--out", tmp_path / "x")
    assert result.exit_code == 2
    result = evomt("export", "--workdir", workdir, "--tasks", "a,zz", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "no task 'zz'" in result.output
