"""The reference input pipeline: preprocessing, ds_* augmentation, determinism."""

import numpy as np
import pytest
import tensorflow as tf

from keras_evomt.data import DATA_HPARAM_DEFAULTS, Task, pipeline
from keras_evomt.errors import UserInputError
from tests.helpers import load_tool

PLAIN = dict(DATA_HPARAM_DEFAULTS, ds_crop=False, ds_flip_left_right=False)


def gradient_task(n=12, size=24):
    """Images whose pixels rise left to right (asymmetric), one label per image."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)[None, None, :, None]
    images = np.broadcast_to(ramp, (n, size, size, 3)).astype(np.uint8).copy()
    images[:, :, :, 1] = np.arange(n, dtype=np.uint8)[:, None, None] * 10  # An id per image.
    labels = np.arange(n) % 3
    return Task.from_arrays("gradient", images, labels, images[:3], labels[:3])


def first_batches(ds, k=2):
    return [b[0].numpy() for b, _ in zip(ds, range(k))]


@pytest.mark.parametrize(
    "shape, dtype",
    [((5, 6), np.uint8), ((5, 6, 1), np.uint8), ((5, 6, 2), np.uint8), ((5, 6, 4), np.float32)],
)
def test_to_rgb_tiles_gray_and_drops_alpha(shape, dtype):
    image = np.random.default_rng(0).integers(0, 255, shape).astype(dtype)
    rgb = pipeline.to_rgb(tf.constant(image)).numpy()
    assert rgb.shape == (5, 6, 3) and rgb.dtype == dtype
    gray = image if image.ndim == 2 else image[..., 0]
    expected = image[..., :3] if shape[-1] == 4 else np.stack([gray] * 3, -1)
    np.testing.assert_array_equal(rgb, expected)


def test_to_rgb_names_the_bad_shape():
    with pytest.raises(UserInputError, match=r"Received: image shape \(4, 4, 5\)"):
        pipeline.to_rgb(tf.zeros([4, 4, 5]))
    with pytest.raises(UserInputError, match=r"\(2, 4, 4, 3\)"):
        pipeline.to_rgb(tf.zeros([2, 4, 4, 3]))


def test_to_rgb_with_channels_known_only_at_run_time():
    images = [np.full([3, 3, 1], 7, np.uint8), np.full([3, 3, 4], 9, np.uint8)]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, None], tf.uint8)
    )
    out = [x.numpy() for x in ds.map(pipeline.to_rgb)]
    assert [x.shape for x in out] == [(3, 3, 3), (3, 3, 3)]
    assert out[0].max() == 7 and out[1].max() == 9
    bad = tf.data.Dataset.from_generator(
        lambda: iter([np.zeros([3, 3, 6], np.uint8)]),
        output_signature=tf.TensorSpec([None, None, None], tf.uint8),
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="1, 2, 3 or 4 channels"):
        list(bad.map(pipeline.to_rgb))


def test_eval_image_maps_the_value_range_to_minus_one_one():
    image = tf.constant([[[0, 0, 0], [255, 255, 255]]], tf.uint8)
    out = pipeline.eval_image(image, 2, (0.0, 255.0)).numpy()
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    assert out.min() == -1.0 and out.max() == 1.0
    digits = pipeline.eval_image(tf.fill([8, 8, 3], 16.0), 4, (0.0, 16.0)).numpy()
    np.testing.assert_allclose(digits, 1.0)


def test_train_pipeline_is_deterministic_given_the_seed():
    task = gradient_task()
    make = lambda seed: task.train_dataset(  # noqa: E731
        DATA_HPARAM_DEFAULTS, image_size=16, batch_size=4, seed=seed
    )
    a, b, c = first_batches(make(3)), first_batches(make(3)), first_batches(make(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_without_augmentation_training_images_equal_eval_images():
    task = gradient_task()
    eval_images = np.concatenate(
        [x for x, _ in task.eval_dataset("train", image_size=16, batch_size=64).as_numpy_iterator()]
    )
    train = task.train_dataset(PLAIN, image_size=16, batch_size=4, seed=0)
    seen = np.concatenate(first_batches(train, 4))
    for image in seen:  # Each one is exactly one of the (shuffled) eval images.
        assert np.min(np.abs(eval_images - image).max(axis=(1, 2, 3))) == 0.0
    no_crop = dict(DATA_HPARAM_DEFAULTS, ds_area_range_min=1.0, ds_flip_left_right=False)
    for image in first_batches(task.train_dataset(no_crop, image_size=16, batch_size=4, seed=0))[0]:
        assert np.min(np.abs(eval_images - image).max(axis=(1, 2, 3))) == 0.0


def test_flip_and_crop_change_the_images():
    task = gradient_task()
    flip = dict(PLAIN, ds_flip_left_right=True)
    images = np.concatenate(
        first_batches(task.train_dataset(flip, image_size=16, batch_size=8, seed=0), 4)
    )
    rising = images[:, 0, -1, 0] > images[:, 0, 0, 0]  # Red channel ramps left to right.
    assert rising.any() and (~rising).any()  # Some flipped, some not.
    crop = dict(PLAIN, ds_crop=True, ds_area_range_min=0.05)
    cropped = np.concatenate(
        first_batches(task.train_dataset(crop, image_size=16, batch_size=8, seed=0), 4)
    )
    red_span = cropped[:, 0, -1, 0] - cropped[:, 0, 0, 0]
    full_span = images[rising][0, 0, -1, 0] - images[rising][0, 0, 0, 0]
    assert np.all(red_span >= 0) and np.any(red_span < 0.8 * full_span)  # Zoomed in, unflipped.


@pytest.mark.slow
def test_color_jitter_changes_values_only_when_asked():
    task = gradient_task()
    base = first_batches(task.train_dataset(PLAIN, image_size=16, batch_size=8, seed=0))[0]
    for key in ["ds_brightness_delta", "ds_contrast_delta", "ds_saturation_delta", "ds_hue_delta"]:
        jittered = first_batches(
            task.train_dataset(dict(PLAIN, **{key: 0.2}), image_size=16, batch_size=8, seed=0)
        )[0]
        assert jittered.min() >= -1.0 and jittered.max() <= 1.0
        assert not np.allclose(jittered, base), key


def test_brightness_delta_is_the_references_delta_on_minus_one_one_values():
    image = tf.fill([4, 4, 3], tf.constant(127.5))
    hparams = dict(PLAIN, ds_brightness_delta=0.2)
    shifts = [
        float(
            pipeline.augment_image(image, tf.constant([0, i], tf.int64), hparams, 4, (0.0, 255.0))[
                0, 0, 0
            ]
        )
        for i in range(50)
    ]
    assert max(abs(s) for s in shifts) <= 0.2 + 1e-6 and max(abs(s) for s in shifts) > 0.15


@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"ds_area_range_min": 0.0}, "ds_area_range_min must be in"),
        ({"ds_aspect_ratio_range_min": 1.5}, "ds_aspect_ratio_range_min"),
        ({"ds_contrast_delta": -0.1}, "ds_contrast_delta must be >= 0"),
        ({"ds_hue_delta": 0.6}, "ds_hue_delta must be <= 0.5"),
    ],
)
def test_bad_hparams(hparams, message):
    with pytest.raises(UserInputError, match=message):
        gradient_task().train_dataset(hparams, image_size=8, batch_size=2, seed=0)


def test_bad_sizes_quote_the_value():
    task = gradient_task()
    with pytest.raises(UserInputError, match="batch_size=0"):
        task.train_dataset({}, image_size=8, batch_size=0, seed=0)
    with pytest.raises(UserInputError, match="image_size=-3"):
        task.eval_dataset("test", image_size=-3, batch_size=2)
    with pytest.raises(UserInputError, match="did you mean: validation"):
        task.eval_dataset("valdation", image_size=8, batch_size=2)


def test_eval_pipeline_is_finite_ordered_and_capped():
    task = gradient_task(n=30)
    assert task.num_examples("validation") == 3  # 10% of the 30 train images.
    batches = [len(y) for _, y in task.eval_dataset("train", image_size=8, batch_size=4)]
    assert batches == [4, 4, 4, 4, 4, 4, 3]
    capped = [
        len(y) for _, y in task.eval_dataset("train", image_size=8, batch_size=4, max_examples=5)
    ]
    assert capped == [4, 1]
    a = [y.numpy().tolist() for _, y in task.eval_dataset("train", image_size=8, batch_size=4)]
    b = [y.numpy().tolist() for _, y in task.eval_dataset("train", image_size=8, batch_size=4)]
    assert a == b
    spec = task.train_dataset({}, image_size=8, batch_size=4, seed=0).element_spec
    assert spec[0].shape.as_list() == [4, 8, 8, 3] and spec[1].dtype == tf.int32


def test_small_sets_are_cached_big_ones_are_not():
    ds = tf.data.Dataset.from_tensor_slices(np.zeros([4, 8, 8, 3], np.uint8)).map(lambda x: (x, 0))
    assert pipeline.maybe_cache(ds, 4) is not ds
    assert pipeline.maybe_cache(ds, 10**9) is ds
    assert pipeline.maybe_cache(ds, None) is ds


def test_bench_input_writes_only_its_section(tmp_path):
    bench = load_tool("bench_input")
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Input pipeline\n\nold\n\n## Search\n\nkept\n")
    args = ["--task", "digits", "--image-size", "16", "--batch-size", "4", "--batches", "1"]
    assert bench.main(args + ["--warmup", "1", "--repeats", "1", "--output", str(output)]) == 0
    text = output.read_text()
    assert "old" not in text and "## Search\n\nkept\n" in text
    assert "Command: `python tools/bench_input.py --task digits --image-size 16" in text
    assert text.count("| digits | 16 | 4 |") == 3


def test_prepare_images_gives_what_the_evaluation_pipeline_gives():
    import keras_evomt

    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(6, 8, 8)).astype(np.uint8)  # digits' 0..16, gray
    task = Task.from_arrays("d", x, np.arange(6) % 2, x, np.arange(6) % 2, value_range=(0, 16))
    expected, _ = next(iter(task.eval_dataset("test", image_size=24, batch_size=6)))
    prepared = keras_evomt.prepare_images(x, 24, (0, 16))
    assert prepared.shape == (6, 24, 24, 3) and prepared.dtype == np.float32
    np.testing.assert_array_equal(prepared, expected.numpy())
    mixed = [rng.integers(0, 256, (5, 7, 3), np.uint8), rng.integers(0, 256, (9, 9, 4), np.uint8)]
    assert keras_evomt.prepare_images(mixed, 16).shape == (2, 16, 16, 3)  # any sizes, RGBA
    with pytest.raises(UserInputError, match=r"values in \[0, 255\], outside value_range=\(0, 1\)"):
        keras_evomt.prepare_images(mixed[0][None], 16, (0, 1))
    with pytest.raises(UserInputError, match="a batch"):
        keras_evomt.prepare_images(np.zeros(5), 16)
    with pytest.raises(UserInputError, match=r"shape \(50, 60, 3\) may be one image") as e:
        keras_evomt.prepare_images(np.zeros([50, 60, 3], np.uint8), 16)
    assert "[image]" in e.value.hint
    one = keras_evomt.prepare_images([mixed[0]], 16, None)  # None: 0..255
    np.testing.assert_array_equal(one, keras_evomt.prepare_images(mixed, 16)[:1])
    with pytest.raises(UserInputError, match="with high > low"):
        keras_evomt.prepare_images(mixed, 16, (0, 0))
    unit = [m / 255.0 for m in mixed]  # floats in [0, 1] read as 0..255: all near -1
    with pytest.raises(UserInputError, match=r"under 1% of value_range=\(0, 255\)") as e:
        keras_evomt.prepare_images(unit, 16)
    assert "value_range=[0, 1]" in e.value.hint
    assert keras_evomt.prepare_images(unit, 16, (0, 1)).shape == (2, 16, 16, 3)


def test_value_range_checks_see_every_array_and_a_nan_in_any():
    from keras_evomt.data.pipeline import check_range_used, check_value_range

    check_value_range((0, 16), [np.zeros([0, 4]), np.arange(17.0)])  # an empty split passes
    with pytest.raises(UserInputError, match=r"values in \[0, 40\], outside value_range"):
        check_value_range((0, 16), [np.arange(17.0), np.array([40.0])])
    for arrays in ([np.array([np.nan, 1.0]), np.zeros(3)], [np.zeros(3), np.array([1.0, np.nan])]):
        with pytest.raises(UserInputError, match="NaN values"):
            check_value_range((0, 255), arrays)
    check_range_used((0, 255), [np.zeros(4), np.full(4, 255.0)])
    check_range_used((0, 255), [np.full(4, 0.5)])  # constant images tell nothing
    with pytest.raises(UserInputError, match=r"under 1% of value_range") as got:
        check_range_used((0, 255), [np.zeros(4), np.full(4, 0.9)])
    assert got.value.hint == "give the pixels' own range: value_range=[0, 1]"
