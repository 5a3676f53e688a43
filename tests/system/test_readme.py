"""The README's commands, run as a newcomer would run them on the release binary."""

import pathlib
import re
import subprocess

from conftest import REPO, binary

README = (REPO / "README.md").read_text()


def readme_commands():
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README has no sh block with the set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_gives_two_setup_commands_and_the_second_is_tests_run():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert commands[1] == "tests/run"
    assert commands[0].startswith("cargo run --release -p headcount -- ")


def test_first_readme_command_works_on_the_release_binary():
    args = readme_commands()[0].split(" -- ", 1)[1].split()
    out = subprocess.run([binary("headcount"), *args], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip(), "the first command printed nothing"
    assert "secret" not in out.stdout + out.stderr
