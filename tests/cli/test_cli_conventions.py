"""`--version`, `python -m realtime_agents`, help for every flag, `-v/-q`, the ready message."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from cli_helpers import Running, run_cli

import realtime_agents
from realtime_agents.cli import build_parser, ready_message
from realtime_agents.demo import build_parser as build_demo_parser
from realtime_agents.talk.command import build_parser as build_talk_parser

ROOT = Path(__file__).resolve().parents[2]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_version_matches_the_package_and_pyproject(tmp_path: Path) -> None:
    result = run_cli("--version", tmp_path=tmp_path)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert result.returncode == 0
    assert result.stdout.strip() == f"realtime-agents {version}"
    assert realtime_agents.__version__ == version


def test_every_flag_has_help_and_its_default_shows(tmp_path: Path) -> None:
    parsers = {"serve": _subparsers(build_parser())["serve"], "demo": build_demo_parser()}
    for name, parser in parsers.items():
        for action in parser._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        text = parser.format_help()
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.default not in (None, ""):
                assert f"(default: {action.default})" in " ".join(text.split()), (
                    name,
                    action.dest,
                )
    help_run = run_cli("serve", "--help", tmp_path=tmp_path)
    assert help_run.returncode == 0 and "--max-sessions" in help_run.stdout


def test_demo_and_talk_take_the_same_engine_flags_as_serve_engines() -> None:
    serve = _subparsers(build_parser())["serve"]
    (serve_engines,) = [a for a in serve._actions if "--engines" in a.option_strings]
    for parser in (build_demo_parser(), build_talk_parser()):
        flags = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
        engines, config = flags["--engines"], flags["--engine-config"]
        assert engines.choices == serve_engines.choices, parser.prog
        assert engines.default == serve_engines.default == "embedded"
        assert "(default: embedded)" in " ".join(parser.format_help().split()), parser.prog
        assert config.default == "" and config.metavar == "JSON"
        args = parser.parse_args(["--engines", "scripted", "--engine-config", '{"reply": "hi"}'])
        assert (args.engines, args.engine_config) == ("scripted", '{"reply": "hi"}')


def test_verbose_and_quiet_set_the_log_level() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).log_level == "info"
    assert parser.parse_args(["serve", "-v"]).log_level == "debug"
    assert parser.parse_args(["serve", "-q"]).log_level == "warning"
    assert parser.parse_args(["serve", "--log-level", "DEBUG"]).log_level == "debug"


def test_ready_message_names_the_url_once_how_to_connect_and_stop() -> None:
    url = "ws://127.0.0.1:8765/v1/realtime"
    message = ready_message(url, api_key_required=False)
    assert message.count(url) == 1
    assert "ws://127.0.0.1:8765/v1," in message and 'model "local"' in message
    assert "any API key" in message and "Ctrl-C" in message
    assert "the server's API key" in ready_message(url, api_key_required=True)


def test_quiet_serve_prints_only_the_ready_message(tmp_path: Path) -> None:
    server = Running("serve", "--engines", "scripted", "--port", "0", "-q", tmp_path=tmp_path)
    try:
        server.wait_for("stop:")
        result = server.interrupt()
    finally:
        server.kill()
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("ready: listening on ws://127.0.0.1:")
    assert not any("loading" in line or "engines ready" in line for line in lines)
    assert result.returncode == 130
