"""The zoo: named model factories, each with seeded weights and fixed inputs.

A factory takes the env's Keras module and returns a `Spec`: the compiled
model, its reference inputs and a few batches of training data. The names
are report labels, and the same file runs in every env, so a model means the
same thing whichever Keras built it.
"""

import numpy as np

import _probe

SEED = 1234
BATCH = 8


class Spec(object):
    def __init__(self, model, inputs, train_x, train_y):
        self.model = model
        self.inputs = inputs  # list of arrays, one per model input
        self.train_x = train_x
        self.train_y = train_y


_CUSTOM = {}


def custom_objects(keras):
    """The zoo's custom layers for this Keras, created and registered once."""
    key = id(keras)
    if key not in _CUSTOM:
        _CUSTOM[key] = _define_custom_layers(keras)
    return dict(_CUSTOM[key])


def _define_custom_layers(keras):
    @_probe.register_serializable(keras)
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

    return {"ScaleShift": ScaleShift}


def _init(keras, offset):
    return keras.initializers.GlorotUniform(seed=SEED + offset)


def _data(shape, offset, scale=1.0):
    rng = np.random.RandomState(SEED + offset)
    return (rng.standard_normal(shape) * scale).astype("float32")


def _compile(model, keras):
    # The full loss name, not "mse": Keras 3 cannot restore the "mse" alias
    # from a legacy .h5 compile config ("keras.metrics.mse ... is not a
    # KerasSaveable subclass"), which would hide every other h5 finding.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mean_squared_error"
    )
    return model


def build_mlp(keras):
    inputs = keras.Input(shape=(8,), name="features")
    x = keras.layers.Dense(16, activation="relu", kernel_initializer=_init(keras, 1))(
        inputs
    )
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(
        3, kernel_initializer=_init(keras, 2), dtype="float32"
    )(x)
    model = _compile(keras.Model(inputs, outputs, name="mlp"), keras)
    return Spec(model, [_data((BATCH, 8), 10)], _data((32, 8), 11), _data((32, 3), 12))


def build_cnn(keras):
    inputs = keras.Input(shape=(12, 12, 3), name="image")
    x = keras.layers.Conv2D(
        6, 3, activation="relu", kernel_initializer=_init(keras, 3)
    )(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(
        4, kernel_initializer=_init(keras, 4), dtype="float32"
    )(x)
    model = _compile(keras.Model(inputs, outputs, name="cnn"), keras)
    return Spec(
        model,
        [_data((BATCH, 12, 12, 3), 20)],
        _data((32, 12, 12, 3), 21),
        _data((32, 4), 22),
    )


def build_lstm(keras):
    inputs = keras.Input(shape=(10, 4), name="sequence")
    x = keras.layers.LSTM(
        8,
        kernel_initializer=_init(keras, 5),
        recurrent_initializer=keras.initializers.Orthogonal(seed=SEED + 6),
    )(inputs)
    outputs = keras.layers.Dense(
        2, kernel_initializer=_init(keras, 7), dtype="float32"
    )(x)
    model = _compile(keras.Model(inputs, outputs, name="lstm"), keras)
    return Spec(
        model, [_data((BATCH, 10, 4), 30)], _data((32, 10, 4), 31), _data((32, 2), 32)
    )


def build_custom(keras):
    scale_shift = custom_objects(keras)["ScaleShift"]
    inputs = keras.Input(shape=(6,), name="features")
    x = keras.layers.Dense(8, activation="tanh", kernel_initializer=_init(keras, 8))(
        inputs
    )
    x = scale_shift(init_scale=1.5)(x)
    outputs = keras.layers.Dense(
        2, kernel_initializer=_init(keras, 9), dtype="float32"
    )(x)
    model = _compile(keras.Model(inputs, outputs, name="custom"), keras)
    return Spec(model, [_data((BATCH, 6), 40)], _data((32, 6), 41), _data((32, 2), 42))


ZOO = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "lstm": build_lstm,
    "custom": build_custom,
}

# Models whose loading needs the zoo's custom objects passed explicitly.
NEEDS_CUSTOM_OBJECTS = frozenset(["custom"])


def build(keras, name):
    """Build, seed and briefly train one zoo model (optimizer state included)."""
    _seed_everything(keras)
    spec = ZOO[name](keras)
    spec.model.fit(
        spec.train_x, spec.train_y, batch_size=16, epochs=2, shuffle=False, verbose=0
    )
    return spec


def _seed_everything(keras):
    import random

    import tensorflow as tf

    random.seed(SEED)
    np.random.seed(SEED)
    tf.random.set_seed(SEED)
    set_seed = getattr(keras.utils, "set_random_seed", None)
    if set_seed is not None:
        set_seed(SEED)
