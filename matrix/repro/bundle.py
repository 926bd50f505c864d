"""Copy probe functions, and everything they use, into one standalone script.

A reproduction must run the same code the probe ran, written out inline (not
imported from the tool). This reads the probe modules' syntax trees (never
imports them), collects the definitions a set of roots needs across
`_probe`, `loading` and `zoo`, and copies their source text, comments
included, with three edits located by the syntax tree: a definition is
renamed only where two modules use the same name, `module.name` references
become the copied names, and imports of sibling probe modules are dropped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from matrix.paths import PROBES_DIR

SIBLINGS = ("_probe", "loading", "zoo")


class BundleError(RuntimeError):
    """The probes cannot be bundled for this root (a name the bundler cannot place)."""


@dataclass
class _Module:
    name: str
    lines: list[str] = field(default_factory=list)
    definitions: dict[str, ast.stmt] = field(default_factory=dict)
    imports: dict[str, ast.stmt] = field(default_factory=dict)  # alias -> import statement
    order: dict[str, int] = field(default_factory=dict)


def _read(name: str) -> _Module:
    text = (PROBES_DIR / f"{name}.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    module = _Module(name, text.splitlines(keepends=True))
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            module.definitions[node.name] = node
            module.order[node.name] = index
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                module.definitions[target.id] = node
                module.order[target.id] = index
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                local = (alias.asname or alias.name).split(".")[0]
                if local not in SIBLINGS and not local.startswith("_sandbox"):
                    module.imports[local] = (
                        ast.Import(names=[alias])
                        if isinstance(node, ast.Import)
                        else ast.ImportFrom(module=node.module, names=[alias], level=0)
                    )
    return module


@dataclass(frozen=True)
class Bundle:
    source: str  # imports, then every needed definition
    names: Mapping[tuple[str, str], str]  # (module, name) -> the name in the bundle

    def name(self, module: str, name: str) -> str:
        return self.names[(module, name)]


def bundle(
    roots: Iterable[tuple[str, str]], keep: Mapping[tuple[str, str], Iterable[str]] | None = None
) -> Bundle:
    """The definitions `roots` need; `keep` narrows a dict literal to some keys
    (the zoo table to the one model a reproduction builds)."""
    modules = {name: _read(name) for name in SIBLINGS}
    narrowed: set[tuple[str, str]] = set()
    for (module, name), keys in (keep or {}).items():
        _narrow(modules[module].definitions[name], set(keys))
        narrowed.add((module, name))
    needed = _closure(modules, list(roots))
    final = _final_names(needed)
    parts: list[str] = []
    imports: dict[str, str] = {}
    for module, name in sorted(needed, key=lambda item: (_rank(modules, item), item)):
        node = modules[module].definitions[name]
        if (module, name) in narrowed:
            # A table cut down to some keys: its text no longer matches the file.
            for child in ast.walk(node):
                if isinstance(child, ast.Name):
                    child.id = final.get((module, child.id), child.id)
            parts.append(ast.unparse(node) + "\n")
        else:
            parts.append(_source(modules[module], node, final))
        for alias, statement in modules[module].imports.items():
            if _uses(node, alias):
                imports[alias] = ast.unparse(statement)
    header = "\n".join(sorted(set(imports.values())))
    return Bundle(header + "\n\n\n" + "\n\n\n".join(parts) + "\n", final)


def _rank(modules: dict[str, _Module], item: tuple[str, str]) -> tuple[int, int]:
    """Functions and classes first, then assignments (a table like ZOO names
    functions, which must exist when it is built), each in source order."""
    module, name = item
    node = modules[module].definitions[name]
    return (
        1 if isinstance(node, ast.Assign) else 0,
        SIBLINGS.index(module) * 10_000 + modules[module].order[name],
    )


def _narrow(node: ast.stmt, keys: set[str]) -> None:
    if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
        raise BundleError("only a dict literal can be narrowed to some keys")
    pairs = [
        (k, v)
        for k, v in zip(node.value.keys, node.value.values, strict=True)
        if isinstance(k, ast.Constant) and k.value in keys
    ]
    node.value.keys = [k for k, _ in pairs]
    node.value.values = [v for _, v in pairs]


def _closure(modules: dict[str, _Module], roots: list[tuple[str, str]]) -> set[tuple[str, str]]:
    needed: set[tuple[str, str]] = set()
    stack = list(roots)
    while stack:
        item = stack.pop()
        module, name = item
        if item in needed:
            continue
        if name not in modules[module].definitions:
            raise BundleError(
                f"{module}.{name} is not a top-level definition of probes/{module}.py"
            )
        needed.add(item)
        node = modules[module].definitions[name]
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and child.id in modules[module].definitions:
                stack.append((module, child.id))
            elif (
                isinstance(child, ast.Attribute)
                and isinstance(child.value, ast.Name)
                and child.value.id in modules
                and child.attr in modules[child.value.id].definitions
            ):
                stack.append((child.value.id, child.attr))
    return needed


def _final_names(needed: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    modules_of: dict[str, list[str]] = {}
    for module, name in needed:
        modules_of.setdefault(name, []).append(module)
    return {
        (module, name): name if len(modules_of[name]) == 1 else f"{module.strip('_')}_{name}"
        for module, name in needed
    }


def _uses(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _source(module: _Module, node: ast.stmt, final: Mapping[tuple[str, str], str]) -> str:
    """The definition's own text, decorators and comments included, edited
    where the syntax tree says a name must change or an import must go."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    assert node.end_lineno is not None
    lines = module.lines[first - 1 : node.end_lineno]
    edits = sorted(_edits(module.name, node, final), reverse=True)
    for (line, col), (end_line, end_col), text in edits:
        start, stop = line - first, end_line - first
        head, tail = lines[start][:col], lines[stop][end_col:]
        lines[start : stop + 1] = [head + text + tail]
    return "".join(lines).rstrip() + "\n"


Edit = tuple[tuple[int, int], tuple[int, int], str]


def _edits(module: str, node: ast.stmt, final: Mapping[tuple[str, str], str]) -> list[Edit]:
    edits: list[Edit] = []
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
            new = final.get((module, child.name))
            if new and new != child.name:
                col = child.col_offset + len(
                    "class " if isinstance(child, ast.ClassDef) else "def "
                )
                edits.append(((child.lineno, col), (child.lineno, col + len(child.name)), new))
            continue
        replacement = _replacement(module, child, final)
        if replacement is not None:
            assert isinstance(child, (ast.expr, ast.stmt))
            assert child.end_lineno is not None and child.end_col_offset is not None
            start, end = (child.lineno, child.col_offset), (child.end_lineno, child.end_col_offset)
            edits.append((start, end, replacement))
    return edits


def _replacement(module: str, child: ast.AST, final: Mapping[tuple[str, str], str]) -> str | None:
    """The text a node becomes in the bundle, or None to keep it."""
    if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
        if child.value.id in SIBLINGS:
            return final.get((child.value.id, child.attr))
    elif isinstance(child, ast.Name):
        new = final.get((module, child.id))
        return new if new != child.id else None
    elif isinstance(child, ast.Import) and all(
        a.name.split(".")[0] in SIBLINGS for a in child.names
    ):
        return "pass  # (the probe imported a sibling module here)"
    return None
