"""The reference µ2Net input pipeline: preprocessing and `ds_*` augmentation.

Every image leaves the pipeline as float32 (S, S, 3) in [-1, 1]: grayscale (or gray +
alpha) is tiled to 3 channels, an alpha channel is dropped, values are rescaled from the
source's value range and the image is resized (bilinear) to the path's image size.

Training augmentation follows the reference notebook (`mu2Net.ipynb`, `Task.get_ds`):
inception crop (`sample_distorted_bounding_box` with area range (ds_area_range_min, 1)
and aspect ratio range (r, 1 / r)) when `ds_crop` and the area minimum is below 1, a
random horizontal flip, then brightness / contrast / saturation / hue jitter, each
skipped when its delta is 0. Two choices differ in form, not in effect:
- Random ops are the stateless `tf.image.stateless_*` variants, seeded per example from
  (seed, position in the stream), so a pipeline is deterministic given its seed even with
  parallel map. (The reference uses stateful ops.)
- Colour jitter runs on [0, 1] values, where tf.image's saturation and hue ops are
  defined; the brightness delta is halved there, which is exactly the reference's delta
  on [-1, 1] values. Contrast is scale-free, so it is unchanged.
The ops are tf.image's rather than keras.layers' preprocessing layers: Keras has no
inception crop (RandomResizedCrop), and its random layers draw from a stateful generator,
which would make the batches depend on tf.data's thread scheduling.

Example:
    train = train_pipeline(ds, DATA_HPARAM_DEFAULTS, image_size=224, batch_size=64,
                           seed=0, value_range=(0, 255))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from keras_evomt.errors import UserInputError
from keras_evomt.hparams import DATA_HPARAM_DEFAULTS  # noqa: F401 (re-exported)

SHUFFLE_BUFFER = 10_000
SHUFFLE_MAX_BYTES = 1024**3  # decoded images held by the shuffle buffer (with files shuffled)
CACHE_MAX_BYTES = 2 * 1024**3
_ASSUMED_IMAGE_BYTES = 500 * 500 * 3  # For cache sizing when the image shape is unknown.
_DELTAS = ("ds_brightness_delta", "ds_contrast_delta", "ds_saturation_delta", "ds_hue_delta")


def data_hparams(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The `ds_*` hyperparameters of `hparams` over the defaults, validated.

    Keys that do not start with `ds_` are ignored (a path's hparams hold others too).

    Example:
        data_hparams({"ds_crop": False, "opt_lr": 0.01})["ds_crop"]  # False
    """
    out = dict(DATA_HPARAM_DEFAULTS)
    for key, value in hparams.items():
        if key.startswith("ds_") and key in DATA_HPARAM_DEFAULTS:
            out[key] = value
    area, ratio = out["ds_area_range_min"], out["ds_aspect_ratio_range_min"]
    if not 0.0 < float(area) <= 1.0:
        raise UserInputError(f"ds_area_range_min must be in (0, 1]. Received: {area!r}")
    if not 0.0 < float(ratio) <= 1.0:
        raise UserInputError(f"ds_aspect_ratio_range_min must be in (0, 1]. Received: {ratio!r}")
    for key in _DELTAS:
        if float(out[key]) < 0.0:
            raise UserInputError(f"{key} must be >= 0. Received: {out[key]!r}")
    if float(out["ds_hue_delta"]) > 0.5:
        raise UserInputError(f"ds_hue_delta must be <= 0.5. Received: {out['ds_hue_delta']!r}")
    return out


def check_size(name: str, value: Any) -> int:
    """`value` as a positive int, else a UserInputError quoting it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserInputError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return value


# === Per-example preprocessing ===


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """(H, W), (H, W, 1|2|3|4) -> (H, W, 3), same dtype: gray tiled, alpha dropped.

    Shapes known when the dataset is built are checked then (UserInputError naming the
    shape); unknown channel counts are resolved, and checked, when the data flows.
    """
    shape = image.shape
    if shape.rank is not None and shape.rank not in (2, 3):
        raise UserInputError(
            f"images must have shape (H, W) or (H, W, C). Received: image shape {tuple(shape)}"
        )
    if shape.rank == 2:
        image = image[..., tf.newaxis]
    elif shape.rank is None:
        image = tf.cond(tf.rank(image) == 2, lambda: image[..., tf.newaxis], lambda: image)
        image = tf.ensure_shape(image, [None, None, None])
    channels = image.shape[-1]
    if channels is not None:
        if channels not in (1, 2, 3, 4):
            raise UserInputError(
                "images must have 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels. "
                f"Received: image shape {tuple(shape)}"
            )
        return tf.tile(image[..., :1], [1, 1, 3]) if channels < 3 else image[..., :3]
    c = tf.shape(image)[-1]
    with tf.control_dependencies(
        [
            tf.debugging.assert_less_equal(
                c, 4, message="images must have 1, 2, 3 or 4 channels; got shape"
            )
        ]
    ):
        image = tf.cond(c < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3])
    return tf.ensure_shape(image, [None, None, 3])


@tf.autograph.experimental.do_not_convert
def standardize(example: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    """{"image", "label"} -> (RGB image in its source dtype, int32 label)."""
    return to_rgb(example["image"]), tf.cast(example["label"], tf.int32)


def _to_unit(image: tf.Tensor, value_range: tuple[float, float]) -> tf.Tensor:
    low, high = value_range
    return (tf.cast(image, tf.float32) - low) / (high - low)


def _finish(image01: tf.Tensor, image_size: int) -> tf.Tensor:
    image = tf.image.resize(image01, [image_size, image_size])
    return tf.clip_by_value(image * 2.0 - 1.0, -1.0, 1.0)


def eval_image(image: tf.Tensor, image_size: int, value_range: tuple[float, float]) -> tf.Tensor:
    """RGB image -> float32 (S, S, 3) in [-1, 1], no augmentation."""
    return _finish(_to_unit(image, value_range), image_size)


def check_value_range(
    value_range: Any, arrays: list[Any], what: str = "the images hold", hint: str | None = None
) -> None:
    """Refuses images that leave the stated pixel range by more than a tenth of its width
    (slightly outside is clipped here; far outside is a wrong range), or hold a NaN. A
    range that is not (low, high) with high > low is left to the caller to refuse.

    Example:
        check_value_range((0, 16), [digits_images])  # passes: digits hold 0..16
    """
    import numpy as np

    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        return
    seen = _extremes(arrays)
    if not high > low or seen is None:
        return
    seen_low, seen_high = seen
    slack = 0.1 * (high - low)
    if np.isnan(seen_low) or np.isnan(seen_high):
        raise UserInputError(f"{what} NaN values: they are no pixels", hint=hint)
    if seen_low < low - slack or seen_high > high + slack:
        raise UserInputError(
            f"{what} values in [{seen_low:g}, {seen_high:g}], outside value_range="
            f"({low:g}, {high:g}): they would be scaled wrongly",
            hint=hint,
        )


def check_range_used(value_range: Any, arrays: list[Any], what: str = "the images") -> None:
    """Refuses a data set whose pixels vary over under 1% of a range wider than 2: floats
    in [0, 1] or 0/1 masks read as 0..255 would all scale to about its low end.

    Example:
        check_range_used((0, 255), [x_uint8])  # passes; x_uint8 / 255.0 would not
    """

    low, high = (float(v) for v in value_range)
    seen = _extremes(arrays)
    if high - low <= 2.0 or seen is None:
        return
    seen_low, seen_high = seen
    if 0.0 < seen_high - seen_low < 0.01 * (high - low):  # constant images tell nothing
        unit = 0.0 <= seen_low and seen_high <= 1.0
        raise UserInputError(
            f"{what} hold values in [{seen_low:g}, {seen_high:g}]: under 1% of value_range="
            f"({low:g}, {high:g}), so they would all scale to about -1",
            hint="give the pixels' own range: value_range=[0, 1]"
            if unit
            else "give the pixels' own range as value_range=[low, high]",
        )


def _extremes(arrays: list[Any]) -> tuple[float, float] | None:
    """The least and largest values of the non-empty arrays (NaN if any holds one); None
    when every array is empty."""
    import numpy as np

    present = [x for x in arrays if np.size(x)]
    if not present:
        return None
    lows = [float(np.min(x)) for x in present]
    highs = [float(np.max(x)) for x in present]
    if any(np.isnan(lows + highs)):  # min() and max() of Python may pass a NaN over
        return float("nan"), float("nan")
    return min(lows), max(highs)


def prepare_images(
    images: Any, image_size: int, value_range: tuple[float, float] | None = (0.0, 255.0)
) -> Any:
    """Raw images as a task's model takes them, prepared as its evaluation data was: RGB
    (gray tiled, alpha dropped), scaled from `value_range` (None: 0..255), resized
    bilinearly to `image_size`, in [-1, 1]. `images`: a batch (N, H, W, C) or (N, H, W)
    of gray images, or a list of (H, W[, C]) arrays of any sizes (one image: a list of
    one). The input contract (`<out>.contract.json`) holds both numbers:
    `input.image_size` and `input.source_value_range`. Pixels outside `value_range`, or
    spanning under 1% of it (floats in [0, 1] read as 0..255), are refused.

    Example:
        logits = model(prepare_images(uint8_photos, 32))  # a float32 (N, 32, 32, 3) batch
    """
    import numpy as np

    check_size("image_size", image_size)
    low, high = (float(v) for v in (value_range or (0.0, 255.0)))
    if not high > low:
        raise UserInputError(
            f"value_range must be (low, high) with high > low. Received: {value_range}"
        )
    items = list(images) if isinstance(images, list | tuple) else None
    if items is None:
        batch = np.asarray(images)
        if batch.ndim == 3 and batch.shape[-1] in (1, 3, 4):  # (H, W, C) or N gray images?
            raise UserInputError(
                f"an array of shape {batch.shape} may be one image or a batch of gray ones.",
                hint="pass one image as a list, [image]; a batch of gray images as (N, H, W, 1)",
            )
        if batch.ndim not in (3, 4):
            raise UserInputError(
                "images must be a batch (N, H, W) or (N, H, W, C), or a list of (H, W[, C]) "
                f"images. Received: shape {batch.shape}"
            )
        items = list(batch)
    if not items:
        raise UserInputError("no images to prepare (an empty batch)")
    arrays = [np.asarray(item) for item in items]
    for pixels in arrays:
        if pixels.dtype.kind not in "buif":
            raise UserInputError(f"images must be numbers. Received: dtype {pixels.dtype}")
        check_value_range(
            (low, high),
            [pixels],
            "images hold",
            hint="pass the pixels' own range as value_range (the contract's "
            "input.source_value_range is the range the task's data came in)",
        )
    check_range_used((low, high), arrays, "the images")
    prepared = []
    for pixels in arrays:
        image = to_rgb(tf.convert_to_tensor(pixels))
        prepared.append(eval_image(image, int(image_size), (low, high)))
    return tf.stack(prepared).numpy()


def augment_image(
    image: tf.Tensor,
    seed: tf.Tensor,
    hparams: Mapping[str, Any],
    image_size: int,
    value_range: tuple[float, float],
) -> tf.Tensor:
    """RGB image -> augmented float32 (S, S, 3) in [-1, 1]; `seed` is a stateless [2] seed."""
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    area_min = float(hparams["ds_area_range_min"])
    if hparams["ds_crop"] and area_min < 1.0:
        ratio = float(hparams["ds_aspect_ratio_range_min"])
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image),
            bounding_boxes=tf.zeros([0, 0, 4], tf.float32),
            seed=seeds[0],
            min_object_covered=0.0,
            aspect_ratio_range=[ratio, 1.0 / ratio],
            area_range=[area_min, 1.0],
            use_image_if_no_bounding_boxes=True,
        )
        image = tf.slice(image, begin, size)
        image = tf.ensure_shape(image, [None, None, 3])  # The slice loses the channel count.
    if hparams["ds_flip_left_right"]:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    image = _to_unit(image, value_range)
    brightness, contrast, saturation, hue = (float(hparams[k]) for k in _DELTAS)
    if brightness > 0.0:
        # Half the delta on [0, 1] values == the reference's delta on [-1, 1] values.
        image = tf.image.stateless_random_brightness(image, brightness / 2.0, seed=seeds[2])
    if contrast > 0.0:
        image = tf.image.stateless_random_contrast(
            image, 1.0 - contrast, 1.0 + contrast, seed=seeds[3]
        )
    if saturation > 0.0:
        image = tf.image.stateless_random_saturation(
            image, 1.0 - saturation, 1.0 + saturation, seed=seeds[4]
        )
    if hue > 0.0:
        image = tf.image.stateless_random_hue(image, hue, seed=seeds[5])
    return _finish(image, image_size)


# === Dataset pipelines ===


def maybe_cache(ds: tf.data.Dataset, num_examples: int | None) -> tf.data.Dataset:
    """Caches `ds` (decoded, before augmentation) when it fits in CACHE_MAX_BYTES."""
    if num_examples is None:
        return ds
    return ds.cache() if num_examples * _image_bytes(ds.element_spec[0]) <= CACHE_MAX_BYTES else ds


def _image_bytes(spec: tf.TensorSpec) -> int:
    """Bytes of one decoded image of `spec` (an assumed size when shapes vary)."""
    pixels = spec.shape.num_elements() if spec.shape.is_fully_defined() else _ASSUMED_IMAGE_BYTES
    return pixels * spec.dtype.size


def _shuffle_buffer(spec: tf.TensorSpec, num_examples: int | None) -> int:
    """Examples a shuffle holds: SHUFFLE_BUFFER, at most the split and SHUFFLE_MAX_BYTES."""
    buffer = min(
        SHUFFLE_BUFFER, num_examples or SHUFFLE_BUFFER, SHUFFLE_MAX_BYTES // _image_bytes(spec)
    )
    return max(1, buffer)


def seeded_sample(ds: tf.data.Dataset, num_examples: int | None, seed: int) -> tf.data.Dataset:
    """Raw {"image", "label"} examples in a seeded order, shuffled in a buffer bounded as
    training's (so a sample taken from it is drawn as training batches are).

    Example:
        ds = seeded_sample(raw_examples, num_examples=1797, seed=0).take(1024)
    """
    buffer = _shuffle_buffer(ds.element_spec["image"], num_examples)
    return ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=False)


def train_pipeline(
    ds: tf.data.Dataset,
    hparams: Mapping[str, Any],
    *,
    image_size: int,
    batch_size: int,
    seed: int,
    value_range: tuple[float, float],
    num_examples: int | None = None,
) -> tf.data.Dataset:
    """Infinite, shuffled (seeded), augmented, batched (drop_remainder) and prefetched.

    `ds` yields {"image", "label"} dicts in a deterministic order.
    """
    hparams = data_hparams(hparams)
    ds = maybe_cache(ds.map(standardize, num_parallel_calls=tf.data.AUTOTUNE), num_examples)
    buffer = _shuffle_buffer(ds.element_spec[0], num_examples)
    ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()

    @tf.autograph.experimental.do_not_convert
    def augment(index: tf.Tensor, example: tuple[tf.Tensor, tf.Tensor]):
        image, label = example
        example_seed = tf.stack([tf.constant(seed, tf.int64), index])
        return augment_image(image, example_seed, hparams, image_size, value_range), label

    ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def eval_pipeline(
    ds: tf.data.Dataset,
    *,
    image_size: int,
    batch_size: int,
    value_range: tuple[float, float],
    num_examples: int | None = None,
) -> tf.data.Dataset:
    """Finite, in order, unaugmented, batched (last batch kept) and prefetched."""
    ds = maybe_cache(ds.map(standardize, num_parallel_calls=tf.data.AUTOTUNE), num_examples)

    @tf.autograph.experimental.do_not_convert
    def preprocess(image: tf.Tensor, label: tf.Tensor):
        return eval_image(image, image_size, value_range), label

    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
