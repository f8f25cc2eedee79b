"""The Vision Transformer components: the pieces of a ViT that paths share.

Layouts follow the original ViT (vit_jax / big_vision): pre-LayerNorm encoder
blocks with epsilon 1e-6, exact GELU, a class token and learned position
embeddings, so pretrained checkpoints load without conversion tricks.

Example:
    x = keras.random.normal((2, 32, 32, 3))
    x = PatchEmbedding(hidden_dim=64, patch_size=8)(x)          # (2, 16, 64)
    x = ClassToken()(x)                                          # (2, 17, 64)
    x = PositionEmbedding(grid_size=4)(x)
    x = EncoderBlock(num_heads=4, mlp_dim=128)(x)
    logits = ClassificationHead(num_classes=10)(EncoderNorm()(x))  # (2, 10)
"""

from __future__ import annotations

import keras
import numpy as np
import scipy.ndimage
from keras import ops

from keras_evomt.components import base
from keras_evomt.components.base import Component, register_component


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


@register_component
class PatchEmbedding(Component):
    """Splits images into non-overlapping patches and projects each to `hidden_dim`.

    Input (batch, H, W, 3) with H and W multiples of `patch_size`; output
    (batch, H*W / patch_size**2, hidden_dim).
    """

    role = base.EMBEDDING

    def __init__(self, hidden_dim: int, patch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = _positive("hidden_dim", hidden_dim)
        self.patch_size = _positive("patch_size", patch_size)
        self.projection = keras.layers.Conv2D(
            hidden_dim,
            patch_size,
            strides=patch_size,
            padding="valid",
            name="projection",
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.built = True

    def call(self, images):
        x = self.projection(images)
        return ops.reshape(x, (ops.shape(x)[0], -1, self.hidden_dim))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, (height // self.patch_size) * (width // self.patch_size), self.hidden_dim)

    def flops(self, input_shape):
        height, width, channels = input_shape
        patches = (height // self.patch_size) * (width // self.patch_size)
        return 2 * patches * self.patch_size**2 * channels * self.hidden_dim

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "patch_size": self.patch_size,
        }


@register_component
class ClassToken(Component):
    """Prepends one learned token to the sequence: (b, n, d) -> (b, n + 1, d)."""

    role = base.CLASS_TOKEN

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="cls")
        self.built = True

    def call(self, x):
        token = ops.broadcast_to(
            ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, ops.shape(x)[2])
        )
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        batch, length, dim = input_shape
        return (batch, None if length is None else length + 1, dim)


@register_component
class PositionEmbedding(Component):
    """Adds learned position embeddings for a `grid_size` x `grid_size` patch grid.

    With `class_token=True` the first position belongs to the class token.
    `resized(new_grid_size)` returns a new component whose grid part is
    interpolated (linear, as vit_jax does when fine-tuning at a new resolution).
    """

    role = base.POSITIONS

    def __init__(self, grid_size: int, class_token: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = _positive("grid_size", grid_size)
        self.class_token = bool(class_token)

    @property
    def sequence_length(self) -> int:
        return self.grid_size**2 + int(self.class_token)

    def build(self, input_shape):
        if input_shape[1] is not None and input_shape[1] != self.sequence_length:
            raise ValueError(
                f"PositionEmbedding(grid_size={self.grid_size}) expects sequences of length "
                f"{self.sequence_length}. Received: input_shape={tuple(input_shape)}"
            )
        self.embedding = self.add_weight(
            shape=(1, self.sequence_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="pos_embedding",
        )
        self.built = True

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)

    def flops(self, input_shape):
        return int(np.prod(input_shape))

    def resized(self, grid_size: int) -> PositionEmbedding:
        """A new, built PositionEmbedding for `grid_size`, weights interpolated."""
        table = ops.convert_to_numpy(self.embedding)
        new = PositionEmbedding(
            grid_size=grid_size,
            class_token=self.class_token,
            dtype=self.dtype_policy,
            name=self.name,
        )
        new.build((None, None, table.shape[-1]))
        new.embedding.assign(
            resize_position_table(table, self.grid_size, grid_size, self.class_token)
        )
        return new

    def get_config(self):
        return {
            **super().get_config(),
            "grid_size": self.grid_size,
            "class_token": self.class_token,
        }


def resize_position_table(
    table: np.ndarray, old_grid: int, new_grid: int, class_token: bool = True
) -> np.ndarray:
    """Interpolates a (1, [1 +] old_grid**2, d) position table to `new_grid`.

    Example:
        resize_position_table(np.zeros((1, 17, 8)), 4, 6).shape  # (1, 37, 8)
    """
    token, grid = (table[:, :1], table[:, 1:]) if class_token else (table[:, :0], table)
    if grid.shape[1] != old_grid**2:
        raise ValueError(
            f"Position table of shape {table.shape} does not hold a "
            f"{old_grid}x{old_grid} grid (class_token={class_token})."
        )
    grid = grid.reshape(old_grid, old_grid, -1)
    zoom = (new_grid / old_grid, new_grid / old_grid, 1)
    grid = scipy.ndimage.zoom(grid, zoom, order=1).reshape(1, new_grid**2, -1)
    return np.concatenate([token, grid], axis=1).astype(table.dtype)


@register_component
class EncoderBlock(Component):
    """Pre-LayerNorm transformer encoder block (ViT): x + MHA(LN(x)); x + MLP(LN(x)).

    `identity_init=True` zero-initialises both residual branches' output
    projections, so a newly inserted block starts as the identity.
    `gelu_approximate=True` uses the tanh GELU of Flax's `nn.gelu`, which vit_jax
    checkpoints were trained with; the default is the exact (erf) GELU.
    """

    role = base.BLOCK

    def __init__(
        self,
        num_heads: int,
        mlp_dim: int,
        dropout_rate: float = 0.0,
        layer_norm_epsilon: float = 1e-6,
        identity_init: bool = False,
        gelu_approximate: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = _positive("num_heads", num_heads)
        self.mlp_dim = _positive("mlp_dim", mlp_dim)
        self.dropout_rate = float(dropout_rate)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.identity_init = bool(identity_init)
        self.gelu_approximate = bool(gelu_approximate)
        out_init = "zeros" if identity_init else "glorot_uniform"
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="attention_norm", dtype=policy
        )
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="mlp_norm", dtype=policy
        )
        self.mlp_in = keras.layers.Dense(mlp_dim, name="mlp_in", dtype=policy)
        self.mlp_out_init = out_init
        self.dropout = keras.layers.Dropout(dropout_rate, dtype=policy)

    def build(self, input_shape):
        hidden = input_shape[-1]
        if hidden % self.num_heads:
            raise ValueError(
                f"hidden size {hidden} is not divisible by num_heads={self.num_heads}."
            )
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads,
            hidden // self.num_heads,
            dropout=self.dropout_rate,
            kernel_initializer="glorot_uniform",
            name="attention",
            dtype=self.dtype_policy,
        )
        self.mlp_outp = keras.layers.Dense(
            hidden, kernel_initializer=self.mlp_out_init, name="mlp_out", dtype=self.dtype_policy
        )
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_outp.build((*input_shape[:-1], self.mlp_dim))
        if self.identity_init:
            for weight in self.attention.weights:
                if "output" in weight.path:  # the attention's output projection
                    weight.assign(np.zeros(weight.shape, weight.dtype))
        self.built = True

    def call(self, x, training=None):
        y = self.attention_norm(x)
        y = self.attention(y, y, training=training)
        x = x + self.dropout(y, training=training)
        y = self.mlp_in(self.mlp_norm(x))
        y = keras.activations.gelu(y, approximate=self.gelu_approximate)
        y = self.mlp_outp(self.dropout(y, training=training))
        return x + self.dropout(y, training=training)

    def flops(self, input_shape):
        length, hidden = input_shape
        projections = 2 * length * 4 * hidden * hidden
        attention = 2 * 2 * length * length * hidden
        mlp = 2 * 2 * length * hidden * self.mlp_dim
        return projections + attention + mlp

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "dropout_rate": self.dropout_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "identity_init": self.identity_init,
            "gelu_approximate": self.gelu_approximate,
        }


@register_component
class EncoderNorm(Component):
    """The final LayerNorm of the encoder (epsilon 1e-6 as in ViT)."""

    role = base.NORM

    def __init__(self, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.norm = keras.layers.LayerNormalization(
            epsilon=epsilon, name="norm", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.built = True

    def call(self, x):
        return self.norm(x)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@register_component
class ClassificationHead(Component):
    """Logits from the class token: Dense(num_classes) on x[:, 0], zero-initialised."""

    role = base.HEAD

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _positive("num_classes", num_classes)
        self.dense = keras.layers.Dense(
            num_classes, kernel_initializer="zeros", name="dense", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.dense.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, x):
        return self.dense(x[:, 0])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def flops(self, input_shape):
        return 2 * input_shape[-1] * self.num_classes

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@register_component
class ResidualAdapter(Component):
    """x + Dense(hidden, zero kernel)(GELU(Dense(adapter_dim)(LN(x)))): identity at init."""

    role = base.ADAPTER

    def __init__(
        self,
        adapter_dim: int,
        layer_norm_epsilon: float = 1e-6,
        gelu_approximate: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.adapter_dim = _positive("adapter_dim", adapter_dim)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.gelu_approximate = bool(gelu_approximate)
        policy = self.dtype_policy
        self.norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="norm", dtype=policy
        )
        self.down = keras.layers.Dense(adapter_dim, name="down", dtype=policy)

    def build(self, input_shape):
        self.up = keras.layers.Dense(
            input_shape[-1], kernel_initializer="zeros", name="up", dtype=self.dtype_policy
        )
        self.norm.build(input_shape)
        self.down.build(input_shape)
        self.up.build((*input_shape[:-1], self.adapter_dim))
        self.built = True

    def call(self, x):
        y = keras.activations.gelu(self.down(self.norm(x)), approximate=self.gelu_approximate)
        return x + self.up(y)

    def flops(self, input_shape):
        length, hidden = input_shape
        return 2 * 2 * length * hidden * self.adapter_dim

    def get_config(self):
        return {
            **super().get_config(),
            "adapter_dim": self.adapter_dim,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "gelu_approximate": self.gelu_approximate,
        }
