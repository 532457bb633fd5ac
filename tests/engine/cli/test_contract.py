"""The CLI contract of the first version (commit 177318a, the state before the issues of
2026-12-02) still holds: every command, every flag and every choice it offered is still
accepted, and the JSON keys of ``info --json`` and of a job record are still there.

``first_version_cli.json`` was written from that commit's own parser (every sub-parser's
option strings, positionals as ``<dest>``, and their choices) by walking
``engine.cli.build_parser()`` exactly as :func:`commands` walks today's; nothing runs a
subprocess here."""
import argparse
import json
from pathlib import Path

import pytest

from engine import cli, jobs
from tests.conftest import REPO

FIRST = json.loads((Path(__file__).parent / "first_version_cli.json").read_text())

#: ``info --json`` and a job's JSON record in the first version (read from commit 177318a)
FIRST_INFO_KEYS = {"arch", "command", "complete", "content_hash", "dataset", "epoch", "epochs", "history",
                   "init_from", "leaky_relu", "members", "method", "method_params", "saved_at", "seed", "source",
                   "versions"}
FIRST_JOB_KEYS = {"attempts", "config", "created", "error", "executor", "finished", "id", "name", "out", "pid",
                  "queued", "resumed_from_epoch", "slot", "started", "state"}


def commands(parser: argparse.ArgumentParser, path=()) -> dict[str, dict[str, list | None]]:
    """{"eval whitebox": {"--eps": None, "--protocol": ["paper", "quick"], "<checkpoints>": None, ...}, ...}"""
    out, options = {}, {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(commands(sub, (*path, name)))
        else:
            for name in action.option_strings or [f"<{action.dest}>"]:
                options[name] = sorted(map(str, action.choices)) if action.choices else None
    out[" ".join(path)] = options
    return out


NOW = commands(cli.build_parser())


def test_the_snapshot_is_the_whole_first_cli():
    assert len(FIRST) == 38 and sum(map(len, FIRST.values())) == 481
    assert {"train", "eval whitebox", "export transferability", "jobs submit", "import-checkpoint", "package",
            "report", "bench dverge-step", "worker"} <= set(FIRST)


@pytest.mark.parametrize("command", sorted(FIRST))
def test_every_first_version_flag_and_choice_still_exists(command):
    assert command in NOW, f"command {command!r} was removed"
    missing = sorted(set(FIRST[command]) - set(NOW[command]))
    assert not missing, f"{command!r} lost {missing}"
    for flag, choices in FIRST[command].items():
        if choices:
            assert NOW[command][flag] is None or set(choices) <= set(NOW[command][flag]), \
                f"{command} {flag} lost the choices {sorted(set(choices) - set(NOW[command][flag]))}"


def test_info_json_and_job_records_keep_their_first_version_keys(capsys):
    assert cli.main(["info", str(REPO / "checkpoints" / "baseline"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert FIRST_INFO_KEYS <= set(info)
    assert FIRST_JOB_KEYS <= set(jobs.Job.model_fields)
