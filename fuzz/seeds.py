#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/corpus/TARGET/seed-*, from the real
files of the repository: the fixture machines (tests/fixtures), the golden reports
(tests/golden/preview), the shipped and documented config fragments, plus hand-written HTTP
requests and answers. The fuzzers' own finds sit beside them (named by their SHA-1).

Rerun after a fixture changes: /usr/bin/python3 fuzz/seeds.py
"""

import pathlib
import re
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
CORPUS = FUZZ / "corpus"
FIXTURES = REPO / "tests" / "fixtures"


def record(b):
    return struct.pack("<H", len(b)) + b


def listed(target, const):
    """The string list `const` of fuzz_targets/TARGET.rs (the indices the input bytes pick)."""
    text = (FUZZ / "fuzz_targets" / f"{target}.rs").read_text()
    body = re.search(rf"const {const}: &\[&str\] = &\[(.*?)\];", text, re.S).group(1)
    return re.findall(r'"([^"]*)"', body)


def fixtures():
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def seeds():
    yield "state_file", "both", b'{"daily":"2026-11-23","monthly":"2026-11"}\n'
    yield "state_file", "daily", b'{"daily":"2026-11-23"}\n'
    yield "state_file", "empty", b"{}\n"
    yield "state_file", "torn", b'{"daily":"2026-'

    for golden in sorted((REPO / "tests" / "golden" / "preview").glob("*.json")):
        yield "report", golden.stem, golden.read_bytes().rstrip(b"\n")

    for i, q in enumerate([b"window=daily&period=2026-11-23", b"window=monthly&period=2026-11",
                           b"window=daily", b"period=2026-W48&window=weekly",
                           b"window=d%61ily&period=2026-11-23"]):
        yield "query", str(i), q

    body = (REPO / "tests" / "golden" / "preview" / "aws-fcos-x86_64.minimal.json").read_bytes()
    body = body.rstrip(b"\n")
    head = (b"POST /v1/report HTTP/1.1\r\nhost: count.example.org\r\n"
            b"content-type: application/json\r\n")
    length = head + b"content-length: %d\r\n\r\n" % len(body) + body
    chunked = (head + b"transfer-encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    smuggled = (head + b"content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
    counts = b"GET /v1/counts?window=daily HTTP/1.1\r\nhost: x\r\n\r\n"
    for name, raw in [("length", length), ("chunked", chunked), ("smuggled", smuggled),
                      ("pipelined", length + counts + chunked)]:
        yield "http_framing", name, b"\x00" + raw
        cuts = [1, 17, len(head), len(raw) // 2]
        yield "http_framing", name + "-cut", bytes([len(cuts)]) + b"".join(
            struct.pack("<H", c) for c in cuts) + raw

    for name, endpoint, status, followed, location, retry in [
        ("307-path", 0, 307, 0, b"/v2/report", b"120"),
        ("308-absolute", 1, 308, 1, b"https://count.example.org:8443/v2", b""),
        ("307-other-origin", 0, 307, 0, b"https://evil.example/", b""),
        ("303", 2, 303, 0, b"/x", b""),
        ("429-date", 3, 429, 0, None, b"Wed, 25 Nov 2026 08:49:37 GMT"),
        ("503-rfc850", 0, 503, 0, None, b"Wednesday, 25-Nov-26 08:49:37 GMT"),
    ]:
        loc = struct.pack("<H", 0xFFFF) if location is None else record(location)
        yield "http_answer", name, (bytes([endpoint]) + struct.pack("<H", status)
                                    + bytes([followed]) + loc + retry)

    configs = sorted(p for p in (REPO / "dist").rglob("*.toml") if "config.d" in p.parts)
    configs += sorted((REPO / "docs" / "examples" / "root").rglob("*.toml"))
    for p in configs:
        yield "config_fragments", p.name, b"\x00" + record(p.read_bytes())
    everything = b"".join(record(p.read_bytes()) for p in configs)
    yield "config_fragments", "all", b"\x00" + everything
    yield "config_fragments", "all-opt-out", b"\x01" + everything
    yield "config_fragments", "proxy", b"\x02" + record(b"proxy.example.org") + everything

    platforms = listed("afterburn", "PLATFORMS")
    files = listed("proc_sys", "FILES")
    for fx in fixtures():
        for rel, flag in (("etc/os-release", 1), ("usr/lib/os-release", 2)):
            if (fx / rel).is_file():
                yield "os_release", f"{fx.name}-{flag}", bytes([flag]) + (fx / rel).read_bytes()
        if (fx / "proc/cmdline").is_file():
            yield "kernel_cmdline", fx.name, (fx / "proc/cmdline").read_bytes()
        afterburn = fx / "run/metadata/afterburn"
        if afterburn.is_file():
            platform = fx.name.split("-")[0]
            index = platforms.index(platform) if platform in platforms else 0
            yield "afterburn", fx.name, bytes([index]) + afterburn.read_bytes()
        for rel, flag in ((".coreos-aleph-version.json", 1), (".bootc-aleph.json", 2)):
            if (fx / "sysroot" / rel).is_file():
                yield "aleph", fx.name, bytes([flag]) + (fx / "sysroot" / rel).read_bytes()
        # The first 8 KiB of each file (cpuinfo of 64 CPUs is far longer and says nothing new).
        pairs = b"".join(bytes([i]) + record((fx / f).read_bytes()[:8192])
                         for i, f in enumerate(files) if (fx / f).is_file())
        if pairs:
            yield "proc_sys", fx.name, pairs


def main():
    written = 0
    for target, name, data in seeds():
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        (d / f"seed-{name}").write_bytes(data)
        written += 1
    print(f"{written} seeds under {CORPUS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
