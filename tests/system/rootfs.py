"""The cached Debian rootfs the systemd system tests boot.

Built once with debootstrap into a cache outside the clone (HEADCOUNT_TEST_CACHE, default
/var/cache/headcount-tests) and reused by every run; rebuilt only when missing. The directory name
carries a hash of what goes into it, so changing the package list builds a new one instead of
reusing a stale tree. Building takes about a minute and ~300 MB; it needs root and the Debian mirror.
"""

import fcntl
import hashlib
import os
import pathlib
import shutil
import subprocess

SUITE = "bookworm"
# What the tests need inside: systemd as PID 1 and journald, dbus for systemctl, python3 for the
# loopback receiver, curl for poking it, tinyproxy for the proxy case; procps for /bin/kill (the
# unit's ExecReload), man-db so that `systemd-analyze verify` can check Documentation=man:...,
# and ca-certificates because every real target has a system trust store.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "curl", "python3", "tinyproxy", "procps", "man-db",
            "ca-certificates")
DEFAULT_CACHE = pathlib.Path("/var/cache/headcount-tests")


def mirror() -> str:
    """The host's Debian mirror (the only registry these machines reach)."""
    sources = pathlib.Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    return "http://deb.debian.org/debian"


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("HEADCOUNT_TEST_CACHE", DEFAULT_CACHE))


def rootfs_path() -> pathlib.Path:
    key = hashlib.sha256(" ".join((SUITE, "minbase") + PACKAGES).encode()).hexdigest()[:12]
    return cache_dir() / f"{SUITE}-minbase-{key}"


def ensure_rootfs() -> pathlib.Path:
    """Return the cached rootfs, building it first when it is missing.

    Built into a temporary sibling and renamed into place, so an interrupted build never leaves a
    half-made tree that a later run would take for a good one. A lock file serializes concurrent
    test runs (several clones on one machine share the cache).
    """
    final = rootfs_path()
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "usr/lib/systemd/systemd").exists():
            _build(final)
    return final


def _build(final: pathlib.Path) -> None:
    partial = final.with_name(final.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            SUITE,
            str(partial),
            mirror(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # Nothing inside should start tinyproxy on its own: the proxy case starts its own instance.
    wants = partial / "etc/systemd/system/multi-user.target.wants/tinyproxy.service"
    if wants.is_symlink() or wants.exists():
        wants.unlink()
    # An empty machine-id: systemd makes a fresh one at each boot (each test case is a new machine).
    (partial / "etc/machine-id").write_text("")
    partial.chmod(0o755)
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    # Trees built from an older package list are never used again.
    for stale in final.parent.glob(f"{SUITE}-minbase-*"):
        if stale != final and stale.is_dir():
            shutil.rmtree(stale)


if __name__ == "__main__":
    print(ensure_rootfs())
