"""The zoo: named model factories, one per failure family people hit.

A factory takes the env's Keras module and returns a `Spec`: the compiled
model, its fixed reference inputs and a few batches of training data. The
names are report labels, and the same file runs in every env (Keras 2.5 to
Keras 3), so a model means the same thing whichever Keras built it.
"""

import numpy as np

import _probe

SEED = 1234
BATCH = 8
VOCABULARY = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away"]


class Spec(object):
    def __init__(self, model, inputs, train_x, train_y):
        self.model = model
        self.inputs = inputs  # list of numpy arrays, one per model input
        self.train_x = train_x
        self.train_y = train_y

    def call_inputs(self):
        """The reference inputs as the model takes them."""
        import loading

        feed = [loading.model_input(x) for x in self.inputs]
        return feed[0] if len(feed) == 1 else feed


# -- custom objects -----------------------------------------------------------

_CUSTOM = {}


def custom_objects(keras):
    """The zoo's registered custom objects for this Keras, created once."""
    key = id(keras)
    if key not in _CUSTOM:
        _CUSTOM[key] = _define_custom_objects(keras)
    return dict(_CUSTOM[key]["registered"])


def every_class(keras):
    """Every zoo class by name, the unregistered one included: for a TFLite
    converter that reads the model back from h5, never for a measured load."""
    objects = custom_objects(keras)
    objects["Unregistered"] = _unregistered_layer(keras)
    return objects


def _unregistered_layer(keras):
    custom_objects(keras)
    return _CUSTOM[id(keras)]["unregistered"]


def _define_custom_objects(keras):
    register = _probe.register_serializable(keras)
    mean = _mean(keras)

    @register
    class ScaleShift(keras.layers.Layer):
        """y = x * scale + shift, with trainable per-feature scale/shift."""

        def __init__(self, init_scale=1.5, **kwargs):
            super(ScaleShift, self).__init__(**kwargs)
            self.init_scale = init_scale

        def build(self, input_shape):
            width = int(input_shape[-1])
            self.scale = self.add_weight(
                name="scale",
                shape=(width,),
                initializer=keras.initializers.Constant(self.init_scale),
            )
            self.shift = self.add_weight(
                name="shift", shape=(width,), initializer="zeros"
            )
            super(ScaleShift, self).build(input_shape)

        def call(self, inputs):
            return inputs * self.scale + self.shift

        def get_config(self):
            config = super(ScaleShift, self).get_config()
            config["init_scale"] = self.init_scale
            return config

    @register
    class NaNGuard(keras.layers.Layer):
        """(x - mean) / (variance + epsilon) per row. Without its epsilon a
        zero-variance row divides 0 by 0: a loader that loses the setting
        shows up as `nan`."""

        def __init__(self, epsilon=0.0, **kwargs):
            super(NaNGuard, self).__init__(**kwargs)
            self.epsilon = epsilon

        def call(self, inputs):
            centred = inputs - mean(inputs, axis=-1, keepdims=True)
            variance = mean(centred * centred, axis=-1, keepdims=True)
            return centred / (variance + self.epsilon)

        def get_config(self):
            config = super(NaNGuard, self).get_config()
            config["epsilon"] = self.epsilon
            return config

    @register
    class Block(keras.layers.Layer):
        """Two Dense layers, nested inside the subclassed model."""

        def __init__(self, units=16, **kwargs):
            super(Block, self).__init__(**kwargs)
            self.units = units
            self.first = keras.layers.Dense(
                units, activation="relu", kernel_initializer=_init(keras, 40)
            )
            self.second = keras.layers.Dense(
                units, activation="tanh", kernel_initializer=_init(keras, 41)
            )

        def call(self, inputs):
            return self.second(self.first(inputs))

        def get_config(self):
            config = super(Block, self).get_config()
            config["units"] = self.units
            return config

    @register
    class Subclassed(keras.Model):
        """A subclassed model: a nested Block, then a float32 head."""

        def __init__(self, units=16, width=3, **kwargs):
            super(Subclassed, self).__init__(**kwargs)
            self.units = units
            self.width = width
            self.block = Block(units)
            self.head = keras.layers.Dense(
                width, kernel_initializer=_init(keras, 42), dtype="float32"
            )

        def call(self, inputs, training=None):
            return self.head(self.block(inputs))

        def get_config(self):
            return {"units": self.units, "width": self.width, "name": self.name}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    class Unregistered(keras.layers.Layer):
        """A custom layer nobody registered: loading it needs custom_objects."""

        def build(self, input_shape):
            self.bias = self.add_weight(
                name="bias", shape=(int(input_shape[-1]),), initializer="ones"
            )
            super(Unregistered, self).build(input_shape)

        def call(self, inputs):
            return inputs * 2.0 + self.bias

    return {
        "registered": {
            "ScaleShift": ScaleShift,
            "NaNGuard": NaNGuard,
            "Block": Block,
            "Subclassed": Subclassed,
        },
        "unregistered": Unregistered,
    }


# -- helpers ------------------------------------------------------------------


def _init(keras, offset):
    # Standalone Keras 2.3 spells it as a function.
    glorot = getattr(keras.initializers, "GlorotUniform", None)
    if glorot is None:
        glorot = keras.initializers.glorot_uniform
    return glorot(seed=SEED + offset)


def _data(shape, offset, scale=1.0, shift=0.0):
    rng = np.random.RandomState(SEED + offset)
    return (rng.standard_normal(shape) * scale + shift).astype("float32")


def _ints(shape, offset, high):
    return np.random.RandomState(SEED + offset).randint(0, high, shape).astype("int32")


def _sentences(count, offset):
    rng = np.random.RandomState(SEED + offset)
    words = [
        " ".join(rng.choice(VOCABULARY + ["unknown"], size=rng.randint(2, 8)))
        for _ in range(count)
    ]
    return np.array(words).reshape((count, 1))


def _layer(keras, name):
    """A layer class by name, wherever this Keras keeps it (2.5 had
    preprocessing layers under `experimental.preprocessing`)."""
    found = getattr(keras.layers, name, None)
    if found is None:
        found = getattr(keras.layers.experimental.preprocessing, name)
    return found


def _head(keras, units, offset, name=None):
    # The output layer stays float32 under mixed policies, as Keras advises.
    return keras.layers.Dense(
        units, kernel_initializer=_init(keras, offset), dtype="float32", name=name
    )


def _compile(model, keras):
    # The full loss name, not "mse": Keras 3 cannot restore the "mse" alias
    # from a legacy .h5 compile config ("keras.metrics.mse ... is not a
    # KerasSaveable subclass"), which would hide every other h5 finding.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mean_squared_error"
    )
    return model


def _functional(keras, inputs, outputs, name):
    return keras.Model(inputs, outputs, name=name)


# -- the models ---------------------------------------------------------------


def build_mlp(keras):
    inputs = keras.Input(shape=(8,), name="features")
    x = keras.layers.Dense(16, activation="relu", kernel_initializer=_init(keras, 1))(
        inputs
    )
    x = keras.layers.BatchNormalization()(x)
    model = _functional(keras, inputs, _head(keras, 3, 2)(x), "mlp")
    return Spec(model, [_data((BATCH, 8), 10)], _data((32, 8), 11), _data((32, 3), 12))


def build_cnn(keras):
    inputs = keras.Input(shape=(12, 12, 3), name="image")
    x = keras.layers.Conv2D(
        6, 3, activation="relu", kernel_initializer=_init(keras, 3)
    )(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    model = _functional(keras, inputs, _head(keras, 4, 4)(x), "cnn")
    return Spec(
        model,
        [_data((BATCH, 12, 12, 3), 20)],
        _data((32, 12, 12, 3), 21),
        _data((32, 4), 22),
    )


def _recurrent(keras, layer_name, steps, features, units, offset, name):
    inputs = keras.Input(shape=(steps, features), name="sequence")
    x = getattr(keras.layers, layer_name)(
        units,
        kernel_initializer=_init(keras, offset),
        recurrent_initializer=keras.initializers.Orthogonal(seed=SEED + offset + 1),
    )(inputs)
    model = _functional(keras, inputs, _head(keras, 2, offset + 2)(x), name)
    batch = 4 if steps > 100 else BATCH
    return Spec(
        model,
        [_data((batch, steps, features), offset + 3)],
        _data((16, steps, features), offset + 4),
        _data((16, 2), offset + 5),
    )


def build_lstm(keras):
    return _recurrent(keras, "LSTM", 10, 4, 8, 5, "lstm")


def build_gru(keras):
    return _recurrent(keras, "GRU", 10, 4, 8, 60, "gru")


def build_long_sequence(keras):
    """LSTM over 1000 steps: rounding differences compound along the way."""
    return _recurrent(keras, "LSTM", 1000, 2, 4, 70, "long_sequence")


def build_custom(keras):
    scale_shift = custom_objects(keras)["ScaleShift"]
    inputs = keras.Input(shape=(6,), name="features")
    x = keras.layers.Dense(8, activation="tanh", kernel_initializer=_init(keras, 8))(
        inputs
    )
    x = scale_shift(init_scale=1.5)(x)
    model = _functional(keras, inputs, _head(keras, 2, 9)(x), "custom")
    return Spec(model, [_data((BATCH, 6), 40)], _data((32, 6), 41), _data((32, 2), 42))


def build_depthwise(keras):
    inputs = keras.Input(shape=(12, 12, 3), name="image")
    x = keras.layers.DepthwiseConv2D(
        3,
        depth_multiplier=2,
        activation="relu",
        depthwise_initializer=_init(keras, 80),
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = _functional(keras, inputs, _head(keras, 3, 81)(x), "depthwise")
    return Spec(
        model,
        [_data((BATCH, 12, 12, 3), 82)],
        _data((32, 12, 12, 3), 83),
        _data((32, 3), 84),
    )


def build_subclassed(keras):
    model = custom_objects(keras)["Subclassed"](units=16, width=3, name="subclassed")
    inputs = [_data((BATCH, 8), 90)]
    # Create the variables before training or saving; graph-mode Keras (TF
    # 1.x, standalone Keras 2.3) takes no arrays in a call, only in predict.
    if _eager(keras):
        model(inputs[0])
    else:
        model.predict(inputs[0])
    return Spec(model, inputs, _data((32, 8), 91), _data((32, 3), 92))


def build_normalization(keras):
    """An adapted Normalization layer: its mean and variance are state that
    must survive saving, or predictions shift by the data's offset."""
    norm = _layer(keras, "Normalization")(axis=-1)
    norm.adapt(_data((64, 5), 100, scale=3.0, shift=7.0))
    inputs = keras.Input(shape=(5,), name="features")
    x = keras.layers.Dense(8, activation="relu", kernel_initializer=_init(keras, 101))(
        norm(inputs)
    )
    model = _functional(keras, inputs, _head(keras, 2, 102)(x), "normalization")
    return Spec(
        model,
        [_data((BATCH, 5), 103, scale=3.0, shift=7.0)],
        _data((32, 5), 104, scale=3.0, shift=7.0),
        _data((32, 2), 105),
    )


def build_text(keras):
    """TextVectorization with a fixed vocabulary, then an embedding."""
    vectorize = _layer(keras, "TextVectorization")(
        output_mode="int", output_sequence_length=6, vocabulary=VOCABULARY
    )
    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    x = vectorize(inputs)
    x = keras.layers.Embedding(
        len(VOCABULARY) + 2, 4, embeddings_initializer=_init(keras, 110)
    )(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = _functional(keras, inputs, _head(keras, 2, 111)(x), "text")
    return Spec(
        model, [_sentences(BATCH, 112)], _sentences(32, 113), _data((32, 2), 114)
    )


def build_embedding(keras):
    inputs = keras.Input(shape=(6,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(50, 8, embeddings_initializer=_init(keras, 120))(inputs)
    x = keras.layers.Flatten()(x)
    model = _functional(keras, inputs, _head(keras, 2, 121)(x), "embedding")
    return Spec(
        model,
        [_ints((BATCH, 6), 122, 50)],
        _ints((32, 6), 123, 50),
        _data((32, 2), 124),
    )


def build_multi_io(keras):
    a = keras.Input(shape=(4,), name="a")
    b = keras.Input(shape=(3,), name="b")
    x = keras.layers.Concatenate()(
        [
            keras.layers.Dense(
                8, activation="relu", kernel_initializer=_init(keras, 130)
            )(a),
            keras.layers.Dense(
                8, activation="relu", kernel_initializer=_init(keras, 131)
            )(b),
        ]
    )
    outputs = [_head(keras, 2, 132, "out_a")(x), _head(keras, 1, 133, "out_b")(x)]
    model = _functional(keras, [a, b], outputs, "multi_io")
    return Spec(
        model,
        [_data((BATCH, 4), 134), _data((BATCH, 3), 135)],
        [_data((32, 4), 136), _data((32, 3), 137)],
        [_data((32, 2), 138), _data((32, 1), 139)],
    )


def build_nan_guard(keras):
    guard = custom_objects(keras)["NaNGuard"]
    inputs = keras.Input(shape=(5,), name="features")
    x = guard(epsilon=1e-3)(inputs)
    model = _functional(keras, inputs, _head(keras, 2, 140)(x), "nan_guard")
    reference = _data((BATCH, 5), 141)
    reference[0, :] = 2.5  # a zero-variance row: only the epsilon keeps it finite
    return Spec(model, [reference], _data((32, 5), 142), _data((32, 2), 143))


def build_unregistered(keras):
    inputs = keras.Input(shape=(4,), name="features")
    x = _unregistered_layer(keras)()(inputs)
    model = _functional(keras, inputs, _head(keras, 2, 150)(x), "unregistered")
    return Spec(
        model, [_data((BATCH, 4), 151)], _data((32, 4), 152), _data((32, 2), 153)
    )


def build_lambda(keras):
    """A Lambda layer: Python code inside the file. Loaded only with --unsafe."""
    inputs = keras.Input(shape=(4,), name="features")
    x = keras.layers.Lambda(lambda t: t * 2.0 + 1.0)(inputs)
    model = _functional(keras, inputs, _head(keras, 2, 160)(x), "lambda")
    return Spec(
        model, [_data((BATCH, 4), 161)], _data((32, 4), 162), _data((32, 2), 163)
    )


ZOO = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "lstm": build_lstm,
    "custom": build_custom,
    "gru": build_gru,
    "depthwise": build_depthwise,
    "subclassed": build_subclassed,
    "normalization": build_normalization,
    "text": build_text,
    "embedding": build_embedding,
    "multi_io": build_multi_io,
    "long_sequence": build_long_sequence,
    "nan_guard": build_nan_guard,
    "unregistered": build_unregistered,
    "lambda": build_lambda,
}

# Models whose loading needs the zoo's custom objects passed explicitly;
# `unregistered` is left out on purpose: its load must fail naming the class.
NEEDS_CUSTOM_OBJECTS = frozenset(["custom", "subclassed", "nan_guard"])


def build(keras, name, train=True):
    """Build one zoo model; compile and train it briefly (optimizer state
    included), or leave it uncompiled for an inference-only rebuild."""
    _seed_everything(keras)
    spec = ZOO[name](keras)
    if train:
        _compile(spec.model, keras)
        spec.model.fit(
            _as_tensor(spec.train_x),
            _as_tensor(spec.train_y),
            batch_size=16,
            epochs=2,
            shuffle=False,
            verbose=0,
        )
    return spec


def _tensorflow(keras):
    """TensorFlow, where Keras runs on it; None on JAX or PyTorch (where
    TensorFlow is not installed: importing it would fail)."""
    backend = getattr(keras.backend, "backend", None)
    if backend is not None and backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def _eager(keras):
    tf = _tensorflow(keras)
    return tf is None or tf.executing_eagerly()


def _mean(keras):
    """A mean over an axis: TensorFlow's where Keras runs on it (as the zoo
    always computed it), keras.ops on JAX and PyTorch."""
    tf = _tensorflow(keras)
    return keras.ops.mean if tf is None else tf.reduce_mean


def _as_tensor(data):
    """String arrays go to fit() as tensors; Keras cannot take '<U' arrays."""
    if isinstance(data, list):
        return [_as_tensor(d) for d in data]
    if data.dtype.kind == "U":
        import tensorflow as tf

        return tf.constant(data)
    return data


def _seed_everything(keras):
    import random

    random.seed(SEED)
    np.random.seed(SEED)
    tf = _tensorflow(keras)
    if tf is not None:
        # TF 1.15 has the graph-level seed under its v1 name only.
        set_graph_seed = (
            getattr(tf.random, "set_seed", None) or tf.compat.v1.set_random_seed
        )
        set_graph_seed(SEED)
    set_seed = getattr(keras.utils, "set_random_seed", None)
    if set_seed is not None:
        set_seed(SEED)
