"""Consume probe: load artifacts through one loader each and predict.

Usage: consume.py --tasks TASKS.json --events-fd N

A task names one artifact (files + sha256 from its producer's manifest), one
loader, the reference file and where to write the outputs. The host compares
outputs with the reference later; this probe only measures. Files whose bytes
do not match the manifest are refused before any loader sees them, and so is
any task the host's safety gate did not clear.

Each artifact is loaded under the default global policy (float32) and, when
the artifact was built under another policy, again under that policy: what
a user gets who sets the policy before loading. A `keras` load that fails
with its defaults is tried again with `compile=False`, after a clean
session: many failures sit only in the optimizer, loss or metrics, and a
user who serves predictions must see whether the model itself loads. Every
prediction runs twice in the same process, so nondeterminism shows.
"""

import json
import time

import numpy as np

import _probe
import loading
import zoo

# Work the same for every loader of one artifact, done once per process: the
# sha256 check of its files (a SavedModel is read by four loaders) and the
# reference inputs. Keyed by everything the work depends on.
_VERIFIED = {}
_INPUTS = {}


def main(argv):
    events, tasks, context = _probe.start(argv, "consume.py", zoo)
    _probe.run_tasks(events, tasks, lambda task: consume_one(context, task))


def consume_one(context, task):
    started = time.time()
    refused = _verify_once(task)
    if refused is not None:
        fields = dict(refused)
        fields["status"] = "load-error"
        fields["error_type"] = "IntegrityError"
        return fields
    inputs = _inputs_once(task)
    prepare_seconds = time.time() - started
    result = measure(context, task, inputs, "float32", task["output"], batch=True)
    result["prepare_seconds"] = round(prepare_seconds, 4)
    keras_load = task["loader"] == "keras" and task["format"] != "weights"
    if keras_load and result["status"] == "load-error":
        inference = dict(task, compile=False)
        result["inference"] = measure(
            context, inference, inputs, "float32", task["output_inference"]
        )
    own = task.get("policy")
    # A weights rebuild already happens under the artifact's own policy.
    if keras_load and own not in (None, "float32"):
        result["own_policy"] = measure(context, task, inputs, own, task["output_own"])
    return result


def _verify_once(task):
    """None when the artifact's files match its manifest, else the refusal."""
    key = json.dumps(
        [
            task["root"],
            task["path"],
            task["files"],
            task.get("reference"),
            task.get("reference_sha256"),
        ],
        sort_keys=True,
    )
    if key not in _VERIFIED:
        try:
            loading.verify(task)
            _VERIFIED[key] = None
        except loading.Refused as exc:
            _VERIFIED[key] = _probe.error_fields(exc)
    return _VERIFIED[key]


def _inputs_once(task):
    if not task.get("reference"):
        return None
    key = (task["reference"], task.get("reference_sha256"))
    if key not in _INPUTS:
        _INPUTS[key] = _probe.numbered(_probe.load_npz(task["reference"]), "input")
    return _INPUTS[key]


def measure(context, task, inputs, global_policy, output, batch=False):
    """Load under `global_policy`, predict twice, save the first outputs;
    with `batch`, also predict as a server batches (`batch_check`)."""
    keras = context["keras"]
    # Reset the global policy before every load, so one artifact (or one
    # that sets the policy while loading) cannot change how the next is judged.
    _probe.set_global_policy(keras, global_policy)
    try:
        return _measure(context, task, inputs, output, batch)
    finally:
        _probe.set_global_policy(keras, "float32")
        _release(keras)


def _measure(context, task, inputs, output, batch):
    started = time.time()
    try:
        loaded = loading.load(context, task)
    except loading.Unsafe as exc:
        fields = _probe.error_fields(exc)
        fields["status"] = "refused"
        return fields
    except Exception as exc:  # noqa: BLE001 - the refusal is the finding
        fields = _probe.error_fields(exc)
        fields["status"] = "load-error"
        fields["load_seconds"] = round(time.time() - started, 4)
        return fields
    try:
        found = _predict(loaded, inputs, output, time.time() - started)
        if batch and task.get("output_batch") and found["status"] == "predicted":
            found["batch"] = batch_check(loaded.predict, inputs, task)
        return found
    finally:
        loaded.release()


def _predict(loaded, inputs, output, load_seconds):
    description = _describe(loaded)
    if inputs is None:
        return {
            "status": "predict-error",
            "error_type": "NoInputs",
            "error": "no reference inputs: no env could load this model to derive them",
            "load_seconds": round(load_seconds, 4),
            "description": description,
        }
    started = time.time()
    try:
        first = _probe.to_numpy_list(loaded.predict(inputs))
        second = _probe.to_numpy_list(loaded.predict(inputs))
    except Exception as exc:  # noqa: BLE001
        fields = _probe.error_fields(exc)
        fields["status"] = "predict-error"
        fields["load_seconds"] = round(load_seconds, 4)
        fields["description"] = description
        return fields
    predict_seconds = (time.time() - started) / 2

    _probe.save_npz(output, _probe.number(first, "output"))
    return {
        "status": "predicted",
        "load_seconds": round(load_seconds, 4),
        "predict_seconds": round(predict_seconds, 4),
        "nondeterministic": not _same(first, second),
        "output_sha256": _probe.sha256_file(output),
        "description": description,
    }


def batch_check(predict, inputs, task):
    """Predict the same inputs as a server batches them: one example at a
    time, and padded with zeros to the next power of two above the batch
    (the padding's rows dropped again). Each way's outputs are saved beside
    the whole batch's for the host to compare under its tolerance; a way
    that does not run at all says why (a file that takes one batch size)."""
    count = len(inputs[0])
    padded_to = 1 << count.bit_length()  # 8 -> 16, 3 -> 4
    ways = {
        "one_at_a_time": lambda: _joined(
            [
                _probe.to_numpy_list(predict([x[i : i + 1] for x in inputs]))
                for i in range(count)
            ]
        ),
        "padded": lambda: [
            np.asarray(o)[:count]
            for o in _probe.to_numpy_list(
                predict([_padded(x, padded_to) for x in inputs])
            )
        ],
    }
    found = {"examples": count, "padded_to": padded_to}
    for name, run in ways.items():
        started = time.time()
        output = task["output_batch"] % name
        try:
            _probe.save_npz(output, _probe.number(run(), "output"))
            found[name] = {"output": output.rsplit("/", 1)[-1],
                           "output_sha256": _probe.sha256_file(output)}  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a batch the model refuses is the finding
            text = str(exc).splitlines()[0][:300] if str(exc) else ""
            found[name] = {"error": "%s: %s" % (type(exc).__name__, text)}
        found[name]["seconds"] = round(time.time() - started, 4)
    return found


def _joined(parts):
    return [
        np.concatenate([np.asarray(part[k]) for part in parts])
        for k in range(len(parts[0]))
    ]


def _padded(x, size):
    x = np.asarray(x)
    pad = np.zeros((size - len(x),) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad])


def _describe(loaded):
    try:
        return loading.describe(loaded.model)
    except Exception:  # noqa: BLE001 - a description is a bonus, never a failure
        return None


def _same(first, second):
    if len(first) != len(second):
        return False
    return all(
        a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
        for a, b in zip(first, second)
    )


def _release(keras):
    """Drop the previous model's global Keras state before the next load.

    No explicit gc.collect(): with hundreds of loaded graphs a full collection
    costs ~0.3 s per cell, more than most loads; Python's own collector runs
    anyway as memory is allocated.
    """
    if keras is None:
        return  # a TFLite interpreter keeps no global state between models
    clear = keras.backend.clear_session
    try:
        if _probe.supports_kwarg(clear, "free_memory"):
            clear(free_memory=False)
        else:
            clear()
    except Exception:  # noqa: BLE001 - best effort between tasks
        pass


if __name__ == "__main__":
    _probe.main_guard(main)
