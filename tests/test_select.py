"""select(): everything a command works from, read once, checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from matrix import cli, files
from matrix.selection.select import configured_plan, select
from matrix.settings import DEFAULT_FAIL_ON, ConfigError


def args(*argv: str):  # type: ignore[no-untyped-def]
    return cli._parser().parse_args(list(argv))


def test_one_pass_gives_settings_plan_layout_and_report_options(tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    chosen = select(
        args("run", "--tf", "2.15", "--models", "mlp", "--formats", "h5", "--output", out)
    )
    assert chosen.plan.env_ids == ["tf2.15-keras2-py3.11-cpu"]
    assert chosen.layout.output == (tmp_path / "o").resolve()
    assert chosen.report.fail_on == DEFAULT_FAIL_ON and chosen.report.upgrade is None


def test_the_upgrade_question_plans_every_flavour_of_both_versions_once() -> None:
    chosen = select(args("run", "--from", "2.15", "--to", "2.21"))
    assert chosen.report.upgrade == ("2.15", "2.21")
    ids = chosen.plan.env_ids
    assert "tf2.21-tf-keras-py3.11-cpu" in ids and "tf2.15-keras2-py3.11-cpu" in ids
    assert len(ids) == len(set(ids))


def test_report_commands_use_the_stored_plan_unless_told_otherwise(tmp_path: Path) -> None:
    out = tmp_path / "o"
    ran = select(args("run", "--tf", "2.21", "--models", "mlp", "--output", str(out)))
    files.write_json(ran.layout.plan, ran.plan.to_dict())
    again = select(args("report", "--output", str(out)), stored=True)
    assert again.plan == ran.plan
    other = select(
        args("report", "--output", str(out), "--tf", "2.15", "--formats", "h5"), stored=True
    )
    assert other.plan.env_ids == ["tf2.15-keras2-py3.11-cpu"]


def test_a_shard_names_its_env_beside_the_configured_ones() -> None:
    chosen = select(
        args("consume", "--env", "tf2.9-keras2-py3.10-cpu"), extra_env="tf2.9-keras2-py3.10-cpu"
    )
    assert "tf2.9-keras2-py3.10-cpu" in chosen.plan.env_ids
    with pytest.raises(ConfigError, match="Did you mean"):
        select(
            args("consume", "--env", "tf2.9-keras2-py3.10-cpux"),
            extra_env="tf2.9-keras2-py3.10-cpux",
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--baseline", "nowhere.json"], "no such file"),
        (["--fail-on", "crsh"], "Did you mean 'crash'"),
        (["--from", "2.15"], "--from and --to go together"),
    ],
)
def test_bad_report_options_stop_before_anything_runs(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select(args("run", *argv))


def test_the_configured_plan_is_what_nox_lists() -> None:
    assert configured_plan().env_ids == select(args("plan")).plan.env_ids
