"""Shared fixtures for the system tests.

Under CI (CI=true) a skipped test counts as a failure: nothing is skipped silently.
"""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
# tests/run builds into cargo's target directory, which CARGO_TARGET_DIR may move.
RELEASE = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")).resolve() / "release"


def binary(name: str) -> pathlib.Path:
    """Path of a release binary that tests/run built; fails loudly when it is missing."""
    path = RELEASE / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run tests/run (it builds the release binaries first)")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which skips nothing: {report.longrepr}"
