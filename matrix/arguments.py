"""Command-line arguments shared by the commands of `python -m matrix`."""

from __future__ import annotations

import argparse
from typing import Any


def common(sub: argparse.ArgumentParser) -> None:
    """Selection, user models, running and places: every command takes them."""
    select = sub.add_argument_group("selection (defaults: [tool.compat-matrix] in pyproject.toml)")
    select.add_argument(
        "--preset", help="default (11 envs, TF 1.15 gold) or full (TF 1.15-2.21, LiteRT)"
    )
    select.add_argument(
        "--tf", nargs="+", metavar="X.Y", help="TF versions, e.g. 2.15 2.21 nightly"
    )
    select.add_argument(
        "--envs", nargs="+", metavar="ID", help="env ids or globs: 'tf2.1*-keras3-*'"
    )
    select.add_argument("--models", nargs="+", metavar="NAME", help="zoo models, or all")
    select.add_argument("--formats", nargs="+", metavar="NAME", help="h5 keras savedmodel weights")
    select.add_argument("--loaders", nargs="+", metavar="NAME", help="keras saved-model tfsm-layer")
    select.add_argument(
        "--policies", nargs="+", metavar="NAME", help="float32 mixed_float16 mixed_bfloat16"
    )
    select.add_argument("--devices", nargs="+", metavar="NAME", help="cpu gpu")
    select.add_argument(
        "--keras",
        nargs="+",
        metavar="3.X",
        help="Keras 3 minors as envs of their own, e.g. 3.3 3.15, nightly, or all",
    )
    select.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        help="tensorflow jax torch: the backends of the --keras envs (default tensorflow)",
    )
    select.add_argument(
        "--from", dest="upgrade_from", metavar="X.Y", help="upgrade advice: the TF you run now"
    )
    select.add_argument(
        "--to", dest="upgrade_to", metavar="X.Y", help="upgrade advice: the TF you move to"
    )
    select.add_argument("--python", help="host (default) or newest: which Python an env gets")
    select.add_argument(
        "--releases",
        metavar="SOURCE",
        help="index (default: ask the package index for releases the table lacks), "
        "table, or a releases.json written by `releases`",
    )
    select.add_argument(
        "--onednn-off",
        action="store_true",
        help="add a TF_ENABLE_ONEDNN_OPTS=0 consumer beside each CPU env",
    )
    select.add_argument(
        "--unsafe",
        action="store_true",
        help="load models holding Python code (Lambda) even where no safe_mode guards it",
    )
    select.add_argument(
        "--gold",
        nargs="+",
        metavar="ENV",
        help="gold producers to replay (env ids in gold/), or none",
    )
    select.add_argument(
        "--download-python",
        action="store_true",
        help="let uv download a Python an env needs and this machine lacks",
    )
    users = sub.add_argument_group("user models (repeat --user-model; options apply to the last)")
    users.add_argument(
        "--user-model", action=_NewUserModel, metavar="PATH", help=".h5, .keras or SavedModel dir"
    )
    for flag, key, text in _USER_OPTIONS:
        users.add_argument(flag, action=_UserModelOption, dest=key, metavar="X", help=text)
    run_group = sub.add_argument_group("running")
    run_group.add_argument("--jobs", "-j", help="envs worked on at once: a number or auto")
    run_group.add_argument("--fresh", action="store_true", help="ignore stored results")
    run_group.add_argument(
        "--pin",
        action="append",
        dest="pins",
        metavar="GLOB=REQ",
        help="extra requirement for matching envs, e.g. 'tf2.15-*=protobuf<4' (repeatable)",
    )
    run_group.add_argument(
        "--memory-mb", type=int, metavar="MB", help="address space a probe may add after import"
    )
    run_group.add_argument(
        "--max-restarts", type=int, metavar="N", help="probe restarts per env and phase (default 5)"
    )
    run_group.add_argument("--cell-timeout", type=float, metavar="S", help="seconds per cell")
    run_group.add_argument(
        "--start-timeout", type=float, metavar="S", help="seconds for a probe to import TensorFlow"
    )
    run_group.add_argument(
        "--install-timeout", type=float, metavar="S", help="seconds to build one env"
    )
    places = sub.add_argument_group("places")
    places.add_argument(
        "--config", help="pyproject.toml to read settings from (default ./pyproject.toml, if any)"
    )
    places.add_argument("--output", help="working folder (default build/matrix)")
    places.add_argument("--reports", help="report folder (default reports)")
    places.add_argument("--envdir", help="where env virtualenvs live (default .nox)")


_USER_OPTIONS = (
    ("--inputs", "inputs", "its inputs: .npy or .npz (default: derived from its signature)"),
    ("--expected", "expected", "its expected outputs: .npy or .npz (default: a baseline env's)"),
    (
        "--custom-objects",
        "custom-objects",
        "a .py defining get_custom_objects(keras) or CUSTOM_OBJECTS",
    ),
    ("--baseline-env", "baseline", "the env whose outputs are its reference"),
    ("--name", "name", "its report label (default: the file name)"),
)


class _NewUserModel(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        models = getattr(namespace, "user_models", None) or []
        models.append({"path": values})
        namespace.user_models = models


class _UserModelOption(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        models = getattr(namespace, "user_models", None)
        if not models:
            parser.error(f"{option} must follow the --user-model it belongs to")
        else:
            models[-1][str(self.dest)] = values


def publishing(sub: argparse.ArgumentParser) -> None:
    """What commands that write reports add: baselines, advice, CI summaries."""
    group = sub.add_argument_group("reporting")
    group.add_argument("--baseline", metavar="JSON", help="a previous compat.json to compare with")
    group.add_argument(
        "--fail-on",
        nargs="+",
        metavar="STATUS",
        help="statuses that count as regressions (default: drift nan load-error "
        "predict-error crash timeout)",
    )
    group.add_argument(
        "--no-history", action="store_true", help="do not append this run to history.jsonl"
    )
    group.add_argument(
        "--step-summary", metavar="FILE", help="append the Markdown (capped at 1 MB) to FILE"
    )
