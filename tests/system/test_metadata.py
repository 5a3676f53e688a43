"""The release binary with --root / on a made-up AWS, Azure or GCP machine, watched by strace.

Each scenario runs in its own network and mount namespace (metadata_host.py): loopback only,
169.254.169.254 served by a stand-in of the provider's metadata service, and this scenario's
kernel command line, DMI and configuration. strace records every socket() and connect() the
binary makes, so "no network traffic" is checked where it would start: not one IPv4 or IPv6
socket is opened, not even one that could reach nothing. The positive scenarios show that the
same observer sees the metadata query when one is due.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import binary

HOST = pathlib.Path(__file__).with_name("metadata_host.py")
FCOS_ARGS = "BOOT_IMAGE=(hd0,gpt3)/ostree/fedora-coreos-4f0c/vmlinuz-6.17.7-300.fc43.x86_64 rw"
SENDING = (
    '[collecting]\nlevel = "minimal"\n\n[reporting]\nendpoint = "{endpoint}"\n'
    "max_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\ntimeout_secs = 5\n"
)
# An AWS instance on Xen (t2, m4, ...): its DMI holds no instance type.
XEN_DMI = {"sys_vendor": "Xen", "product_name": "HVM domU", "bios_vendor": "Xen",
           "bios_version": "4.11.amazon"}
NITRO_DMI = {"sys_vendor": "Amazon EC2", "product_name": "m7g.large", "bios_vendor": "Amazon EC2",
             "chassis_asset_tag": "Amazon EC2"}


# Where a scenario's files would land if the namespace leaked: they must look the same after it.
HOST_PATHS = ("/etc/headcount", "/run/headcount", "/usr/lib/headcount", "/sys/class/dmi/id")


def host_snapshot():
    """Each of HOST_PATHS: whether it exists and what it holds (file names and contents)."""
    snap = {}
    for top in HOST_PATHS:
        entries = []
        for dirpath, dirs, files in os.walk(top):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                try:
                    with open(path, "rb") as f:
                        entries.append((path, f.read(4096)))
                except OSError:
                    entries.append((path, None))
        snap[top] = (os.path.exists(top), entries)
    return snap


def on_host(tmp_path, *, platform, config, runs, dmi=None, standin=None, cmdline_extra=""):
    if os.geteuid() != 0:
        pytest.fail("the metadata system tests need root (network and mount namespaces)")
    for tool in ("unshare", "strace", "ip"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: tests/run installs tests/apt-packages as root")
    scenario = {
        "binary": str(binary("headcount")),
        "work": str(tmp_path),
        "cmdline": f"{FCOS_ARGS} ignition.platform.id={platform}{cmdline_extra}",
        "dmi": dmi,
        "config": config,
        "standin": standin,
        "runs": runs,
        "outside": outside_namespaces(),
    }
    before = host_snapshot()
    out = subprocess.run(
        ["unshare", "--net", "--mount", "--fork", sys.executable, str(HOST), json.dumps(scenario)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # The scenario's configuration, DMI and state stayed in the namespace and its work directory.
    assert host_snapshot() == before, "the scenario changed the real host's files"
    return json.loads(out.stdout)


def outside_namespaces():
    return {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("mnt", "net")}


def test_the_helper_refuses_to_run_outside_its_namespaces(tmp_path):
    scenario = json.dumps({"work": str(tmp_path), "outside": outside_namespaces()})
    out = subprocess.run([sys.executable, str(HOST), scenario],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "runs only inside" in out.stderr


def inet_sockets(run):
    """The IPv4 and IPv6 sockets a run opened (strace lines)."""
    return [line for line in run["trace"] if re.search(r"socket\(AF_INET6?,", line)]


def connects_to(run, address):
    return [line for line in run["trace"]
            if "connect(" in line and f'inet_addr("{address}")' in line]


def quiet(result):
    """Asserts that the binary opened no network socket at all (of any family but AF_UNIX:
    not IPv4 or IPv6, nor netlink or packet), and nobody saw a request."""
    for run in result["runs"]:
        assert inet_sockets(run) == [], (run["args"], run["trace"])
        sockets = [l for l in run["trace"] if "socket(" in l]
        assert all("socket(AF_UNIX," in l for l in sockets), (run["args"], sockets)
        assert not any("connect(" in l and "AF_UNIX" not in l for l in run["trace"]), run["trace"]
    assert result["metadata_requests"] == []
    assert result["reports"] == []
    assert result["proxy_connections"] == 0


PREVIEWS = [{"args": ["preview"]}, {"args": ["preview", "--json"]},
            {"args": ["preview", "--level", "full"]}]


@pytest.mark.parametrize("where", ["configuration", "kernel command line"])
def test_level_off_opens_no_socket(tmp_path, where):
    # Off in the configuration, or on the kernel command line over a configuration that sends.
    by_config = where == "configuration"
    result = on_host(
        tmp_path, platform="gcp",
        config=SENDING.replace('level = "minimal"', 'level = "off"') if by_config else SENDING,
        cmdline_extra="" if by_config else " headcount.level=off",
        standin={"provider": "gcp", "answer": "projects/1/machineTypes/e2-medium"},
        runs=[{"args": ["daemon"]}, *PREVIEWS, {"args": ["preview", "--level", "minimal"]}],
    )
    quiet(result)
    daemon = result["runs"][0]
    assert daemon["exit"] == 0, daemon["stderr"]
    assert "level is off" in daemon["stderr"]


def test_no_endpoint_opens_no_socket(tmp_path):
    result = on_host(
        tmp_path, platform="azure",
        config='[collecting]\nlevel = "minimal"\n',
        standin={"provider": "azure", "answer": "Standard_B2s"},
        runs=[{"args": ["daemon"]}, *PREVIEWS],
    )
    quiet(result)
    assert "no endpoint is configured" in result["runs"][0]["stderr"]
    for preview in result["runs"][1:]:
        assert preview["exit"] == 0, preview["stderr"]
        assert "the daemon would ask the azure metadata service" in preview["stderr"]
        assert "instance_type" not in preview["stdout"]


@pytest.mark.parametrize("provider,dmi,answer,reported,requests", [
    ("aws", XEN_DMI, "t2.micro", "t2.micro",
     [("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/instance-type")]),
    ("azure", None, "Standard_D4s_v5", "Standard_D4s_v5",
     [("GET", "/metadata/instance/compute/vmSize?api-version=2017-08-01&format=text")]),
    ("gcp", None, "projects/408213637716/machineTypes/n2d-standard-4", "n2d-standard-4",
     [("GET", "/computeMetadata/v1/instance/machine-type")]),
])
def test_a_stock_machine_asks_its_provider_once_per_run_never_through_the_proxy(
        tmp_path, provider, dmi, answer, reported, requests):
    result = on_host(
        tmp_path, platform=provider, dmi=dmi, config=SENDING,
        standin={"provider": provider, "answer": answer},
        runs=[{"args": ["daemon"], "wait_reports": 2}],
    )
    daemon = result["runs"][0]
    assert len(result["reports"]) == 2, daemon["stderr"]
    for body in result["reports"]:
        assert json.loads(body)["platform"] == {"id": provider, "instance_type": reported}
    # One query for the run's two reports, straight to the link-local address.
    assert [(r["method"], r["path"]) for r in result["metadata_requests"]] == requests
    assert len(connects_to(daemon, "169.254.169.254")) == len(requests), daemon["trace"]
    assert result["proxy_connections"] == 0
    assert "408213637716" not in daemon["stderr"]


def test_a_nitro_instance_reads_dmi_and_asks_nothing(tmp_path):
    result = on_host(
        tmp_path, platform="aws", dmi=NITRO_DMI, config=SENDING,
        standin={"provider": "aws", "answer": "c5.large"},
        runs=[{"args": ["daemon"], "wait_reports": 2}, {"args": ["preview"]}],
    )
    daemon, preview = result["runs"]
    assert [json.loads(b)["platform"]["instance_type"] for b in result["reports"]] == \
        ["m7g.large"] * 2
    assert result["metadata_requests"] == []
    assert connects_to(daemon, "169.254.169.254") == []
    assert connects_to(daemon, "127.0.0.1"), "the observer sees the report being sent"
    assert "Read from: the DMI product name" in preview["stdout"]


def test_preview_asks_as_the_daemon_would_and_says_so(tmp_path):
    result = on_host(
        tmp_path, platform="gcp", config=SENDING,
        standin={"provider": "gcp", "answer": "projects/408213637716/machineTypes/e2-medium"},
        runs=[{"args": ["preview"]}],
    )
    preview = result["runs"][0]
    assert "\nplatform.instance_type: e2-medium\n" in preview["stdout"], preview["stderr"]
    assert "Read from: the gcp metadata service at 169.254.169.254" in preview["stdout"]
    assert len(result["metadata_requests"]) == 1
    assert result["reports"] == [], "preview never sends"


def test_identifiers_in_the_answer_reach_neither_report_nor_log(tmp_path):
    planted = "projects/408213637716/machineTypes/fcos-worker-2.c.my-project-1234.internal"
    result = on_host(
        tmp_path, platform="gcp", config=SENDING,
        standin={"provider": "gcp", "answer": planted},
        runs=[{"args": ["daemon"], "wait_reports": 2}],
    )
    daemon = result["runs"][0]
    assert len(result["reports"]) == 2, daemon["stderr"]
    assert len(result["metadata_requests"]) == 1
    for body in result["reports"]:
        assert json.loads(body)["platform"] == {"id": "gcp", "instance_type": "other"}
    # Not in a report, not in the daemon's log, even at debug.
    for part in ("408213637716", "fcos-worker-2", "my-project-1234"):
        assert part not in daemon["stderr"]
        assert all(part not in b for b in result["reports"])
