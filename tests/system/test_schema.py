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
    # Identifiers where a derived image or a private cloud writes them.
    ("os.id", "acme-host42"),
    ("os.variant_id", "web1.example.com"),
    ("os.version_id", "10.0.0.1"),
    ("os.version_id", "4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f10"),
    ("os.build", "43.20261102.3.0-52:54:00:12:34:56"),
    ("os.build", "416.94.408213637716-0"),
    ("original_os.build", "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"),
    ("platform.instance_type", "m5.large"),
    ("hardware.system_vendor", "Dell Inc."),
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


# (platform, instance type, valid): each platform's own names, and only its own.
INSTANCE_TYPES = [
    ("aws", "m5.large", True),
    ("aws", "other", True),
    ("aws", "i-0abc123def4567890", False),
    ("aws", "Standard_D2s_v5", False),
    ("azure", "Standard_D2s_v5", True),
    ("gcp", "n2d-standard-4", True),
    ("gcp", "projects/408213637716/machineTypes/n2d-standard-4", False),
    ("oraclecloud", "VM.Standard.A1.Flex", True),
    ("openstack", "m1.small", True),
    ("openstack", "acme-gpu-flavor", False),
    ("kubevirt", "u1.medium", True),
    ("kubevirt", "acme-large-vm", False),
    ("cloudstack", "other", True),
    ("cloudstack", "Medium Instance", False),
    ("metal", "other", False),
]


@pytest.mark.parametrize("platform,value,valid", INSTANCE_TYPES, ids=lambda v: str(v))
def test_an_instance_type_is_checked_against_its_platform(validator, platform, value, valid):
    report = mutate("platform", {"id": platform, "instance_type": value})
    if valid:
        validator.validate(report)
    else:
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(report)


def test_every_open_field_may_be_other(validator):
    report = full_report()
    report["os"] = {"id": "other", "variant_id": "other"}
    del report["original_os"]
    report["hardware"]["system_vendor"] = "other"
    validator.validate(report)
    report["os"] = {"id": "fedora", "version_id": "other", "build": "other"}
    report["original_os"] = {"build": "other"}
    validator.validate(report)


def test_a_vendors_names_are_in_the_schema_of_its_daemons(tmp_path):
    fragment = tmp_path / "etc/headcount/config.d/10-vendor.toml"
    fragment.parent.mkdir(parents=True)
    fragment.write_text('[collecting]\nknown_os_names = ["acme"]\n')
    out = subprocess.run([binary("headcount"), "--root", str(tmp_path), "schema"], check=True,
                         capture_output=True, text=True)
    schema = json.loads(out.stdout)
    cls = jsonschema.validators.validator_for(schema)
    report = full_report()
    report["os"]["id"] = "acme"
    cls(schema).validate(report)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(json.loads(subprocess.run(
            [binary("headcount"), "schema"], check=True, capture_output=True, text=True,
        ).stdout)).validate(report)
