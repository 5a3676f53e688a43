"""The install step and the documentation of config keys, checked without a container."""

import os
import pathlib
import re
import subprocess
import tempfile
import tomllib

from conftest import REPO, binary

DEFAULTS = REPO / "dist" / "config.d" / "10-defaults.toml"
# Every key the daemon accepts (the config contract of DESIGN.md and issue 4).
KEYS = {
    "collecting": ["level", "exclude", "known_os_names"],
    "reporting": ["endpoint", "proxy", "ca_file", "timeout_secs", "max_startup_delay_secs",
                  "max_rollover_delay_secs", "allow_plain_http"],
}


def test_vendor_fragment_sets_minimal_and_an_endpoint_and_shows_every_other_key():
    text = DEFAULTS.read_text()
    config = tomllib.loads(text)
    assert config["collecting"]["level"] == "minimal"
    assert config["reporting"]["endpoint"].startswith("https://")
    for section, keys in KEYS.items():
        for key in keys:
            assert re.search(rf"^#? ?{key} = ", text, re.M), f"{section}.{key} has no example in {DEFAULTS}"


def test_the_installed_vendor_fragment_is_a_valid_config():
    # headcount.conf(5) is checked against the code by crates/headcount/tests/manpage.rs; here the
    # fragment as installed goes through the real parser.
    with tempfile.TemporaryDirectory() as dest:
        subprocess.run(["make", "-s", "-C", str(REPO), "install", f"DESTDIR={dest}", "PREFIX=/usr",
                        f"BINARY={binary('headcount')}"], check=True)
        result = subprocess.run([str(binary("headcount")), "--root", dest, "check-config"],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "minimal" in result.stdout, result.stdout
        assert "https://counts.example.org/v1/report" in result.stdout, result.stdout


def test_make_install_lays_out_everything_under_destdir():
    with tempfile.TemporaryDirectory() as dest:
        subprocess.run(["make", "-s", "-C", str(REPO), "install", f"DESTDIR={dest}", "PREFIX=/usr",
                        f"BINARY={binary('headcount')}"], check=True)
        root = pathlib.Path(dest)
        installed = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        assert installed == [
            "usr/bin/headcount",
            "usr/lib/headcount/config.d/10-defaults.toml",
            "usr/lib/systemd/catalog/headcount.catalog",
            "usr/lib/systemd/system-preset/90-headcount.preset",
            "usr/lib/systemd/system/headcount.service",
            "usr/share/man/man5/headcount.conf.5",
            "usr/share/man/man8/headcount.8",
        ]
        assert (root / "usr/bin/headcount").stat().st_mode & 0o777 == 0o755
        # The login notice: a link into the unit's RuntimeDirectory, dangling until the service runs.
        links = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_symlink())
        assert links == ["usr/lib/motd.d/headcount"]
        assert os.readlink(root / "usr/lib/motd.d/headcount") == "/run/headcount/notice/motd"
        unit = (REPO / "systemd/headcount.service").read_text()
        assert "\nRuntimeDirectory=headcount/notice\n" in unit
        assert (root / "usr/lib/systemd/system/headcount.service").read_text() == \
            (REPO / "systemd/headcount.service").read_text()


def test_make_install_follows_bindir_into_the_unit():
    with tempfile.TemporaryDirectory() as dest:
        subprocess.run(["make", "-s", "-C", str(REPO), "install", f"DESTDIR={dest}", "PREFIX=/usr/local",
                        f"BINARY={binary('headcount')}"], check=True)
        unit = (pathlib.Path(dest) / "usr/local/lib/systemd/system/headcount.service").read_text()
        assert "ExecStart=/usr/local/bin/headcount daemon" in unit


def test_make_install_receiver_lays_out_the_receiver_with_its_packaged_config():
    with tempfile.TemporaryDirectory() as dest:
        make = ["make", "-s", "-C", str(REPO), "install-receiver", f"DESTDIR={dest}", "PREFIX=/usr",
                f"RECEIVER_BINARY={binary('headcount-receiver')}"]
        subprocess.run(make, check=True)
        root = pathlib.Path(dest)
        installed = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        assert installed == [
            "etc/headcount-receiver/receiver.toml",
            "usr/bin/headcount-receiver",
            "usr/lib/systemd/system/headcount-receiver.service",
        ]
        assert (root / "usr/bin/headcount-receiver").stat().st_mode & 0o777 == 0o755
        unit = (root / "usr/lib/systemd/system/headcount-receiver.service").read_text()
        assert unit == (REPO / "systemd/headcount-receiver.service").read_text()
        assert "--config %E/headcount-receiver/receiver.toml\n" in unit
        config = root / "etc/headcount-receiver/receiver.toml"
        assert tomllib.loads(config.read_text())["rate_limit"]["reports_per_second"] > 0
        # The installed file is what the real receiver starts with: it logs its limits and
        # listens (exit 78 would mean the file is refused).
        proc = subprocess.Popen([str(binary("headcount-receiver")), "serve", "--listen", "127.0.0.1:0",
                                 "--database", f"sqlite:{dest}/counts.db", "--config", str(config)],
                                stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stderr:
                if "listening on" in line:
                    break
            else:
                raise AssertionError(f"the receiver did not start, exit {proc.wait()}")
        finally:
            proc.terminate()
            proc.wait()
        # An admin's edited config survives a reinstall.
        config.write_text("[counts]\nk = 5\n")
        subprocess.run(make, check=True)
        assert config.read_text() == "[counts]\nk = 5\n"
        # Elsewhere than /etc, the unit names the file where it is.
        subprocess.run(make + ["PREFIX=/usr/local", "SYSCONFDIR=/usr/local/etc"], check=True)
        unit = (root / "usr/local/lib/systemd/system/headcount-receiver.service").read_text()
        assert ("ExecStart=/usr/local/bin/headcount-receiver serve --listen [::]:8080 --database "
                "sqlite:%S/headcount-receiver/counts.db --config /usr/local/etc/headcount-receiver/receiver.toml\n") in unit
