import json
import re

import keras
import numpy as np
import pytest

import keras_evomt
from keras_evomt.errors import UserInputError
from keras_evomt.export import contract_path, export_task
from tests.helpers import IMAGE_SIZE, digits, run_python, tiny_system


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """Tasks a and b (b shares a's lower block, has its own top block); heads randomised."""
    workdir = tmp_path_factory.mktemp("system")
    system = tiny_system()
    rng = np.random.default_rng(0)
    for task, num_classes in (("a", 10), ("b", 7)):
        system.start_task(task)
        path = system.new_task_path(task, num_classes)
        if task == "b":
            path.components[4] = system.clone(path.components[4])  # its own top block
            block = system.components[path.components[4]]
            block.set_weights([w + rng.normal(0, 0.1, w.shape) for w in block.get_weights()])
        head = system.components[path.components[-1]]
        head.set_weights([rng.normal(0, 1, w.shape).astype("float32") for w in head.weights])
        path.id, path.metrics = f"{task}#0", {"validation_accuracy": 0.5}
        system.end_task(path)
    system.set_class_names("b", list("abcdefg"))
    system.set_value_range("b", (0, 16))
    system.set_class_names("a", ["too", "few"])  # not one per class: not kept
    system.save(workdir)
    images = digits(16)[0]
    return workdir, system, images


def test_keras_export_loads_and_predicts_the_same(grown, tmp_path):
    workdir, system, images = grown
    out = export_task(workdir, "b", tmp_path / "b.keras")
    model = keras.saving.load_model(out)  # keras_evomt is imported: no custom objects
    assert isinstance(model, keras_evomt.PathModel)
    expected = system.model("b")(images).numpy()
    np.testing.assert_allclose(model(images).numpy(), expected, atol=1e-5, rtol=0)
    assert expected.shape == (16, 7) and np.ptp(expected) > 0
    used = sum(system.params(c) for c in system.path("b").components)
    assert model.count_params() == used  # that task's layers only
    contract = json.loads(contract_path(out).read_text())
    assert contract["input"]["shape"] == [None, IMAGE_SIZE, IMAGE_SIZE, 3]
    assert contract["input"]["value_range"] == [-1.0, 1.0]
    assert contract["input"]["source_value_range"] == [0.0, 16.0]
    assert "source_value_range" in contract["preprocessing"]
    assert contract["output"]["num_classes"] == 7
    assert contract["output"]["class_names"] == list("abcdefg")
    assert system.class_names("a") is None
    assert contract["fingerprint"] == system.fingerprint("b")


@pytest.mark.parametrize(
    "bad, says, multitask_says",
    [
        (
            np.zeros((2, 28, 28, 3), "float32"),
            "takes (batch, 32, 32, 3) images",
            "no task of this model takes 28x28 images",
        ),
        (
            np.zeros((2, 32, 32), "float32"),
            "takes RGB image batches (batch, 32, 32, 3)",
            "takes RGB image batches (batch, 32, 32, 3)",
        ),
        (
            np.zeros((2, 32, 32, 3), "uint8"),
            "float images scaled to [-1, 1]. Received: dtype uint8",
            "float images scaled to [-1, 1]. Received: dtype uint8",
        ),
        (
            np.zeros((2, 32, 32, 3), "float32").tolist(),
            "takes an array or tensor of images (batch, 32, 32, 3). Received: a list",
            "takes an array or tensor of images (batch, 32, 32, 3). Received: a list",
        ),
    ],
)
def test_models_of_a_task_say_what_images_they_take(grown, tmp_path, bad, says, multitask_says):
    from keras_evomt.multitask import multitask_model

    workdir, system, _ = grown
    exported = keras.saving.load_model(export_task(workdir, "a", tmp_path / "a.keras"))
    for model in (system.model("a"), exported, multitask_model(system, ["a", "b"])):
        with pytest.raises(UserInputError) as error:
            model(bad)
        wanted = multitask_says if hasattr(model, "task_paths") else says
        assert wanted in error.value.message and "\n" not in error.value.message  # one line
        if isinstance(bad, list):  # Keras's predict would refuse it obscurely
            with pytest.raises(UserInputError, match=re.escape(wanted)):
                model.predict(bad, verbose=0)
    with pytest.raises(UserInputError, match=re.escape("Received: shape (2, 32, 40, 3)")):
        multitask_model(system, ["a"])(np.zeros((2, 32, 40, 3), "float32"))


def test_models_of_a_task_refuse_a_numpy_batch_of_0_to_255_pixels(grown, tmp_path):
    from keras_evomt.multitask import multitask_model

    workdir, system, images = grown
    exported = keras.saving.load_model(export_task(workdir, "a", tmp_path / "a.keras"))
    pixels = np.round((images + 1) * 127.5).astype("float32")
    for model in (system.model("a"), exported, multitask_model(system, ["a", "b"])):
        with pytest.raises(UserInputError, match=r"scaled to \[-1, 1\]; these hold values in \[0,"):
            model(pixels)
        model(np.clip(images * 1.1, -1.1, 1.1))  # slightly outside, as a resize may leave


@pytest.mark.slow
def test_savedmodel_signatures_refuse_a_batch_of_0_to_255_pixels(grown, tmp_path):
    import tensorflow as tf

    from keras_evomt.export import export_tasks

    workdir, system, images = grown
    pixels = tf.constant(np.round((images + 1) * 127.5).astype("float32"))
    one = tf.saved_model.load(str(export_task(workdir, "a", tmp_path / "a", fmt="savedmodel")))
    every = tf.saved_model.load(str(export_tasks(workdir, None, tmp_path / "all")))
    signatures = [one.signatures["serving_default"], *every.signatures.values()]
    for signature in signatures:
        if "images" not in signature.structured_input_signature[1]:
            continue  # the contract
        signature(images=tf.constant(images))
        with pytest.raises(tf.errors.InvalidArgumentError, match="scale 0..255 pixels"):
            signature(images=pixels)
        wrong = {
            "(2, 28, 28, 3)": tf.zeros((2, 28, 28, 3)),
            "(32, 32, 3)": tf.constant(images[0]),
            "(16, 32, 32, 1)": tf.constant(images[..., :1]),
        }
        for shape, batch in wrong.items():
            with pytest.raises(tf.errors.InvalidArgumentError) as refused:
                signature(images=batch)
            assert "must be a batch of 32x32 RGB images" in refused.value.message
            assert shape.replace(",", "").strip("()") in refused.value.message  # as received


@pytest.mark.slow
def test_savedmodel_serves_without_keras_evomt(grown, tmp_path):
    workdir, system, images = grown
    out = export_task(system, "a", tmp_path / "serving" / "a", fmt="savedmodel")
    np.save(tmp_path / "images.npy", images)
    result = run_python(f"""
        import json, sys

        class NoEvomt:  # any import of keras_evomt fails in this process
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "keras_evomt":
                    raise ImportError("keras_evomt is blocked here")

        sys.meta_path.insert(0, NoEvomt())
        import numpy as np
        import tensorflow as tf

        served = tf.saved_model.load({str(out)!r})
        images = tf.constant(np.load({str(tmp_path / "images.npy")!r}))
        logits = served.signatures["serving_default"](images=images)["logits"].numpy()
        contract = json.loads(served.contract()["contract"].numpy().decode())
        with open({str(out / "assets" / "contract.json")!r}) as file:
            assets = json.load(file)
        print(json.dumps({{"logits": logits.tolist(), "contract": contract,
                          "same_assets": assets == contract,
                          "imported": [m for m in sys.modules if m.startswith("keras_evomt")]}}))
    """)
    assert result["imported"] == []
    expected = system.model("a")(images).numpy()
    np.testing.assert_allclose(np.array(result["logits"]), expected, atol=1e-5, rtol=0)
    assert result["contract"]["task"] == "a" and result["same_assets"]
    assert result["contract"]["input"]["image_size"] == IMAGE_SIZE
    assert json.loads(contract_path(out).read_text()) == result["contract"]


def test_export_rejects_bad_input(grown, tmp_path):
    workdir, system, _ = grown
    with pytest.raises(UserInputError, match="no task 'c'") as error:
        export_task(system, "c", tmp_path / "c.keras")
    with pytest.raises(UserInputError, match="did you mean: a") as error:
        export_task(system, "aa", tmp_path / "aa.keras")
    with pytest.raises(UserInputError, match="unknown export format 'onnx'"):
        export_task(system, "a", tmp_path / "a.onnx", fmt="onnx")
    with pytest.raises(UserInputError, match="did you mean: savedmodel") as error:
        export_task(system, "a", tmp_path / "a", fmt="saved_model")
    with pytest.raises(UserInputError, match="must end in '.keras'"):
        export_task(system, "a", tmp_path / "a.h5")
    with pytest.raises(UserInputError, match="root has no classification head"):
        export_task(system, "root", tmp_path / "root.keras")
    out = export_task(system, "a", tmp_path / "a.keras")
    with pytest.raises(UserInputError, match="already exists") as error:
        export_task(workdir, "a", out)
    assert "overwrite" in str(error.value)
    assert export_task(system, "a", out, overwrite=True) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.keras", "a.keras.contract.json"]


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("savedmodel", "m")])
def test_an_overwrite_never_leaves_a_model_beside_another_models_contract_and_a_rerun_ends_it(
    grown, tmp_path, monkeypatch, fmt, name
):
    from keras_evomt import export

    _, system, _ = grown
    out = export_task(system, "a", tmp_path / name, fmt=fmt)
    assert export_task(system, "b", out, fmt=fmt, overwrite=True) == out
    assert json.loads(contract_path(out).read_text())["task"] == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"{name}.contract.json"])

    def killed(staged, out):  # as a kill between the contract's removal and the swap
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_swap_into_place", killed)
    with pytest.raises(KeyboardInterrupt):
        export_task(system, "a", out, fmt=fmt, overwrite=True)
    assert not contract_path(out).exists()  # b's model stays, without a contract
    pending = f"{name}.export-pending"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, pending]  # nothing staged
    monkeypatch.undo()
    assert export_task(system, "a", out, fmt=fmt) == out  # the rerun needs no --overwrite
    assert json.loads(contract_path(out).read_text())["task"] == "a"
    assert not (tmp_path / pending).exists()
    contract_path(out).unlink()  # a model without a contract or marker: not ours to replace
    with pytest.raises(UserInputError, match="already exists without its contract") as error:
        export_task(system, "b", out, fmt=fmt)
    assert "--overwrite" in error.value.hint


def test_models_of_a_task_refuse_an_eager_tensor_of_0_to_255_pixels_or_nan(grown, tmp_path):
    import tensorflow as tf

    from keras_evomt.multitask import multitask_model

    workdir, system, images = grown
    exported = keras.saving.load_model(export_task(workdir, "a", tmp_path / "a.keras"))
    pixels = tf.constant(np.round((images + 1) * 127.5).astype("float32"))
    with_nan = images.copy()
    with_nan[3, 1, 2, 0] = np.nan
    for model in (system.model("a"), exported, multitask_model(system, ["a", "b"])):
        with pytest.raises(UserInputError, match=r"scaled to \[-1, 1\]; these hold values in \[0,"):
            model(pixels)
        with pytest.raises(UserInputError, match="NaN values"):
            model(tf.constant(with_nan))
        model(tf.constant(images, tf.float16))
    for model in (system.model("a"), multitask_model(system, ["a", "b"])):
        with pytest.raises(UserInputError, match="these hold values in \\[0,"):
            model.predict(pixels, verbose=0)
        with pytest.raises(UserInputError, match="these hold values in \\[0,"):
            model.predict(pixels.numpy(), verbose=0)
    traced = tf.function(system.model("a"))  # traced: no check, and no cost per call
    assert traced(pixels).shape == (16, 10)


def test_models_of_a_task_refuse_nan_and_0_to_255_pixels_given_to_predict(grown):
    _, system, images = grown
    model = system.model("a")
    with pytest.raises(UserInputError, match="these hold values in \\[0,"):
        model.predict(np.round((images + 1) * 127.5).astype("float32"), verbose=0)
    with_nan = images.copy()
    with_nan[0, 0, 0, 0] = np.nan
    with pytest.raises(UserInputError, match="NaN values"):
        model(with_nan)
    assert model.predict(images, verbose=0).shape == (16, 10)


def test_predict_on_a_tf_data_dataset_checks_its_batches(grown):
    import tensorflow as tf

    from keras_evomt.multitask import multitask_model

    _, system, images = grown
    labels = np.zeros(len(images), "int32")
    batched = tf.data.Dataset.from_tensor_slices(images).batch(4)
    for model in (system.model("a"), multitask_model(system, ["a", "b"])):
        expected = model.predict(images, verbose=0)
        got = model.predict(batched, verbose=0)
        for want, have in zip(
            expected.values() if isinstance(expected, dict) else [expected],
            got.values() if isinstance(got, dict) else [got],
        ):
            np.testing.assert_allclose(have, want, atol=1e-5)
        with pytest.raises(UserInputError, match="gives single images.*\\n.*dataset.batch"):
            model.predict(tf.data.Dataset.from_tensor_slices(images), verbose=0)
        pixels = np.round((images + 1) * 127.5).astype("float32")
        with pytest.raises(UserInputError, match="holds values outside it.*\\n.*127.5 - 1"):
            model.predict(tf.data.Dataset.from_tensor_slices(pixels).batch(4), verbose=0)
        with pytest.raises(UserInputError, match="Dataset of image batches, or of"):
            model.predict(tf.data.Dataset.from_tensor_slices({"x": images}).batch(4), verbose=0)
    pairs = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    assert system.model("a").predict(pairs, verbose=0).shape == (len(images), 10)
