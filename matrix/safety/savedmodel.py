"""Inspect a SavedModel folder: every graph node and every library function.

`saved_model.pb` is read with the strict wire reader: each MetaGraphDef's
main graph, every FunctionDef of its library (reachable from a signature or
not: a dead function can still be called), and the Keras configs Keras 2
revives (`keras_metadata.pb`, and the legacy `SavedUserObject.metadata`).
Ops that touch files, processes or the network are listed; Save/Restore-
style ops only when the path they use is a constant baked into the graph
rather than the prefix the loader feeds (every SavedModel's own saver has
that shape).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from matrix.safety import kerasconfig, protowire
from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable
from matrix.safety.limits import Limits
from matrix.safety.protowire import ProtoError

GRAPH_FILE = "saved_model.pb"
GRAPH_TEXT_FILE = "saved_model.pbtxt"
KERAS_METADATA = "keras_metadata.pb"

# Ops that read or write files, run Python, or talk to the network whatever
# their inputs. No model served for predictions needs any of them.
REACHING_OPS: dict[str, str] = {
    **dict.fromkeys(("WriteFile", "ReadFile", "MatchingFiles", "ImmutableConst"), "files"),
    **dict.fromkeys(
        (
            "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
            "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader",
            "TFRecordReaderV2", "LMDBReader", "TFRecordDataset", "TFRecordDatasetV2",
            "TextLineDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
            "MatchingFilesDataset", "ExperimentalMatchingFilesDataset", "CSVDataset",
            "CSVDatasetV2", "ExperimentalCSVDataset", "SqlDataset", "ExperimentalSqlDataset",
            "LMDBDataset", "ExperimentalLMDBDataset", "DatasetToTFRecord",
            "ExperimentalDatasetToTFRecord", "SaveDataset", "SaveDatasetV2", "LoadDataset",
            "SnapshotDataset", "SnapshotDatasetV2", "SnapshotDatasetReader",
            "SnapshotNestedDatasetReader", "DistributedSave", "DebugIdentity",
            "DebugIdentityV2", "DebugIdentityV3", "CreateSummaryFileWriter",
            "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary",
            "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
            "WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent",
            "LoadAndRemapMatrix", "GenerateVocabRemapping",
        ),
        "files",
    ),
    **dict.fromkeys(("PyFunc", "PyFuncStateless", "EagerPyFunc"), "Python code"),
    **dict.fromkeys(
        (
            "DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3",
            "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2", "RpcClient",
            "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcCall", "Rpc", "TryRpc",
            "GcsConfigureCredentials", "GcsConfigureBlockCache", "BigQueryReader",
            "BigQueryClient", "BigQueryDataset",
        ),
        "the network",
    ),
}  # fmt: skip

# Ops whose file path input (by index) is fine when the loader feeds it and
# dangerous when it is a constant.
PATH_OPS: dict[str, tuple[int, ...]] = {
    "Save": (0,),
    "SaveV2": (0,),
    "SaveSlices": (0,),
    "Restore": (0,),
    "RestoreV2": (0,),
    "RestoreSlice": (0,),
    "MergeV2Checkpoints": (0, 1),
    "InitializeTableFromTextFile": (1,),
    "InitializeTableFromTextFileV2": (1,),
}
# A PrintV2 whose output_stream is "file://..." appends to that file.
PRINT_OPS = ("PrintV2",)
_FED = frozenset({"Placeholder", "PlaceholderWithDefault", "PlaceholderV2"})


@dataclass(frozen=True)
class _Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    output_stream: str | None


def inspect_savedmodel(folder: Path, limits: Limits, where: str) -> list[Finding]:
    if (folder / GRAPH_TEXT_FILE).exists() and not (folder / GRAPH_FILE).exists():
        return [unreadable("text-format SavedModels (saved_model.pbtxt) are not inspected", where)]
    findings = _proto_findings(folder / GRAPH_FILE, limits, f"{where}/{GRAPH_FILE}", _graph)
    if (folder / KERAS_METADATA).is_file():
        findings += _proto_findings(
            folder / KERAS_METADATA, limits, f"{where}/{KERAS_METADATA}", _keras_metadata
        )
    return findings


def _proto_findings(path: Path, limits: Limits, where: str, reader: object) -> list[Finding]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [unreadable(f"cannot read it ({exc.strerror})", where)]
    if size > limits.proto_bytes:
        return [oversized(f"{size} bytes, over the {limits.proto_bytes}-byte limit", where)]
    data = path.read_bytes()
    try:
        return list(reader(data, where))  # type: ignore[operator]
    except (ProtoError, RecursionError) as exc:
        return [unreadable(f"malformed protobuf ({exc})", where)]


def _graph(data: bytes, where: str) -> Iterator[Finding]:
    for index, meta in enumerate(protowire.messages(data, 2)):  # SavedModel.meta_graphs
        graph = protowire.message(meta, 2)  # MetaGraphDef.graph_def
        if graph is not None:
            nodes = [_node(n) for n in protowire.messages(graph, 1)]  # GraphDef.node
            yield from _ops(nodes, set(), f"{where}: meta graph {index}, main graph")
            library = protowire.message(graph, 2)  # GraphDef.library
            if library is not None:
                for function in protowire.messages(library, 1):  # FunctionDefLibrary.function
                    yield from _function(function, where)
        objects = protowire.message(meta, 7)  # MetaGraphDef.object_graph_def
        if objects is not None:
            yield from _user_objects(objects, where)


def _function(function: memoryview, where: str) -> Iterator[Finding]:
    signature = protowire.message(function, 1)  # FunctionDef.signature (an OpDef)
    name = protowire.text(signature, 1) if signature is not None else "?"
    arguments: set[str] = set()
    if signature is not None:
        for arg in protowire.messages(signature, 2):  # OpDef.input_arg
            arguments.add(protowire.text(arg, 1))
    nodes = [_node(n) for n in protowire.messages(function, 3)]  # FunctionDef.node_def
    yield from _ops(nodes, arguments, f"{where}: function {name}")


def _node(data: memoryview) -> _Node:
    stream = None
    for key, value in protowire.entries(data, 5):  # NodeDef.attr
        if key == "output_stream":
            stream = protowire.text(value, 2)  # AttrValue.s
    return _Node(
        protowire.text(data, 1),
        protowire.text(data, 2),
        tuple(protowire.texts(data, 3)),
        stream,
    )


def _ops(nodes: list[_Node], arguments: set[str], where: str) -> Iterator[Finding]:
    by_name = {node.name: node for node in nodes}
    for node in nodes:
        reach = REACHING_OPS.get(node.op)
        if reach is not None:
            what = f"{node.op} op {node.name!r} ({reach})"
            yield Finding(Kind.OUTSIDE, what, where, Scope.GRAPH)
        elif node.op in PRINT_OPS and (node.output_stream or "").startswith("file://"):
            what = f"{node.op} op {node.name!r} writing to {node.output_stream!r}"
            yield Finding(Kind.OUTSIDE, what, where, Scope.GRAPH)
        elif node.op in PATH_OPS:
            for index in PATH_OPS[node.op]:
                if index < len(node.inputs) and not _fed(node.inputs[index], by_name, arguments):
                    what = f"{node.op} op {node.name!r} with a path baked into the graph"
                    yield Finding(Kind.OUTSIDE, what, where, Scope.GRAPH)
                    break


def _fed(source: str, by_name: dict[str, _Node], arguments: set[str]) -> bool:
    """Whether a tensor derives from a function argument or a placeholder,
    i.e. from what the loader feeds, rather than from constants alone."""
    stack, seen = [source], set()
    while stack:
        name = stack.pop().lstrip("^").split(":", 1)[0]
        if name in seen:
            continue
        seen.add(name)
        if name in arguments:
            return True
        node = by_name.get(name)
        if node is None:
            # Not a node of this graph: an input of the function (arguments
            # are also referenced as "arg:0" in graphs converted from V1).
            return True
        if node.op in _FED:
            return True
        stack.extend(node.inputs)
    return False


def _user_objects(objects: memoryview, where: str) -> Iterator[Finding]:
    for index, node in enumerate(protowire.messages(objects, 1)):  # SavedObjectGraph.nodes
        user = protowire.message(node, 4)  # SavedObject.user_object
        if user is None:
            continue
        metadata = protowire.text(user, 3)  # SavedUserObject.metadata (legacy Keras)
        if metadata:
            yield from kerasconfig.inspect_json(metadata, f"{where}: object {index} metadata")


def _keras_metadata(data: bytes, where: str) -> Iterator[Finding]:
    for node in protowire.messages(data, 1):  # SavedMetadata.nodes
        path = protowire.text(node, 3)  # SavedObject.node_path
        metadata = protowire.text(node, 5)  # SavedObject.metadata
        if metadata:
            yield from kerasconfig.inspect_json(metadata, f"{where}: {path or 'root'}")
