"""Every command line the README shows parses with the CLI's own argument parsers (none is run).

A command line is a line of an indented code block, or an inline code span of three or more
words, that starts with `tokenmill`, `.venv/bin/tokenmill` or `scripts/`. Synopsis notation is
read as a user would: `[...]` and `...` are dropped, brackets around an optional part are
removed (the part is checked), `A|B` takes A, and a lone `|` between alternatives is dropped.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tokenmill.pipelines.cli import UsageError, beam_options, build_parser
from tokenmill.transforms.typed_config import ConfigError

from testdata import demo_argv

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PREFIXES = ("tokenmill ", ".venv/bin/tokenmill ", "scripts/")


def readme_commands(text: str) -> list[str]:
    commands, block = [], []
    for line in text.splitlines():   # indented code blocks, continuation lines joined
        if line.startswith("    ") and line.strip():
            block.append(line.strip())
            if not line.rstrip().endswith("\\"):
                commands.append(" ".join(part.rstrip("\\").strip() for part in block))
                block = []
        else:
            block = []
    for span in re.findall(r"`([^`\n]+)`", text):
        if len(span.split()) >= 3:
            commands.append(span)
    return [c for c in commands if c.startswith(PREFIXES)]


def synopsis_to_argv(command: str) -> list[str]:
    argv = []
    for token in shlex.split(command, comments=True):
        if token in ("...", "[...]", "|"):
            continue
        token = token.strip("[]")
        if "|" in token and not token.startswith("'"):
            token = token.split("|")[0]
        if token and token != "...":
            argv.append(token)
    return argv


def parse_tokenmill(argv: list[str]) -> None:
    """Parses `tokenmill ARGV` as the CLI does, without running it; raises on any unknown flag."""
    command, rest = argv[0], argv[1:]
    if command == "train":
        from tokenmill.model.train import parse_args
        parse_args(rest)
    elif command == "sample":
        from tokenmill.model.sample import parse_args
        parse_args(rest)
    else:
        args, unknown = build_parser().parse_known_args(argv)
        if args.command == "run":
            beam_options(unknown)            # Beam's flags, checked as `tokenmill run` checks them
        elif unknown:
            raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")


def parse_command(command: str) -> None:
    argv = synopsis_to_argv(command)
    program, rest = argv[0], argv[1:]
    if program.endswith("tokenmill"):
        parse_tokenmill(rest)
    elif program == "scripts/demo.sh":
        parse_tokenmill(demo_argv(rest))
    elif program == "scripts/test.sh":
        # The arguments go to pytest: collecting an empty folder exits 5 (nothing collected) when
        # they parse and 4 on a usage error.
        result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *rest, "tests/data"],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 5, result.stdout + result.stderr
    elif program == "scripts/local_cluster.sh":
        assert len(rest) == 2 and rest[0] in ("flink", "spark") and rest[1] in ("fetch", "up", "down", "status"), rest
    else:
        assert (REPO / program).is_file(), f"{program}: no such script"


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def test_the_readme_shows_the_commands_a_user_needs():
    programs = {synopsis_to_argv(c)[0] + (" " + synopsis_to_argv(c)[1] if "tokenmill" in c else "") for c in COMMANDS}
    assert {"scripts/demo.sh", "scripts/test.sh", "tokenmill run", "tokenmill train", "tokenmill sample",
            "tokenmill report", "tokenmill config", ".venv/bin/tokenmill train"} <= programs, programs


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    parse_command(command)


@pytest.mark.parametrize("command, error", [
    ("tokenmill sample --checkpoint RUN", ConfigError),          # the README's old spelling
    ("tokenmill run --input x --output y --bogus-flag", UsageError),
    ("tokenmill train --data d --output o --steps 3", ConfigError),
    ("tokenmill report DIR --verbose", UsageError),
    ("scripts/demo.sh --no-such-beam-flag=1", UsageError),
])
def test_an_unknown_flag_fails(command, error):
    with pytest.raises(error):
        parse_command(command)


def test_an_unknown_pytest_flag_fails():
    with pytest.raises(AssertionError):
        parse_command("scripts/test.sh --no-such-pytest-flag")
