"""docs/development/reliability.md and performance.md against the tree: every proof the page
names exists, every proof that exists is on the page, and every fuzz target and harness section
is named where a reader looks for it."""

import ast
import re
import subprocess

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
