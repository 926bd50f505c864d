"""Produce probe: build, train and save zoo models in every requested format.

Usage: produce.py --tasks TASKS.json --events-fd N

Each task is one (model, policy) with a target path per format, chosen by the
host, the formats this env cannot write with the reason (`cannot_write`), and
how its TFLite converter takes a Keras model (`tflite_converter`): both from
the host's release table, so probes do not test versions themselves.
Events: hello, then per task start, one `artifact` per format, done.
"""

import os
import shutil
import time
import zipfile

import _probe
import loading
import zoo


def main(argv):
    events, tasks, context = _probe.start(argv, "produce.py", zoo)
    _probe.run_tasks(events, tasks, lambda task: produce_one(context, task, events))


def produce_one(context, task, events):
    keras = context["keras"]

    def report(fmt, status, **fields):
        events.emit("artifact", task=task["id"], format=fmt, status=status, **fields)

    # Each model is built as in a new program: layer names restart at "dense"
    # (a long-lived process would number them on, and the name-keyed weights
    # layouts of Keras >= 2.12 would then read as another model's).
    keras.backend.clear_session()
    _probe.set_global_policy(keras, task["policy"])
    try:
        started = time.time()
        spec = context["zoo"].build(keras, task["model"])
        context["built_inputs"] = spec.inputs
        outputs = _probe.to_numpy_list(_reference_outputs(context, spec))
        arrays = _probe.number(spec.inputs, "input")
        arrays.update(_probe.number(outputs, "output"))
        _probe.save_npz(task["reference"], arrays)
        build_seconds = time.time() - started
        events.emit(
            "model",
            task=task["id"],
            input_names=_names(spec.model, "input"),
            output_names=_names(spec.model, "output"),
            description=_describe(spec.model),
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes a record
        fields = _probe.error_fields(exc)
        fields["reason"] = "building or training the model failed"
        for fmt in task["formats"]:
            report(fmt, "no-artifact", **fields)
        return
    finally:
        _probe.set_global_policy(keras, "float32")

    for fmt, path in _in_saving_order(task["formats"]):
        reason = task.get("cannot_write", {}).get(fmt)
        if reason:
            report(fmt, "not-applicable", reason=reason)
            continue
        _remove(path)
        started = time.time()
        try:
            note = SAVERS[fmt](context, task, spec.model, path)
        except Exception as exc:  # noqa: BLE001
            _remove(path)
            report(fmt, "no-artifact", **_probe.error_fields(exc))
            continue
        extra = {"note": note} if note else {}
        report(
            fmt,
            "saved",
            seconds=round(time.time() - started, 4),
            build_seconds=round(build_seconds, 4),
            **extra,
        )
    _remove(_tflite_source(task))


def _tflite_source(task):
    return task["reference"] + ".tflite-source.h5"


def _describe(model):
    try:
        return loading.describe(model)
    except Exception:  # noqa: BLE001 - a description is a bonus, never a failure
        return None


def _names(model, kind):
    """The model's input or output names, in order, when it has them."""
    names = getattr(model, kind + "_names", None)
    if not names:
        tensors = getattr(model, kind + "s", None) or []
        names = [getattr(t, "name", None) for t in tensors]
    names = [str(n).split(":")[0] for n in names or [] if n]
    return names or None


def _reference_outputs(context, spec):
    """The model's outputs on its reference inputs: a call where TF runs
    eagerly, predict() in a TF 1.x graph (a call there builds a graph)."""
    tf = context["tf"]  # None: Keras 3 on JAX or PyTorch, always eager
    if tf is None or getattr(tf, "executing_eagerly", lambda: False)():
        return spec.model(spec.call_inputs(), training=False)
    return spec.model.predict(spec.call_inputs())


def _in_saving_order(formats):
    """Every format, the TFLite ones last: converting from an h5 file (TF
    1.15, standalone Keras) clears the Keras session, and the model with it."""
    return sorted(
        formats.items(), key=lambda item: (item[0].startswith("tflite"), item[0])
    )


def _save_h5(context, task, model, path):
    if context["flavour"] == "keras3" or not _probe.supports_kwarg(
        model.save, "save_format"
    ):
        model.save(path)  # Keras 3 and standalone Keras 2.3 take the name's word
    else:
        model.save(path, save_format="h5")


def _save_keras(context, task, model, path):
    """Save as a Keras v3 zip; say so when plain model.save() does not."""
    model.save(path)
    if zipfile.is_zipfile(path):
        return None
    # Keras 2.12 writes HDF5 under a .keras name unless asked for "keras_v3".
    model.save(path, save_format="keras_v3")
    if not zipfile.is_zipfile(path):
        raise ValueError("model.save() wrote %s, but not as a .keras zip" % path)
    return (
        "model.save('*.keras') writes HDF5 under the .keras name in this "
        "Keras; the artifact was saved with save_format='keras_v3'"
    )


def _save_savedmodel(context, task, model, path):
    if context["flavour"] == "keras3":
        model.export(path)
    else:
        model.save(path, save_format="tf")


def _save_weights(context, task, model, path):
    model.save_weights(path)


def _tflite_saver(quantisation):
    """A saver for one TFLite format: the converter as this era has it
    (the host says which), float32 or one of the two common quantisations."""

    def save(context, task, model, path):
        tf = context["tf"]
        if task.get("tflite_converter") == "from_keras_model_file":
            # TF 1.15 and standalone Keras convert from a saved h5 file, read
            # back by tf.keras with every zoo class passed by name. Reading it
            # resets the Keras session, so the model in memory is gone after
            # the first conversion: one h5 serves every TFLite format.
            scratch = _tflite_source(task)
            if not os.path.exists(scratch):
                model.save(scratch)
            converter = tf.compat.v1.lite.TFLiteConverter.from_keras_model_file(
                scratch, custom_objects=context["zoo"].every_class(tf.keras)
            )
        else:
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if quantisation is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantisation == "float16":
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
        with open(path, "wb") as handle:
            handle.write(flatbuffer)

    return save


# The ONNX opset every converter is asked for: what each tabled onnxruntime
# runs (the host's release table says which converters write it).
ONNX_OPSET = 17


def _save_onnx(context, task, model, path):
    """ONNX as this env's Keras offers it: Keras 3's own `export(format="onnx")`,
    or tf2onnx's `from_keras` (Keras 2); the opset asked for is ONNX_OPSET."""
    how = task.get("conversion")
    if how == "keras-export":
        model.export(path, format="onnx", verbose=False, opset_version=ONNX_OPSET)
    elif how == "tf2onnx":
        import tf2onnx

        tf = context["tf"]
        # A subclassed model has no symbolic inputs: its signature comes from
        # the inputs it was built and trained on, as a user would write it.
        tensors = getattr(model, "inputs", None) or context.get("built_inputs") or []
        signature = [
            tf.TensorSpec(
                (None,) + tuple(x.shape[1:]),
                tf.as_dtype(x.dtype),
                name=_input_name(x, i),
            )
            for i, x in enumerate(tensors)
        ]
        tf2onnx.convert.from_keras(
            model, input_signature=signature, opset=ONNX_OPSET, output_path=path
        )
    else:
        raise ValueError("this env has no ONNX converter (%r)" % how)
    return "opset %d by %s" % (ONNX_OPSET, how)


def _input_name(tensor, index):
    name = getattr(tensor, "name", None)
    if not isinstance(name, str) or not name:
        name = "input_%d" % index
    return name.split(":")[0]


def _save_tfjs_layers(context, task, model, path):
    """A TF.js layers model, `tensorflowjs.converters.save_keras_model`."""
    import tensorflowjs

    tensorflowjs.converters.save_keras_model(model, path)


def _save_tfjs_graph(context, task, model, path):
    """A TF.js graph model from the model's SavedModel (control flow v2, so
    recurrent layers' while loops convert)."""
    import shutil

    import tensorflowjs

    scratch = task["reference"] + ".tfjs-source"
    shutil.rmtree(scratch, ignore_errors=True)
    context["tf"].saved_model.save(model, scratch)
    try:
        tensorflowjs.converters.convert_tf_saved_model(
            scratch, path, control_flow_v2=True
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


SAVERS = {
    "h5": _save_h5,
    "keras": _save_keras,
    "savedmodel": _save_savedmodel,
    "weights": _save_weights,
    "tflite": _tflite_saver(None),
    "tflite-fp16": _tflite_saver("float16"),
    "tflite-int8": _tflite_saver("int8 dynamic range"),
    "onnx": _save_onnx,
    "tfjs-layers": _save_tfjs_layers,
    "tfjs-graph": _save_tfjs_graph,
}


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


if __name__ == "__main__":
    _probe.main_guard(main)
