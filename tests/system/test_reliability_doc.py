"""docs/development/reliability.md and performance.md against the tree: every proof the page
names exists, every proof that exists is on the page, and every fuzz target and harness section
is named where a reader looks for it."""

import ast
import importlib.util
import re
import subprocess
from importlib.machinery import SourceFileLoader

from conftest import REPO

RELIABILITY = (REPO / "docs" / "development" / "reliability.md").read_text()
PERFORMANCE = (REPO / "docs" / "development" / "performance.md").read_text()
PROOFS = ["tests/system/test_faults.py", "tests/system/test_clock.py",
          "tests/system/test_soak.py", "crates/headcount/tests/clock_set.rs"]


def proofs_in(path):
    text = (REPO / path).read_text()
    if path.endswith(".py"):
        return {n.name for n in ast.parse(text).body
                if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return set(re.findall(r"#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn (\w+)", text))


def test_every_proof_is_on_the_page_and_every_proof_the_page_names_exists():
    for path in PROOFS:
        assert path in RELIABILITY, f"{path} is not named in reliability.md"
        for name in proofs_in(path):
            assert f"`{name}`" in RELIABILITY, f"{path}::{name} is not named in reliability.md"
    named = set(re.findall(r"`(test_\w+|a_\w+|the_\w+)`", RELIABILITY))
    existing = set().union(*(proofs_in(p) for p in PROOFS))
    for other in ["crates/headcount/tests/hostile_files.rs", "crates/headcount/tests/daemon_e2e.rs",
                  "crates/headcount-receiver/tests/hostile.rs",
                  "crates/headcount-collect/tests/malformed.rs"]:
        if other in RELIABILITY:
            existing |= proofs_in(other)
    assert named <= existing, f"reliability.md names tests that do not exist: {named - existing}"


def test_every_fuzz_target_is_on_the_page():
    targets = {p.stem for p in (REPO / "fuzz" / "fuzz_targets").glob("*.rs")}
    assert len(targets) >= 8
    for t in targets:
        assert f"`{t}`" in RELIABILITY, f"fuzz target {t} is not named in reliability.md"


def test_every_harness_section_is_in_performance_md():
    out = subprocess.run([REPO / "tests" / "perf" / "run", "--list"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert "daemon" in out and "receiver" in out
    assert "tests/perf/run" in PERFORMANCE
    for section in out:
        assert f"tests/perf/run {section}" in PERFORMANCE, f"section {section} not in performance.md"


def test_tests_perf_holds_the_one_harness_and_the_helpers_it_imports():
    harness = (REPO / "tests" / "perf" / "run").read_text()
    for path in (REPO / "tests" / "perf").iterdir():
        if path.name in ("run", "__pycache__"):
            continue
        assert path.suffix == ".py" and f"import {path.stem}" in harness, (
            f"tests/perf/{path.name} is neither the harness nor a helper it imports: "
            "make it a section of tests/perf/run")
    for doc in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        text = doc.read_text()
        for script in re.findall(r"tests/perf/[\w.-]+", text):
            assert script == "tests/perf/run" or (REPO / script).exists(), (
                f"{doc.relative_to(REPO)} names {script}, which is gone: name its section of "
                "tests/perf/run")


def test_the_latest_harness_table_shows_the_harness_rows(monkeypatch):
    """The table performance.md shows is the one the harness prints: every row of it is a row of
    tests/perf/run, and the sections other tracks added (year, dashboard, countme) are in it."""
    # The rows name the harness's defaults; a knob set for a harness run must not move them.
    for knob in ("IDLE_SECS", "SOAK_SECS", "DASHBOARD_RUNS", "KILL_ROUNDS", "FUZZ_SCALE"):
        monkeypatch.delenv(knob, raising=False)
    loader = SourceFileLoader("perf_harness", str(REPO / "tests" / "perf" / "run"))
    spec = importlib.util.spec_from_loader("perf_harness", loader)
    harness = importlib.util.module_from_spec(spec)
    loader.exec_module(harness)
    latest = PERFORMANCE.split("## Latest run of the harness", 1)
    assert len(latest) == 2, "performance.md has no section 'Latest run of the harness'"
    table = re.findall(r"^\| (\w+) \| (.+?) \| .+ \| .+ \| .+ \|$",
                       latest[1].split("\n## ", 1)[0], re.M)
    known = {(r.section, r.what) for r in harness.ROWS}
    shown = {(section, what) for section, what in table if section != "Section"}
    # The harness prints a row per fuzz target beside its own rows.
    known |= {("fuzz", p.stem) for p in (REPO / "fuzz" / "fuzz_targets").glob("*.rs")}
    unknown = shown - known
    assert not unknown, f"rows the harness does not print: {unknown}"
    for section in ("year", "dashboard", "countme"):
        assert any(s == section for s, _ in shown), f"no {section} figures in the latest table"
