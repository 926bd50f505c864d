"""Walk a Keras config and list what would run code while it is deserialized.

Every dict anywhere in the config is visited: nested models, wrappers
(TimeDistributed, Bidirectional), shared objects, the compile config. The
config is parsed with `json.loads` (escapes such as `\\u004cambda` decode to
what Keras will see); nothing is matched on raw bytes.
"""

from __future__ import annotations

import json
from typing import Any

from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable

# Packages whose modules Keras resolves itself (Keras >= 3.8 imports nothing else).
KERAS_PACKAGES = frozenset({"keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv"})
# Modules whose functions Keras serializes by name (activations, losses,
# metrics); `builtins` is how Keras 3 writes its own built-in functions. A
# function named anywhere else (keras.utils.get_file, keras.config.*, os.*)
# is code: CVE-2025-8747 and CVE-2025-9906 use exactly that.
_FUNCTION_MODULES = ("activations", "losses", "metrics")
MAX_NODES = 2_000_000
MAX_DEPTH = 500


def inspect_json(text: str | bytes, where: str) -> list[Finding]:
    """Findings of one config document; malformed JSON is unreadable."""
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [unreadable(f"not valid JSON ({type(exc).__name__})", where)]
    return inspect_config(config, where)


def inspect_config(config: Any, where: str) -> list[Finding]:
    findings: list[Finding] = []
    seen = 0
    stack: list[tuple[Any, str, int]] = [(config, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES or depth > MAX_DEPTH:
            return [oversized(f"config deeper or larger than the limits ({MAX_NODES} nodes)", path)]
        if isinstance(node, dict):
            findings.extend(_object_findings(node, path))
            children = [(v, f"{path}.{k}", depth + 1) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return _unique(findings)


def _object_findings(node: dict[str, Any], path: str) -> list[Finding]:
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        return []
    module = node.get("module")
    label = _label(node, class_name)
    short = class_name.rsplit(">", 1)[-1]
    if short in ("Lambda", "__lambda__"):
        what = "Lambda layer" if short == "Lambda" else "marshalled lambda function"
        return [Finding(Kind.CODE, f"{what}{label}", path, Scope.CONFIG)]
    if short == "TFSMLayer":
        target = (
            (node.get("config") or {}).get("filepath")
            if isinstance(node.get("config"), dict)
            else None
        )
        what = f"TFSMLayer{label} loading {target!r}" if target else f"TFSMLayer{label}"
        return [Finding(Kind.CODE, what, path, Scope.CONFIG)]
    if class_name == "function" and isinstance(module, str):
        name = node.get("config")
        if not _keras_function(module):
            return [Finding(Kind.CODE, f"function {module}.{name}", path, Scope.CONFIG)]
        return []
    if isinstance(module, str) and module != "builtins" and not _keras_module(module):
        what = f"class {class_name} from module {module!r}"
        registered = node.get("registered_name")
        name = registered if isinstance(registered, str) and registered else class_name
        return [Finding(Kind.MODULE, what, path, Scope.CONFIG, name, module)]
    if ">" in class_name and "optimizer" not in path:
        # Keras 2.11+ registers its own optimizers as "Custom>Adam"; a custom
        # optimizer only matters for compiling, which inference loads skip.
        return [Finding(Kind.CUSTOM, f"custom class {class_name}", path, Scope.CONFIG)]
    return []


def _label(node: dict[str, Any], class_name: str) -> str:
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return f" {name!r}" if isinstance(name, str) and name != class_name else ""


def _keras_module(module: str) -> bool:
    return module.split(".", 1)[0] in KERAS_PACKAGES


def _keras_function(module: str) -> bool:
    if module == "builtins":
        return True
    parts = module.split(".")
    if parts[0] not in KERAS_PACKAGES:
        return False
    inner = parts[2:] if len(parts) > 1 and parts[1] == "src" else parts[1:]
    return bool(inner) and inner[0] in _FUNCTION_MODULES


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def config_size_error(size: int, limit: int, where: str) -> Finding:
    return oversized(f"config of {size} bytes, over the {limit}-byte limit", where)
