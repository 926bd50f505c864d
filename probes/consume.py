"""Consume probe: load artifacts through one loader each and predict.

Usage: consume.py --tasks TASKS.json --events-fd N

A task names one artifact (files + sha256 from its producer's manifest), one
loader, the reference file and where to write the outputs. The host compares
outputs with the reference later; this probe only measures. Files whose bytes
do not match the manifest are refused before any loader sees them.
"""

import argparse
import os
import time

import _probe


class Refused(Exception):
    """The artifact failed its integrity check and was not loaded."""


def main(argv):
    parser = argparse.ArgumentParser(prog="consume.py")
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args(argv)
    events = _probe.Events(args.events_fd)
    tasks = _probe.read_json(args.tasks)["tasks"]

    import tensorflow as tf

    _probe.configure_tensorflow(tf)
    keras, flavour = _probe.load_keras()
    import zoo

    events.emit(
        "hello",
        schema_version=_probe.SCHEMA_VERSION,
        probe_version=_probe.PROBE_VERSION,
        env=_probe.env_info(tf, flavour),
    )
    context = {"tf": tf, "keras": keras, "flavour": flavour, "zoo": zoo}
    for task in tasks:
        events.emit("start", task=task["id"])
        # A model may set the global policy while loading; reset it so one
        # artifact cannot change how the next one is judged.
        _probe.set_global_policy(keras, "float32")
        result = consume_one(context, task)
        events.emit("done", task=task["id"], **result)
        _release(keras)
    events.emit("bye")


def consume_one(context, task):
    try:
        verify(task)
        reference = _probe.load_npz(task["reference"])
    except Refused as exc:
        fields = _probe.error_fields(exc)
        fields["status"] = "load-error"
        return fields
    inputs = _probe.numbered(reference, "input")

    started = time.time()
    try:
        loaded = LOADERS[task["loader"]](context, task)
    except Exception as exc:  # noqa: BLE001 - the refusal is the finding
        fields = _probe.error_fields(exc)
        fields["status"] = "load-error"
        fields["load_seconds"] = round(time.time() - started, 4)
        return fields
    load_seconds = time.time() - started

    started = time.time()
    try:
        first = _probe.to_numpy_list(loaded(inputs))
        second = _probe.to_numpy_list(loaded(inputs))
    except Exception as exc:  # noqa: BLE001
        fields = _probe.error_fields(exc)
        fields["status"] = "predict-error"
        fields["load_seconds"] = round(load_seconds, 4)
        return fields
    predict_seconds = (time.time() - started) / 2

    _probe.save_npz(task["output"], _probe.number(first, "output"))
    return {
        "status": "predicted",
        "load_seconds": round(load_seconds, 4),
        "predict_seconds": round(predict_seconds, 4),
        "nondeterministic": not _same(first, second),
        "output_sha256": _probe.sha256_file(task["output"]),
    }


def verify(task):
    """Refuse unless every file matches the manifest and nothing extra exists."""
    root = task["root"]
    listed = task["files"]
    present = _walk(root, task["path"])
    unlisted = sorted(set(present) - set(listed))
    if unlisted:
        raise Refused("file not listed in the manifest: %s" % unlisted[0])
    for rel, expected in sorted(listed.items()):
        full = os.path.join(root, rel)
        if rel not in present:
            raise Refused("manifest lists %s but it is missing" % rel)
        actual = _probe.sha256_file(full)
        if actual != expected:
            raise Refused(
                "sha256 of %s does not match the manifest: expected %s, got %s"
                % (rel, expected, actual)
            )
    actual = _probe.sha256_file(task["reference"])
    if actual != task["reference_sha256"]:
        raise Refused("sha256 of the reference file does not match the manifest")


def _walk(root, path):
    """Relative paths of the regular files of an artifact; links refused."""
    if os.path.islink(path):
        raise Refused("artifact is a symbolic link: %s" % os.path.relpath(path, root))
    if not os.path.isdir(path):
        return [os.path.relpath(path, root)] if os.path.exists(path) else []
    found = []
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(base, name)
            if os.path.islink(full):
                raise Refused(
                    "artifact contains a symbolic link: %s"
                    % os.path.relpath(full, root)
                )
        found.extend(os.path.relpath(os.path.join(base, f), root) for f in files)
    return found


def _load_keras(context, task):
    keras, flavour = context["keras"], context["flavour"]
    load = keras.saving.load_model if flavour == "keras3" else keras.models.load_model
    kwargs = {}
    if task["model"] in context["zoo"].NEEDS_CUSTOM_OBJECTS:
        kwargs["custom_objects"] = context["zoo"].custom_objects(keras)
    if _probe.supports_kwarg(load, "safe_mode"):
        kwargs["safe_mode"] = True
    model = load(task["path"], **kwargs)

    def predict(inputs):
        return model(inputs[0] if len(inputs) == 1 else inputs, training=False)

    return predict


def _load_saved_model(context, task):
    tf = context["tf"]
    loaded = tf.saved_model.load(task["path"])
    return _signature_caller(tf, loaded.signatures["serving_default"])


def _load_tfsm_layer(context, task):
    if context["flavour"] != "keras3":
        raise RuntimeError("TFSMLayer exists only in Keras 3")
    keras, tf = context["keras"], context["tf"]
    layer = keras.layers.TFSMLayer(task["path"], call_endpoint="serving_default")

    def predict(inputs):
        if len(inputs) == 1:
            return layer(tf.constant(inputs[0]))
        # The layer keeps the signature it serves; its input names key a dict.
        names = sorted(layer.call_endpoint_fn.structured_input_signature[1])
        return layer({name: tf.constant(x) for name, x in zip(names, inputs)})

    return predict


def _signature_caller(tf, signature):
    specs = signature.structured_input_signature[1]
    names = sorted(specs)

    def predict(inputs):
        feeds = {
            name: tf.constant(x, dtype=specs[name].dtype)
            for name, x in zip(names, inputs)
        }
        return signature(**feeds)

    return predict


LOADERS = {
    "keras": _load_keras,
    "saved-model": _load_saved_model,
    "tfsm-layer": _load_tfsm_layer,
}


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
