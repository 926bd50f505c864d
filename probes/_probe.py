"""Shared helpers for the probes that run inside each env.

Runs on Python 3.7+ and TensorFlow 1.15+ (or a TFLite interpreter alone):
stdlib, numpy and TensorFlow (or the interpreter) only, imported late so a
broken env fails inside a probe, where the host sees it.
The host talks to a probe through files and one JSON line per event written
to a dedicated file descriptor (never stdout: TensorFlow and user code print).
"""

import hashlib
import json
import os
import sys
import traceback

import _sandbox

SCHEMA_VERSION = 2

_TRACEBACK_LIMIT = 20000
_MESSAGE_LIMIT = 4000
# One event line at most; the host drops longer lines unread. Long texts are
# cut here first, so a hostile message costs a shorter message, not the cell.
EVENT_LIMIT = 256 * 1024
# What the sandbox enforced, measured before TensorFlow was imported.
SANDBOX = {}


class Events(object):
    """Writes one JSON object per line to the host's event pipe."""

    def __init__(self, fd):
        self._stream = os.fdopen(fd, "w", encoding="utf-8")

    def emit(self, event, **fields):
        fields["event"] = event
        line = json.dumps(fields, sort_keys=True)
        if len(line) > EVENT_LIMIT:
            line = json.dumps(_cut(fields), sort_keys=True)
        if len(line) > EVENT_LIMIT:
            minimal = {
                "event": event,
                "task": fields.get("task"),
                "status": fields.get("status"),
                "error_type": "EventTooLarge",
                "error": "the probe's report of this cell was too large to send",
            }
            line = json.dumps(minimal, sort_keys=True)
        # One write per line: a crash can cut a line, never merge two.
        self._stream.write(line + "\n")
        self._stream.flush()


def _cut(fields):
    """The same event with its long texts shortened and its bulky parts dropped."""
    cut = {}
    for key, value in fields.items():
        if key == "description":
            value = None
        elif isinstance(value, dict):
            value = _cut(value)
        elif key == "traceback" and isinstance(value, str):
            value = value[-_TRACEBACK_LIMIT // 4 :]
        elif isinstance(value, str) and len(value) > _MESSAGE_LIMIT:
            value = value[:_MESSAGE_LIMIT] + "..."
        cut[key] = value
    return cut


def start(argv, prog, zoo):
    """What every probe starts with: its tasks, its event pipe, and
    TensorFlow and Keras loaded, announced with a hello event; `zoo` is the
    zoo module, passed in by the probe so this module imports no sibling.

    Returns (events, tasks, context); context holds tf, keras, flavour, zoo
    and the env info.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args(argv)
    events = Events(args.events_fd)
    tasks = read_json(args.tasks)["tasks"]
    if os.environ.get("COMPAT_MATRIX_FLAVOUR") == "interpreter":
        return _start_interpreter(events, tasks, zoo)
    if os.environ.get("COMPAT_MATRIX_BACKEND", "tensorflow") != "tensorflow":
        return _start_keras_backend(events, tasks, zoo)

    import tensorflow as tf

    configure_tensorflow(tf)
    # Keras is imported in every probe, as in a Keras program: it registers
    # the types tf.saved_model.load revives (a program importing TensorFlow
    # alone cannot restore a Keras 2 optimizer's slots in TF 2.6, tensorflow/
    # tensorflow#52091). The serving loader revives no Python object at all.
    keras, flavour = load_keras()
    info = env_info(tf, flavour)
    events.emit("hello", schema_version=SCHEMA_VERSION, env=info)
    context = {
        "tf": tf,
        "keras": keras,
        "flavour": flavour,
        "zoo": zoo,
        "info": info,
        "interpreter": lambda **kwargs: tf.lite.Interpreter(**kwargs),
    }
    return events, tasks, context


def _start_interpreter(events, tasks, zoo):
    """A runtime without TensorFlow or Keras: a TFLite interpreter, an ONNX
    runtime (the module the host names, COMPAT_MATRIX_INTERPRETER), or
    TensorFlow.js in Node (COMPAT_MATRIX_NODE_MODULES: the env's own npm
    folder; the Node process starts on the first load)."""
    import importlib
    import platform

    import numpy

    name = os.environ.get("COMPAT_MATRIX_INTERPRETER", "")
    node_modules = os.environ.get("COMPAT_MATRIX_NODE_MODULES", "")
    if name:
        module = importlib.import_module(name)
        package = name.split(".")[0]
        runtime = "%s %s" % (
            package.replace("_", "-"),
            package_version(package.replace("_", "-"))
            or getattr(importlib.import_module(package), "__version__", "?"),
        )
    else:
        module = None
        runtime = "@tensorflow/tfjs %s (Node %s)" % (
            _npm_version(node_modules),
            _node_version(),
        )
    info = {
        "python": platform.python_version(),
        "tensorflow": None,
        "keras": None,
        "keras_flavour": "interpreter",
        "runtime": runtime,
        "sandbox": SANDBOX,
        "numpy": numpy.__version__,
        "gpus": [],
        "onednn": "default",
    }
    events.emit("hello", schema_version=SCHEMA_VERSION, env=info)
    context = {
        "tf": None,
        "keras": None,
        "flavour": "interpreter",
        "zoo": zoo,
        "info": info,
        "runtime": module,
        "interpreter": getattr(module, "Interpreter", None),
    }
    return events, tasks, context


def _npm_version(node_modules):
    """The installed @tensorflow/tfjs version, from its package.json."""
    path = os.path.join(node_modules, "@tensorflow", "tfjs", "package.json")
    try:
        with open(path) as handle:
            return json.load(handle).get("version", "?")
    except (OSError, ValueError):
        return "?"


def _node_version():
    import subprocess

    node = os.environ.get("COMPAT_MATRIX_NODE", "node")
    try:
        found = subprocess.run(
            [node, "--version"], stdout=subprocess.PIPE, timeout=30, check=False
        )
        return found.stdout.decode("utf-8", "replace").strip().lstrip("v") or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def _start_keras_backend(events, tasks, zoo):
    """Keras 3 on JAX or PyTorch (KERAS_BACKEND, the host's word): no
    TensorFlow in the env; Keras and its backend are the runtime under test."""
    import importlib
    import platform

    import numpy

    backend = os.environ["COMPAT_MATRIX_BACKEND"]
    threads = int(os.environ.get("COMPAT_MATRIX_THREADS", "0") or 0)
    module = importlib.import_module(backend)
    if backend == "torch" and threads > 0:
        module.set_num_threads(threads)
    keras, flavour = load_keras()
    limit_memory(int(os.environ.get("COMPAT_MATRIX_MEMORY_MB", "0") or 0))
    info = {
        "python": platform.python_version(),
        "tensorflow": None,
        "keras": keras_version(None, flavour),
        "keras_flavour": flavour,
        "backend": "%s %s" % (backend, getattr(module, "__version__", "?")),
        "sandbox": SANDBOX,
        "numpy": numpy.__version__,
        "gpus": [],
        "onednn": "default",
    }
    events.emit("hello", schema_version=SCHEMA_VERSION, env=info)
    context = {
        "tf": None,
        "keras": keras,
        "flavour": flavour,
        "zoo": zoo,
        "info": info,
        "interpreter": None,
    }
    return events, tasks, context


def run_tasks(events, tasks, handle):
    """start, handle(task), done (with what handle returned and the process's
    resident memory after it), for each task."""
    for task in tasks:
        events.emit("start", task=task["id"])
        fields = handle(task) or {}
        fields["rss_mb"] = resident_mb()
        events.emit("done", task=task["id"], **fields)
    events.emit("bye")


def resident_mb():
    """This process's resident set size in MiB (Linux), or None."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def error_fields(exc):
    """Describe an exception as text only: class, first line, full trace."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0][:_MESSAGE_LIMIT] if lines else ""
    if first.startswith("Exception encountered when calling") and len(lines) > 1:
        # Keras 3 wraps errors raised in call(); the cause is the next line.
        first = "%s: %s" % (first.rstrip("."), lines[1])
    return {
        "error_type": type(exc).__module__ + "." + type(exc).__name__,
        "error": first,
        "traceback": text[-_TRACEBACK_LIMIT:],
    }


def configure_tensorflow(tf):
    """Apply the host's thread and memory budgets before any op runs."""
    threads = int(os.environ.get("COMPAT_MATRIX_THREADS", "0") or 0)
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.get_logger().setLevel("ERROR")
    limit_memory(int(os.environ.get("COMPAT_MATRIX_MEMORY_MB", "0") or 0))


def limit_memory(megabytes):
    """Cap further address space at `megabytes` beyond what is mapped now.

    Applied after TensorFlow's import (which maps gigabytes it never
    touches), so a model that allocates without bound fails alone instead
    of taking the machine down.
    """
    if megabytes <= 0:
        return
    import resource

    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    mapped = int(fields["VmSize"].split()[0]) * 1024
    limit = mapped + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def load_keras():
    """Return (keras module, flavour) for this env.

    The flavour is the host's word (COMPAT_MATRIX_FLAVOUR, from its release
    table), never guessed from version strings here: `keras2` is tf.keras
    (TF <= 2.15), `keras3` the `keras` package, `tf-keras` the legacy
    package that TF_USE_LEGACY_KERAS=1 selects.
    """
    flavour = os.environ.get("COMPAT_MATRIX_FLAVOUR")
    if flavour == "tf-keras":
        import tf_keras

        return tf_keras, flavour
    if flavour == "keras3":
        import keras

        return keras, flavour
    if flavour == "keras2":
        import tensorflow as tf

        return tf.keras, flavour
    if flavour == "standalone-keras":
        import keras

        return keras, flavour
    raise RuntimeError(
        "COMPAT_MATRIX_FLAVOUR must name the env's Keras flavour "
        "(keras2, keras3, tf-keras or standalone-keras); got %r" % flavour
    )


def package_version(*names):
    """The installed version of the first of these distributions found."""
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7 (the TF 1.15-2.1 envs): read dist-info
        return _dist_info_version(names)
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _dist_info_version(names):
    """A distribution's version from its *.dist-info/METADATA, stdlib only."""
    import glob

    for name in names:
        pattern = "%s-*.dist-info" % name.replace("-", "_")
        for folder in sys.path:
            for info in sorted(glob.glob(os.path.join(folder, pattern))):
                try:
                    with open(
                        os.path.join(info, "METADATA"), encoding="utf-8"
                    ) as handle:
                        for line in handle:
                            if line.startswith("Version:"):
                                return line.split(":", 1)[1].strip()
                except OSError:
                    continue
    return None


def keras_version(tf, flavour):
    """The version of the Keras this env loads with: its package's, or (TF
    1.15-2.5 bundle Keras 2 without a package) tf.keras's own."""
    if flavour == "tf-keras":
        return package_version("tf-keras", "tf_keras")
    found = package_version("keras", "keras-nightly")
    if found is None and flavour == "keras2":
        return getattr(tf.keras, "__version__", None)
    return found


def env_info(tf, flavour):
    import platform

    import numpy

    gpus = []
    try:
        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001 - very old TF spells it differently
        pass
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras_version(tf, flavour),
        "keras_flavour": flavour,
        "sandbox": SANDBOX,
        "numpy": numpy.__version__,
        "gpus": gpus,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


def set_global_policy(keras, name):
    """Keras's global dtype policy, where this Keras has the API: TF 2.4 on,
    or the experimental one of TF 2.1-2.3; float32 needs nothing where there
    is none (the host never asks such a Keras to build a mixed model)."""
    if keras is None:
        return
    mixed = getattr(keras, "mixed_precision", None)
    setter = getattr(mixed, "set_global_policy", None)
    if setter is None:
        setter = getattr(getattr(mixed, "experimental", None), "set_policy", None)
    if setter is not None:
        try:
            setter(name)
        except ValueError:
            # TF 1.15's experimental API refuses any policy outside TF 2
            # behaviour; float32 is its default, so nothing needs setting.
            if name != "float32":
                raise
    elif name != "float32":
        raise RuntimeError("this Keras has no mixed precision API for %r" % name)


def register_serializable(keras):
    """The flavour's decorator for registering a custom object; none in a
    Keras without registration (TF 1.15, standalone Keras 2.3), where the
    custom objects are always passed by name instead."""
    saving = getattr(keras, "saving", None)
    register = getattr(saving, "register_keras_serializable", None)
    if register is None:
        register = getattr(keras.utils, "register_keras_serializable", None)
    if register is None:
        return lambda cls: cls
    return register(package="compat_matrix")


def supports_kwarg(func, name):
    import inspect

    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def to_numpy_list(outputs):
    """Flatten model or signature outputs into a list of numpy arrays."""
    if isinstance(outputs, dict):
        return [as_numpy(outputs[k]) for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return [as_numpy(o) for o in outputs]
    return [as_numpy(outputs)]


def as_numpy(value):
    """A backend's tensor as a numpy array: a torch tensor leaves its graph
    and device first (numpy cannot take one that tracks gradients)."""
    import numpy

    detach = getattr(value, "detach", None)
    if callable(detach):
        value = detach().cpu()
    return numpy.asarray(value)


def save_npz(path, arrays):
    """Write named arrays to an .npz atomically (temp file, then rename)."""
    import numpy

    tmp = path + ".tmp.npz"
    numpy.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_npz(path):
    """Read an .npz without ever unpickling objects."""
    import numpy

    with numpy.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def numbered(arrays, prefix):
    """[prefix_0, prefix_1, ...] from a dict loaded by load_npz."""
    count = len([k for k in arrays if k.startswith(prefix + "_")])
    return [arrays["%s_%d" % (prefix, i)] for i in range(count)]


def number(values, prefix):
    return {"%s_%d" % (prefix, i): v for i, v in enumerate(values)}


def watch_parent():
    """Exit as soon as the host that started this probe is gone.

    A host killed with -9 cannot stop its probes; an orphan would go on
    writing outputs that the rerun's probes are writing too.
    """
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(4)

    thread = threading.Thread(target=watch, name="compat-matrix-parent-watch")
    thread.daemon = True
    thread.start()


def main_guard(main):
    """Run a probe's main in its sandbox; a probe bug exits 3 with the trace
    on stderr. The sandbox comes first: it binds only threads created after it."""
    SANDBOX.update(_sandbox.confine())
    watch_parent()
    try:
        main(sys.argv[1:])
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - report, then fail loudly
        traceback.print_exc()
        sys.exit(3)
