"""The JSON Schema printed by `headcount schema`, checked by an independent validator.

Every golden preview body must validate; bodies outside the contract must not. The validator is
Python's jsonschema, not our own code, so a schema that documents something other than what the
daemon sends is caught here.
"""

import copy
import json
import subprocess

import jsonschema
import pytest

from conftest import REPO, binary

GOLDEN = sorted((REPO / "tests" / "golden" / "preview").glob("*.json"))


@pytest.fixture(scope="module")
def validator():
    out = subprocess.run([binary("headcount"), "schema"], check=True, capture_output=True, text=True)
    schema = json.loads(out.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_there_are_goldens_of_every_fixture():
    kinds = {p.name.split(".")[0] for p in GOLDEN}
    fixtures = {p.name for p in (REPO / "tests" / "fixtures").iterdir() if p.is_dir()}
    assert kinds == fixtures and len(fixtures) >= 8


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_preview_validates(validator, path):
    validator.validate(json.loads(path.read_text()))


def full_report():
    return json.loads((REPO / "tests/golden/preview/metal-fcos-x86_64.full.json").read_text())


def mutate(path, value):
    report = full_report()
    *parents, last = path.split(".")
    node = report
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return report


DELETE = object()

INVALID = [
    ("extra", 1),
    ("os.hostname", "web1"),
    ("hardware.mac", "52:54:00:12:34:56"),
    ("os", None),
    ("os.build", None),
    ("schema", 2),
    ("schema", "1"),
    ("window", "yearly"),
    ("period", "2026-11-23T10:00:00Z"),
    ("period", "2026-W4"),
    ("level", "off"),
    ("platform.id", "mycloud"),
    ("platform.instance_type", "10.0.0.1:80"),
    ("platform.instance_type", "projects/408213637716/machineTypes/n2"),
    ("platform.instance_type", "x" * 49),
    ("os.id", "Fedora Linux"),
    ("os.build", "43 built by alice@example.com"),
    ("arch", "X86_64"),
    ("age_bucket", 0),
    ("age_bucket", 5),
    ("age_bucket", "4"),
    ("hardware.cpus", 64),
    ("hardware.cpus", "64"),
    ("hardware.memory_gib", "256"),
    ("hardware.secure_boot", "yes"),
    ("hardware.system_vendor", "ACME <ops@example.com>"),
    ("hardware.disks.nvme", 2),
    ("hardware.disks.total_gib", DELETE),
    ("containers.podman.running", "3"),
    ("network.interfaces.ethernet", DELETE),
    ("network.interfaces.eth0", "1"),
    ("packages.layered", 3),
    ("level", DELETE),
]


@pytest.mark.parametrize("path,value", INVALID, ids=[f"{p}={v!r}"[:60] for p, v in INVALID])
def test_outside_the_contract_is_rejected(validator, path, value):
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(mutate(path, value))


def test_the_untouched_sample_is_valid(validator):
    # The mutations above start from a valid report: a rejection is the mutation's doing.
    validator.validate(copy.deepcopy(full_report()))
