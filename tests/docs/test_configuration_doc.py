"""docs/configuration.md lists every CLI flag (with its default) and every engine config key."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from realtime_agents.cli import build_parser
from realtime_agents.demo import build_parser as build_demo_parser
from realtime_agents.server.engines.loader import ROLE_KEYS, ROLES, SHARED_KEYS, plan_engines
from realtime_agents.server.engines.scripted import SCRIPTED_OPTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TICKED = re.compile(r"`([^`]+)`")


def sections(text: str) -> dict[str, list[str]]:
    """Heading (without the #s) -> its table rows' cells."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            found[current] = []
        elif line.startswith("| ") and not line.startswith(("| ---", "| key", "| flag")):
            found[current].append(line)
    return found


def table(rows: list[str]) -> dict[str, str]:
    """Each name in a row's first cell -> that row's default cell."""
    names: dict[str, str] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for name in TICKED.findall(cells[0]):
            names[name] = cells[1]
    return names


DOCUMENTED = sections(DOC.read_text())


def _subparser(name: str) -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise AssertionError(name)


def _check_parser(
    parser: argparse.ArgumentParser, heading: str, documented: dict[str, list[str]] = DOCUMENTED
) -> None:
    rows = table(documented[heading])
    expected: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for name in action.option_strings or [action.dest]:
            expected[name] = action
    assert set(rows) == set(expected), heading
    for name, action in expected.items():
        default = action.default
        if action.nargs == 0:
            assert rows[name].startswith("off"), (name, rows[name])
        elif isinstance(default, list):
            assert rows[name] == f"`{' '.join(default)}`", name
        elif default not in (None, ""):
            assert rows[name] == f"`{default}`", (name, rows[name], default)


def test_every_serve_flag_and_its_default() -> None:
    _check_parser(_subparser("serve"), "`realtime-agents serve`")


def test_every_demo_and_example_flag() -> None:
    _check_parser(build_demo_parser(), "`realtime-agents demo`")
    _check_parser(_subparser("example"), "`realtime-agents example`")


def test_every_engine_key_of_every_role_and_kind() -> None:
    for (role, kind), keys in ROLE_KEYS.items():
        heading = f'{role} (kind "{kind}")'
        assert heading in DOCUMENTED, heading
        assert set(table(DOCUMENTED[heading])) == set(keys), heading
    assert set(table(DOCUMENTED["Top-level keys"])) == {*ROLES, *SHARED_KEYS}
    scripted = table(DOCUMENTED["Scripted engines (`--engines scripted`)"])
    assert set(scripted) == set(SCRIPTED_OPTIONS)


def test_the_example_config_is_valid() -> None:
    example = re.search(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert example is not None
    plan = plan_engines("embedded", json.loads(example.group(1)))
    assert plan["llm"]["kind"] == "http" and plan["stt"]["kind"] == "embedded"


def test_a_missing_or_stale_row_fails() -> None:
    text = DOC.read_text()
    serve = _subparser("serve")
    heading = "`realtime-agents serve`"
    without_workers = "\n".join(
        line for line in text.splitlines() if not line.startswith("| `--workers`")
    )
    with pytest.raises(AssertionError):
        _check_parser(serve, heading, sections(without_workers))
    stale_default = text.replace("| `--port` | `8765` |", "| `--port` | `8000` |")
    with pytest.raises(AssertionError):
        _check_parser(serve, heading, sections(stale_default))
