"""Reference probe: make a user model's reference inputs and outputs.

Usage: reference.py --tasks TASKS.json --events-fd N

Runs in the baseline env. Loads the user's model (integrity checked first),
takes the user's inputs or derives them with a fixed seed from the model's
input signature (dtype and shape; unknown dimensions become small ones),
predicts, and writes the reference .npz every consumer compares against.
"""

import numpy as np

import _probe
import loading
import zoo

SEED = 4321
BATCH = 4
OTHER_DIM = 8
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "ran"]


def main(argv):
    events, tasks, context = _probe.start(argv, "reference.py", zoo)
    _probe.run_tasks(events, tasks, lambda task: make_reference(context, task))


def make_reference(context, task):
    try:
        loading.verify(task)
        loaded = loading.load(context, task)
    except Exception as exc:  # noqa: BLE001 - the next env may load it
        fields = _probe.error_fields(exc)
        fields["status"] = "load-error"
        return fields
    try:
        if task.get("inputs"):
            inputs = _probe.numbered(_probe.load_npz(task["inputs"]), "input")
        else:
            inputs = derive_inputs(context, task, loaded)
        outputs = _probe.to_numpy_list(loaded.predict(inputs))
    except Exception as exc:  # noqa: BLE001
        fields = _probe.error_fields(exc)
        fields["status"] = "predict-error"
        return fields
    arrays = _probe.number(inputs, "input")
    arrays.update(_probe.number(outputs, "output"))
    _probe.save_npz(task["write_reference"], arrays)
    return {
        "status": "predicted",
        "inputs": [{"shape": list(x.shape), "dtype": str(x.dtype)} for x in inputs],
        "description": loading.describe(loaded.model),
    }


def derive_inputs(context, task, loaded):
    """Seeded inputs from the input signature, one array per model input."""
    specs = _input_specs(context, task, loaded)
    if not specs:
        raise ValueError(
            "cannot derive inputs: the model has no input signature; "
            "pass inputs with --inputs"
        )
    rng = np.random.RandomState(SEED)
    return [_sample(rng, shape, dtype) for shape, dtype in specs]


def _input_specs(context, task, loaded):
    if loaded.model is not None:
        tensors = getattr(loaded.model, "inputs", None) or []
        return [(_dims(t.shape), _dtype(t.dtype)) for t in tensors]
    if loaded.inputs is not None:  # a TFLite file: its interpreter's input details
        if None in loaded.inputs:
            return []
        return [(_dims(shape), dtype) for shape, dtype in loaded.inputs]
    tf = context["tf"]
    signature = tf.saved_model.load(task["path"]).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    return [(_dims(specs[n].shape), specs[n].dtype.name) for n in sorted(specs)]


def _dims(shape):
    dims = [None if d is None or int(d) < 0 else int(d) for d in tuple(shape)]
    return [
        (BATCH if i == 0 else OTHER_DIM) if d is None else d for i, d in enumerate(dims)
    ]


def _dtype(dtype):
    return str(getattr(dtype, "name", dtype))


def _sample(rng, shape, dtype):
    try:
        np.dtype(dtype)
    except TypeError:
        dtype = "float32"  # bfloat16 and friends: numpy has no such type
    if dtype == "string":
        words = rng.choice(WORDS, size=shape + [3])
        return np.array([" ".join(w) for w in words.reshape(-1, 3)]).reshape(shape)
    if dtype == "bool":
        return rng.randint(0, 2, size=shape).astype(bool)
    if dtype.startswith(("int", "uint")):
        return rng.randint(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


if __name__ == "__main__":
    _probe.main_guard(main)
