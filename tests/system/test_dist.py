"""The install step and the documentation of config keys, checked without a container."""

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import tomllib

import pytest

from conftest import REPO, RELEASE, binary

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


def make_install(dest, *args, target="install"):
    """The Makefile's install step into `dest`, with the release binaries tests/run built."""
    subprocess.run(["make", "-s", "-C", str(REPO), target, f"DESTDIR={dest}", "PREFIX=/usr",
                    f"BINARY={binary('headcount')}",
                    f"RECEIVER_BINARY={binary('headcount-receiver')}", *args], check=True)


def installed_files(root):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*") if p.is_file())


DAEMON_FILES = [
    "usr/bin/headcount",
    "usr/lib/headcount/config.d/10-defaults.toml",
    "usr/lib/systemd/catalog/headcount.catalog",
    "usr/lib/systemd/system-preset/90-headcount.preset",
    "usr/lib/systemd/system/headcount.service",
    "usr/share/man/man5/headcount.conf.5",
    "usr/share/man/man8/headcount.8",
]
RECEIVER_FILES = [
    "etc/headcount-receiver/receiver.toml",
    "usr/bin/headcount-receiver",
    "usr/lib/systemd/system/headcount-receiver.service",
]


def test_the_installed_vendor_fragment_is_a_valid_config():
    # headcount.conf(5) is checked against the code by crates/headcount/tests/manpage.rs; here the
    # fragment as installed goes through the real parser.
    with tempfile.TemporaryDirectory() as dest:
        make_install(dest)
        result = subprocess.run([str(binary("headcount")), "--root", dest, "check-config"],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "minimal" in result.stdout, result.stdout
        assert "https://counts.example.org/v1/report" in result.stdout, result.stdout


def test_make_install_lays_out_everything_under_destdir():
    # One `make install` lays out everything the spec packages: the daemon and the receiver.
    with tempfile.TemporaryDirectory() as dest:
        make_install(dest)
        root = pathlib.Path(dest)
        assert installed_files(root) == sorted(DAEMON_FILES + RECEIVER_FILES)
        assert (root / "usr/bin/headcount").stat().st_mode & 0o777 == 0o755
        # The login notice: a link into the unit's RuntimeDirectory, dangling until the service runs.
        links = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_symlink())
        assert links == ["usr/lib/motd.d/headcount"]
        assert os.readlink(root / "usr/lib/motd.d/headcount") == "/run/headcount/notice/motd"
        unit = (REPO / "systemd/headcount.service").read_text()
        assert "\nRuntimeDirectory=headcount/notice\n" in unit
        assert (root / "usr/lib/systemd/system/headcount.service").read_text() == \
            (REPO / "systemd/headcount.service").read_text()


def test_each_half_installs_alone():
    for target, files in (("install-daemon", DAEMON_FILES), ("install-receiver", RECEIVER_FILES)):
        with tempfile.TemporaryDirectory() as dest:
            make_install(dest, target=target)
            assert installed_files(dest) == files, target


def test_make_install_follows_bindir_into_the_unit():
    with tempfile.TemporaryDirectory() as dest:
        make_install(dest, "PREFIX=/usr/local")
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
        packaged = tomllib.loads(config.read_text())
        assert packaged["rate_limit"]["reports_per_second"] > 0
        assert packaged["metrics"]["listen"].startswith("127.0.0.1:")
        # The installed file is what the real receiver starts with: it logs its limits and
        # listens (exit 78 would mean the file is refused). Only the metrics port is moved to a
        # free one, so that this test never depends on the packaged port being free.
        text = config.read_text()
        listen = f'listen = "{packaged["metrics"]["listen"]}"\n'
        assert listen in text
        started = root / "started.toml"
        started.write_text(text.replace(listen, 'listen = "127.0.0.1:0"\n'))
        proc = subprocess.Popen([str(binary("headcount-receiver")), "serve", "--listen", "127.0.0.1:0",
                                 "--database", f"sqlite:{dest}/counts.db", "--config", str(started)],
                                stderr=subprocess.PIPE, text=True)
        try:
            metrics = None
            for line in proc.stderr:
                if "metrics on http://" in line:
                    metrics = line.split("metrics on ")[1].strip()
                if "listening on" in line:
                    break
            else:
                raise AssertionError(f"the receiver did not start, exit {proc.wait()}")
            assert metrics, "the packaged config serves no metrics"
            scrape_like_prometheus(metrics)
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


def scrape_like_prometheus(url):
    """Fetches /metrics as the documented scrape config does and parses it with the Prometheus
    project's own Python parser (python3-prometheus-client)."""
    from urllib.request import urlopen

    import yaml
    from prometheus_client.parser import text_string_to_metric_families

    doc = (REPO / "docs/usage/receiver.md").read_text()
    scrape = yaml.safe_load(doc.split("## Metrics\n")[1].split("```yaml\n")[1].split("```")[0])
    job = scrape["scrape_configs"][0]
    assert url.endswith(job["metrics_path"]), (url, job)
    with urlopen(url, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = answer.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["headcount_receiver_reports_accepted"].type == "counter", families.keys()
    assert families["headcount_receiver_reports_accepted"].samples[0].value == 0
    assert families["headcount_receiver_commit_duration_seconds"].type == "histogram"
    assert families["headcount_receiver_connections_open"].type == "gauge"


def rpm_files(package):
    """(flags, mode, path) of every file in an RPM."""
    out = subprocess.run(["rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILENAMES}\\n]",
                          str(package)], check=True, capture_output=True, text=True).stdout
    # An empty flags column leaves the line starting with the separator.
    return [tuple(line.rsplit(" ", 2)) for line in out.splitlines()]


def test_the_spec_packages_what_make_install_lays_out():
    """rpmbuild (Debian's rpm) runs the spec's own %install and %files, with stand-ins for
    Fedora's cargo and systemd macros (tests/system/rpm-stub.macros): two packages, each file of
    `make install` in exactly one of them (rpmbuild fails on an installed file no %files lists),
    the receiver's config as %config(noreplace), each unit's scriptlets naming it."""
    for tool in ("rpmbuild", "rpm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: tests/run installs tests/apt-packages (rpm) as root")
    binary("headcount")
    binary("headcount-receiver")
    with tempfile.TemporaryDirectory() as top:
        top = pathlib.Path(top)
        (top / "SOURCES").mkdir()
        spec = (REPO / "dist/headcount.spec").read_text()
        version = re.search(r"^Version:\s+(\S+)", spec, re.M).group(1)
        # What %autosetup unpacks: the files the Makefile installs from.
        subprocess.run(["tar", "-czf", str(top / "SOURCES" / f"headcount-{version}.tar.gz"),
                        "--transform", f"s,^,headcount-{version}/,", "-C", str(REPO),
                        "Makefile", "README.md", "systemd", "dist", "docs",
                        "crates/headcount-receiver/src/dashboard/vendor"], check=True)
        build = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {top}",
                                "--define", f"host_release {RELEASE}",
                                "--load", str(REPO / "tests/system/rpm-stub.macros"),
                                str(REPO / "dist/headcount.spec")],
                               capture_output=True, text=True)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        rpms = {p.name.rsplit("-", 2)[0]: p for p in (top / "RPMS").rglob("*.rpm")}
        assert sorted(rpms) == ["headcount", "headcount-receiver"]
        packaged = {name: rpm_files(path) for name, path in rpms.items()}

        def plain(name):
            # Files of the package other than %doc, %license and build-id links.
            return sorted(path.lstrip("/") for flags, mode, path in packaged[name]
                          if mode.startswith("-") and not set(flags) & set("la")
                          and not path.startswith("/usr/share/doc/"))

        assert plain("headcount") == DAEMON_FILES
        assert plain("headcount-receiver") == RECEIVER_FILES
        # The login notice's link is the daemon's, as make install lays it out.
        links = [path for flags, mode, path in packaged["headcount"]
                 if mode.startswith("l") and "a" not in flags]
        assert links == ["/usr/lib/motd.d/headcount"], links
        flags = {path: flags for flags, _, path in packaged["headcount-receiver"]}
        assert set(flags["/etc/headcount-receiver/receiver.toml"]) == {"c", "n"}, flags
        assert "/etc/headcount-receiver" in flags
        assert any(p.endswith("/receiver.md") for p in flags)
        scripts = subprocess.run(["rpm", "-qp", "--scripts", str(rpms["headcount-receiver"])],
                                 check=True, capture_output=True, text=True).stdout
        for step in ("systemd_post", "systemd_preun", "systemd_postun_with_restart"):
            assert f"{step} headcount-receiver.service" in scripts, scripts
        check_bundled_uplot(rpms["headcount-receiver"], packaged["headcount-receiver"])
        # The daemon bundles nothing of the dashboard.
        assert "bundled(" not in rpm_query(rpms["headcount"], "--provides")


def rpm_query(package, *args):
    return subprocess.run(["rpm", "-qp", *args, str(package)], check=True, capture_output=True,
                          text=True).stdout


def check_bundled_uplot(package, files):
    """The receiver compiles in the dashboard's vendored uPlot: Fedora's guidelines for bundled
    JavaScript want `Provides: bundled(js-uplot) = <version>` of exactly the vendored version, its
    licence in License: and its licence file shipped as %license."""
    vendor = REPO / "crates/headcount-receiver/src/dashboard/vendor"
    source = dict(line.split(" ", 1) for line in (vendor / "SOURCE").read_text().splitlines()
                  if line and not line.startswith("#") and not line.startswith("sha256 "))
    assert source["package"] == "uplot", source
    provides = rpm_query(package, "--provides").splitlines()
    assert f"bundled(js-uplot) = {source['version']}" in provides, provides
    licence = rpm_query(package, "--qf", "%{LICENSE}")
    assert "MIT" in re.split(r"[ ()]+", licence), licence
    assert "The MIT License" in (vendor / "uPlot.LICENSE").read_text()
    shipped = [path for flags, mode, path in files if "l" in flags]
    # Fedora's rpm names the directory after the package; Debian's rpm adds the version.
    assert any(re.fullmatch(r"/usr/share/licenses/headcount-receiver(-[0-9.]+)?/uPlot\.LICENSE", p)
               for p in shipped), shipped
    spec = (REPO / "dist/headcount.spec").read_text()
    source_licence = re.search(r"^SourceLicense:\s+(.+)$", spec, re.M).group(1)
    assert "MIT" in source_licence.split(), source_licence
