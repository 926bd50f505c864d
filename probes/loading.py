"""The loaders a consumer can use, and how each one predicts.

A loader turns an artifact into a `Loaded`: a `predict(inputs) -> outputs`
callable plus every object that must stay alive while it runs. The table
`LOADERS` is the single description of what each loader does; the consume
and reference probes call it, and `python -m matrix repro` copies the same
functions into a standalone script.

- `keras`: the env's own `load_model` with its defaults (safe_mode where it
  exists); `compile=False` when the task asks for the inference-only load.
  For the `weights` format the architecture is rebuilt from the zoo.
- `saved-model`: the TF2 object API, `tf.saved_model.load` plus the
  `serving_default` signature.
- `serving`: what TensorFlow Serving and other C++ loaders run: graph mode,
  `tf.compat.v1.saved_model.loader.load(session, ["serve"], path)`, then
  `session.run` on the signature's tensor names; no Python object revived.
- `tfsm-layer`: Keras 3's `keras.layers.TFSMLayer`.
- `tflite`: a TFLite interpreter on a .tflite file: `tf.lite.Interpreter` in
  a TensorFlow env, the runtime's own `Interpreter` in a LiteRT or
  tflite-runtime env (no TensorFlow there).
- `onnxruntime`: an `onnxruntime.InferenceSession` on the CPU provider.
- `tfjs`: TensorFlow.js in Node (`tfjs_server.js`), `loadLayersModel` or
  `loadGraphModel` through a file handler, one Node process per probe.
"""

import importlib.util
import json
import os
import re
import subprocess

import numpy as np

import _probe

_OUTPUT_N = re.compile(r"^output_(\d+)$")


class Refused(Exception):
    """The artifact failed its integrity check or the host's safety gate."""


class Unsafe(Refused):
    """The load would run code the host's gate did not clear."""


class Loaded(object):
    """A loaded artifact: how to predict, the Keras model if there is one,
    and what must outlive every prediction (`keep`), closed by `release`."""

    def __init__(self, predict, model=None, keep=(), close=None, inputs=None):
        self.predict = predict
        self.model = model
        self.keep = keep
        self._close = close
        # [(shape, dtype name)] in the order `predict` takes them, where the
        # loader knows them without a Keras model (a TFLite interpreter);
        # -1 (or None) marks a dimension the file leaves open.
        self.inputs = inputs

    def release(self):
        if self._close is not None:
            self._close()
        self.keep = ()
        self.model = None


def load(context, task):
    """Load through the task's loader, once the host's gate has let it through."""
    if task.get("gate") != "open":
        raise Unsafe("the host's safety gate did not clear this load")
    return LOADERS[task["loader"]](context, task)


def load_keras(context, task):
    """`load_model` as a user calls it; the weights format rebuilds instead."""
    keras, flavour = context["keras"], context["flavour"]
    if task["format"] == "weights":
        model = rebuild_with_weights(context, task)
    else:
        load = (
            keras.saving.load_model if flavour == "keras3" else keras.models.load_model
        )
        kwargs = {}
        objects = custom_objects(context, task)
        check_resolved(keras, task.get("must_resolve") or [], objects, context["info"])
        if objects:
            kwargs["custom_objects"] = objects
        if _probe.supports_kwarg(load, "safe_mode"):
            kwargs["safe_mode"] = bool(task.get("safe_mode", True))
        if task.get("compile") is False:
            # The inference-only load: no optimizer, loss or metrics rebuilt.
            kwargs["compile"] = False
        model = load(task["path"], **kwargs)
    if not callable(model):
        raise TypeError(
            "load_model returned a %s, which cannot predict" % type(model).__name__
        )

    def predict(inputs):
        feed = [model_input(x) for x in inputs]
        return model(feed[0] if len(feed) == 1 else feed, training=False)

    return Loaded(predict, model)


def check_resolved(keras, pairs, objects, info):
    """The gate's condition on classes named with a foreign module: this Keras
    imports that module to find a class the custom objects do not name, so
    every such class must resolve without it (CVE-2025-1550)."""
    saving = getattr(keras, "saving", None)
    lookup = (
        getattr(saving, "get_registered_object", None)
        or keras.utils.get_registered_object
    )
    for name, module in pairs:
        if name in objects or lookup(name, custom_objects=objects) is not None:
            continue
        raise Unsafe(
            "refused without --unsafe: class %s is not among the custom objects, and "
            "%s %s would import module %r to find it (CVE-2025-1550)"
            % (name, info.get("keras_flavour"), info.get("keras"), module)
        )


def rebuild_with_weights(context, task):
    """The `weights` format: the architecture rebuilt from the zoo under the
    artifact's policy (uncompiled, as for serving), weights from the file."""
    keras, zoo = context["keras"], context["zoo"]
    # A fresh session, as in a new program: layer names restart at "dense",
    # which the name-keyed weights layouts (Keras >= 2.12) depend on.
    keras.backend.clear_session()
    _probe.set_global_policy(keras, task["policy"])
    try:
        spec = zoo.build(keras, task["model"], train=False)
    finally:
        _probe.set_global_policy(keras, "float32")
    model = spec.model
    model(spec.call_inputs(), training=False)  # build every variable first
    model.load_weights(task["path"])
    return model


def load_saved_model(context, task):
    """`tf.saved_model.load` and its `serving_default` signature."""
    tf = context["tf"]
    # The loaded object must outlive the signature: in TF <= 2.7 a signature's
    # variables die with it ("Could not find variable _AnonymousVar...",
    # tensorflow/tensorflow#34253, #46708, #37615).
    loaded = tf.saved_model.load(task["path"])
    signature = loaded.signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    names = input_order(sorted(specs), task.get("input_names"))

    def predict(inputs):
        feeds = {
            name: tf.constant(x, dtype=specs[name].dtype)
            for name, x in zip(names, inputs)
        }
        return order_outputs(signature(**feeds), task.get("output_names"))

    return Loaded(predict, keep=(loaded, signature))


def load_serving(context, task):
    """The model server's path: a v1 session loads the "serve" meta graph and
    runs the `serving_default` signature by tensor names."""
    tf = context["tf"]
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(
                session, ["serve"], task["path"]
            )
    except Exception:
        session.close()
        raise
    signature = meta.signature_def["serving_default"]
    names = input_order(sorted(signature.inputs), task.get("input_names"))
    fetches = {key: info.name for key, info in signature.outputs.items()}

    def predict(inputs):
        feeds = {}
        for name, x in zip(names, inputs):
            info = signature.inputs[name]
            feeds[info.name] = serving_feed(x, tf.dtypes.as_dtype(info.dtype))
        return order_outputs(
            session.run(fetches, feed_dict=feeds), task.get("output_names")
        )

    return Loaded(predict, keep=(graph, session), close=session.close)


def serving_feed(x, dtype):
    """A numpy input as a session feed of the signature's dtype."""
    if dtype.name == "string":
        return np.char.encode(x, "utf-8") if x.dtype.kind == "U" else x
    return np.asarray(x).astype(dtype.as_numpy_dtype)


def load_tfsm_layer(context, task):
    """Keras 3's TFSMLayer over the `serving_default` endpoint."""
    keras, tf = context["keras"], context["tf"]
    layer = keras.layers.TFSMLayer(task["path"], call_endpoint="serving_default")

    def predict(inputs):
        if len(inputs) == 1:
            outputs = layer(tf.constant(inputs[0]))
        else:
            # The layer keeps the signature it serves; its input names key a dict.
            signature = layer.call_endpoint_fn.structured_input_signature[1]
            names = input_order(sorted(signature), task.get("input_names"))
            outputs = layer({n: tf.constant(x) for n, x in zip(names, inputs)})
        return order_outputs(outputs, task.get("output_names"))

    return Loaded(predict, keep=(layer,))


def load_tflite(context, task):
    """A TFLite interpreter: through the model's signature where it has one
    (every TF 2 converter writes `serving_default`), else by tensor index."""
    interpreter = context["interpreter"](model_path=task["path"])
    signatures = (
        interpreter.get_signature_list()
        if hasattr(interpreter, "get_signature_list")
        else {}
    )
    if signatures:
        key = (
            "serving_default"
            if "serving_default" in signatures
            else sorted(signatures)[0]
        )
        runner = interpreter.get_signature_runner(key)
        names = input_order(sorted(signatures[key]["inputs"]), task.get("input_names"))
        # Older interpreters' runners do not list their inputs' dtypes.
        details = (
            runner.get_input_details() if hasattr(runner, "get_input_details") else {}
        )

        def predict(inputs):
            feeds = {
                name: np.asarray(x).astype(details[name]["dtype"])
                if name in details
                else x
                for name, x in zip(names, inputs)
            }
            return order_outputs(runner(**feeds), task.get("output_names"))

        return Loaded(
            in_declared_batches(predict, declared_batch(interpreter)),
            keep=(interpreter, runner),
            inputs=[_tflite_input(details[n]) if n in details else None for n in names]
            if details
            else _tflite_inputs(interpreter, names),
        )

    def predict_by_index(inputs):
        inputs_info = interpreter.get_input_details()
        for info, x in zip(inputs_info, inputs):
            if tuple(info["shape"]) != tuple(np.shape(x)):
                interpreter.resize_tensor_input(info["index"], list(np.shape(x)))
        interpreter.allocate_tensors()
        for info, x in zip(interpreter.get_input_details(), inputs):
            interpreter.set_tensor(info["index"], np.asarray(x).astype(info["dtype"]))
        interpreter.invoke()
        return [
            interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()
        ]

    return Loaded(
        in_declared_batches(predict_by_index, declared_batch(interpreter)),
        keep=(interpreter,),
        inputs=[_tflite_input(info) for info in interpreter.get_input_details()],
    )


def _tflite_input(info):
    """(shape with -1 where the file leaves a dimension open, dtype name)."""
    dims = info.get("shape_signature")
    if dims is None or len(dims) == 0:
        dims = info["shape"]
    return [int(d) for d in dims], np.dtype(info["dtype"]).name


def _tflite_inputs(interpreter, names):
    """A signature runner without input details (older interpreters): the
    interpreter's inputs by tensor name, in the signature's order."""
    by_name = {}
    for info in interpreter.get_input_details():
        name = str(info.get("name", ""))
        by_name[name] = info
        by_name[name.split(":")[0].rsplit("serving_default_", 1)[-1]] = info
    found = [by_name.get(n) for n in names]
    if None in found and len(names) == len(interpreter.get_input_details()):
        found = interpreter.get_input_details()
    return [_tflite_input(info) if info is not None else None for info in found]


def declared_batch(interpreter):
    """The batch size a .tflite file declares, or None when it is dynamic.

    TF 2.4 and older converters (and TF 1.15's) write a fixed batch of 1
    (`shape_signature` [1, ...]) and bake it into reshape and loop shapes:
    resized to another batch, such a file fails or answers for one example
    only. A device runs it one example at a time, and so does this loader;
    a file whose batch is dynamic (-1) takes the whole batch at once."""
    sizes = set()
    for info in interpreter.get_input_details():
        dims = info.get("shape_signature")
        if dims is None or len(dims) == 0:
            dims = info["shape"]
        if len(dims) == 0 or int(dims[0]) <= 0:
            return None
        sizes.add(int(dims[0]))
    return sizes.pop() if len(sizes) == 1 else None


def in_declared_batches(predict, batch):
    """`predict` over the inputs cut into the file's declared batch size,
    the outputs joined again; as it is when the batch is dynamic or fits."""
    if batch is None:
        return predict

    def predict_in_batches(inputs):
        total = len(inputs[0])
        if total == batch or total % batch:
            return predict(inputs)
        parts = [
            predict([np.asarray(x)[start : start + batch] for x in inputs])
            for start in range(0, total, batch)
        ]
        return [
            np.concatenate([np.asarray(part[k]) for part in parts])
            for k in range(len(parts[0]))
        ]

    return predict_in_batches


_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def onnx_model_file(path):
    """The .onnx file itself: the path, or in a folder (a model with its
    external data) the one file whose first byte is ModelProto's ir_version
    tag (the host's inspector found exactly one)."""
    if not os.path.isdir(path):
        return path
    for name in sorted(os.listdir(path)):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            with open(candidate, "rb") as handle:
                if handle.read(1) == b"\x08":
                    return candidate
    raise FileNotFoundError("no ONNX model file in %s" % path)


def load_onnxruntime(context, task):
    """`onnxruntime.InferenceSession` on the CPU provider, as a server runs it."""
    ort = context["runtime"]
    options = ort.SessionOptions()
    threads = int(os.environ.get("COMPAT_MATRIX_THREADS", "0") or 0)
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        onnx_model_file(task["path"]),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    declared = session.get_inputs()
    names = input_order([i.name for i in declared], task.get("input_names"))
    by_name = {i.name: i for i in declared}
    outputs = [o.name for o in session.get_outputs()]

    def predict(inputs):
        feeds = {}
        for name, x in zip(names, inputs):
            dtype = _ONNX_DTYPES.get(by_name[name].type, "float32")
            feeds[name] = np.asarray(x).astype(dtype)
        found = session.run(None, feeds)
        recorded = task.get("output_names")
        if recorded and sorted(recorded) == sorted(outputs):
            return order_outputs(dict(zip(outputs, found)), recorded)
        return found  # the graph's own output order

    return Loaded(
        predict,
        keep=(session,),
        inputs=[_onnx_input(by_name[n]) for n in names],
    )


def _onnx_input(info):
    """(shape with -1 for a named or unknown dimension, dtype name)."""
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in info.shape]
    return shape, _ONNX_DTYPES.get(info.type, "float32")


class NodeRuntime(object):
    """TensorFlow.js in one Node process (`tfjs_server.js`), started on the
    first load and kept for the probe's life: one request and one reply per
    line of JSON. Node inherits this process's sandbox."""

    def __init__(self):
        here = os.path.dirname(os.path.abspath(__file__))
        self.process = subprocess.Popen(
            [
                os.environ.get("COMPAT_MATRIX_NODE", "node"),
                os.path.join(here, "tfjs_server.js"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(os.environ),
        )

    def ask(self, request):
        self.process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                "TensorFlow.js in Node stopped (exit %s)" % self.process.poll()
            )
        answer = json.loads(line.decode("utf-8"))
        if not answer.get("ok"):
            raise TfjsError("%s: %s" % (answer.get("error_type"), answer.get("error")))
        return answer


class TfjsError(Exception):
    """What TensorFlow.js threw, with its own error type in the message."""


def _node(context):
    if context.get("node") is None:
        context["node"] = NodeRuntime()
    return context["node"]


def load_tfjs(context, task):
    """`tf.loadLayersModel` or `tf.loadGraphModel` on the folder's model.json."""
    node = _node(context)
    path = os.path.join(task["path"], "model.json")
    loaded = node.ask({"op": "load", "path": path, "format": task["format"]})
    handle = loaded["id"]

    def predict(inputs):
        request = []
        for x in inputs:
            x = np.asarray(x)
            dtype = "int32" if x.dtype.kind in "iub" else "float32"
            request.append(
                {
                    "shape": list(x.shape),
                    "dtype": dtype,
                    "data": x.astype(dtype).ravel().tolist(),
                }
            )
        answer = node.ask({"op": "predict", "id": handle, "inputs": request})
        return [
            np.asarray(
                o["data"], dtype=o["dtype"] if o["dtype"] != "bool" else "bool"
            ).reshape(o["shape"])
            for o in answer["outputs"]
        ]

    def close():
        try:
            node.ask({"op": "release", "id": handle})
        except Exception:  # noqa: BLE001 - a release is best effort
            pass

    declared = [
        ([d if isinstance(d, int) and d > 0 else -1 for d in (i.get("shape") or [])],
         i.get("dtype") or "float32")
        for i in loaded.get("inputs") or []
    ]  # fmt: skip
    return Loaded(predict, close=close, inputs=declared or None)


LOADERS = {
    "keras": load_keras,
    "saved-model": load_saved_model,
    "serving": load_serving,
    "tfsm-layer": load_tfsm_layer,
    "tflite": load_tflite,
    "onnxruntime": load_onnxruntime,
    "tfjs": load_tfjs,
}


def verify(task):
    """Refuse unless every file matches the manifest and nothing extra exists."""
    root = task["root"]
    listed = task["files"]
    present = _artifact_files(root, task["path"])
    unlisted = sorted(set(present) - set(listed))
    if unlisted:
        raise Refused("file not listed in the manifest: %s" % unlisted[0])
    for rel, expected in sorted(listed.items()):
        if rel not in present:
            raise Refused("manifest lists %s but it is missing" % rel)
        actual = _probe.sha256_file(os.path.join(root, rel))
        if actual != expected:
            raise Refused(
                "sha256 of %s does not match the manifest: expected %s, got %s"
                % (rel, expected, actual)
            )
    if task.get("reference"):
        actual = _probe.sha256_file(task["reference"])
        if actual != task["reference_sha256"]:
            raise Refused("sha256 of the reference file does not match the manifest")


def _artifact_files(root, path):
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


def custom_objects(context, task):
    """The zoo's custom objects for zoo models that need them, or the user's."""
    zoo, keras = context["zoo"], context["keras"]
    if task.get("custom_objects_module"):
        return user_custom_objects(task["custom_objects_module"], keras)
    if task["model"] in zoo.NEEDS_CUSTOM_OBJECTS:
        return zoo.custom_objects(keras)
    return {}


def user_custom_objects(path, keras):
    """Import a user's module by path: `get_custom_objects(keras)` or
    `CUSTOM_OBJECTS`."""
    name = "compat_matrix_user_" + re.sub(r"\W", "_", os.path.basename(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    getter = getattr(module, "get_custom_objects", None)
    if callable(getter):
        return dict(getter(keras))
    return dict(getattr(module, "CUSTOM_OBJECTS", {}))


def model_input(x):
    """numpy strings as TF wants them (Keras cannot take a '<U' array)."""
    if x.dtype.kind == "U":
        import tensorflow as tf

        return tf.constant(x)
    return x


def input_order(signature_names, recorded):
    """Signature input names in the model's input order when we know it."""
    if recorded and sorted(recorded) == sorted(signature_names):
        return list(recorded)
    return list(signature_names)


def order_outputs(outputs, recorded):
    """A signature's dict of outputs as a list in the model's output order."""
    if not isinstance(outputs, dict):
        return outputs
    keys = list(outputs)
    if recorded and sorted(recorded) == sorted(keys):
        return [outputs[k] for k in recorded]
    numbered = [_OUTPUT_N.match(k) for k in keys]
    if all(numbered):
        return [outputs[k] for k in sorted(keys, key=lambda k: int(k[7:]))]
    return [outputs[k] for k in sorted(keys)]


def describe(model):
    """What must survive a save/load: layer classes, key settings, dtype
    policies, input shapes and weight dtypes. Names are left out on purpose:
    Keras renames layers freely between versions."""
    if model is None:
        return None
    layers = []
    for layer in _walk(model):
        entry = {"class": type(layer).__name__}
        if entry["class"] != "InputLayer":  # it computes nothing: no policy
            entry["policy"] = _policy_name(layer)
        try:
            config = layer.get_config()
        except Exception:  # noqa: BLE001 - a layer without a config
            config = {}
        for key in _CONFIG_KEYS:
            if key in config:
                entry[key] = _plain(config[key])
        layers.append(entry)
    return {
        "layers": layers,
        "inputs": [_shape(t) for t in (getattr(model, "inputs", None) or [])],
        # Old Keras lists lookup tables among weights, without a dtype.
        "weights": [_dtype_name(getattr(w, "dtype", "?")) for w in model.weights],
    }


_CONFIG_KEYS = (
    "activation",
    "units",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "depth_multiplier",
    "return_sequences",
    "epsilon",
    "input_dim",
    "output_dim",
    "output_sequence_length",
    "init_scale",
)


def _walk(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None) and layer is not model:
            yield from _walk(layer)


def _policy_name(layer):
    for attribute in ("dtype_policy", "_dtype_policy"):
        policy = getattr(layer, attribute, None)
        name = getattr(policy, "name", None)
        if name:
            return str(name)
    return None


def _dtype_name(dtype):
    return str(getattr(dtype, "name", dtype))


def _shape(tensor):
    shape = getattr(tensor, "shape", None)
    if shape is None:
        return None
    try:
        return [None if d is None else int(d) for d in tuple(shape)]
    except (TypeError, ValueError):
        return None


def _plain(value):
    """A config value as plain JSON (tuples as lists, objects by name)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return getattr(value, "__name__", type(value).__name__)
