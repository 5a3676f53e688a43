"""Runs the headcount binary with --root / on a made-up cloud host, under strace.

Started by test_metadata.py inside `unshare --net --mount`: a network namespace with only
loopback, where 169.254.169.254 is a loopback address served by a stand-in of the provider's
metadata service (the one mock the project allows), and a private mount namespace where
/proc/cmdline, DMI (/sys/class), /run and the config directories are this scenario's. Nothing
of the real host changes: every file written is on a tmpfs mounted in the namespace (the
configuration goes to /run/headcount/config.d) or in the scenario's work directory. The binary gets no option or variable that points it elsewhere: it
asks 169.254.169.254 exactly as on a cloud machine.

Input: one JSON argument (see test_metadata.py). Output: one JSON object on stdout. A run with
`idle_secs` is not traced: after its reports it is left idle that long, and its threads, context
switches and RSS are taken before and after (the metadata section of tests/perf/run).
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

AWS_TOKEN = "AQAEAFx3Lm9xaWdzZXJ2aWNlLXRva2VuLWZvci10ZXN0cw=="
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def sh(*cmd):
    subprocess.run(cmd, check=True)


def mount_tmpfs(path):
    if os.path.isdir(path):
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def private_namespaces(outside):
    """Whether this process's mount and network namespaces differ from `outside`'s (those of the
    process that started `unshare`, as /proc/self/ns/* names them there)."""
    return bool(outside) and all(
        os.readlink(f"/proc/self/ns/{ns}") != outside.get(ns) for ns in ("mnt", "net"))


def set_up_host(scenario, work):
    # Everything below writes only to tmpfs mounted here, or to `work`; never to the real host.
    if not private_namespaces(scenario.get("outside")):
        sys.exit("metadata_host.py runs only inside `unshare --net --mount`")
    # Network: loopback only, with the link-local metadata address on it.
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "addr", "add", "169.254.169.254/32", "dev", "lo")
    # Files: this scenario's kernel command line, DMI, /run and configuration.
    cmdline = os.path.join(work, "cmdline")
    write(cmdline, scenario["cmdline"] + "\n")
    sh("mount", "--bind", cmdline, "/proc/cmdline")
    mount_tmpfs("/sys/class")
    for name, value in (scenario.get("dmi") or {}).items():
        write(f"/sys/class/dmi/id/{name}", value + "\n")
    # The scenario's configuration goes to /run (a tmpfs here); a host's own /etc/headcount or
    # /usr/lib/headcount is hidden, and none is created where the host has none.
    for d in ("/run", "/etc/headcount", "/usr/lib/headcount"):
        mount_tmpfs(d)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, item):
        with self.lock:
            self.items.append(item)

    def all(self):
        with self.lock:
            return list(self.items)


def metadata_handler(provider, answer, seen):
    """What each provider's service answers, with the checks it makes on a request."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen.add({"method": self.command, "path": self.path,
                      "headers": {k.lower(): v for k, v in self.headers.items()}})
            h = self.headers
            if provider == "aws":
                if self.command == "PUT" and self.path == "/latest/api/token":
                    if h.get("X-aws-ec2-metadata-token-ttl-seconds"):
                        return self.reply(200, AWS_TOKEN.encode())
                    return self.reply(400)
                if h.get("X-aws-ec2-metadata-token") != AWS_TOKEN:
                    return self.reply(401)
                if self.path == "/latest/meta-data/instance-type":
                    return self.reply(200, answer.encode())
            elif provider == "azure":
                if h.get("Metadata") != "true":
                    return self.reply(400)
                if self.path == "/metadata/instance/compute/vmSize?api-version=2017-08-01&format=text":
                    return self.reply(200, answer.encode())
            elif provider == "gcp":
                flavor = [("Metadata-Flavor", "Google")]
                if h.get("Metadata-Flavor") != "Google":
                    return self.reply(403, headers=flavor)
                if self.path == "/computeMetadata/v1/instance/machine-type":
                    return self.reply(200, answer.encode(), flavor)
            self.reply(404)

        do_GET = do_PUT = do_POST = handle_any

    return Handler


def receiver_handler(reports):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reports.add(body.decode())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def serve(address, handler):
    server = http.server.ThreadingHTTPServer(address, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def count_connections(listener, counter):
    while True:
        conn, _ = listener.accept()
        counter.add(1)
        conn.close()


def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
            return int(kids[0]) if kids else None
    except OSError:
        return None


def process_figures(pid):
    """Threads, context switches (all threads) and resident set size of a process."""
    tasks = os.listdir(f"/proc/{pid}/task")
    switches = 0
    for task in tasks:
        with open(f"/proc/{pid}/task/{task}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return {"threads": len(tasks), "context_switches": switches, "rss_kib": rss}


def run(binary, args, env, work, index, wait_reports, reports, idle_secs=0):
    """Runs the binary under strace, or, to measure it idle, without."""
    trace = os.path.join(work, f"trace-{index}.txt")
    log = os.path.join(work, f"stderr-{index}.txt")
    cmd = [binary, "--root", "/", *args]
    if not idle_secs:
        cmd = ["strace", "-f", "-qq", "-e", "trace=socket,connect", "-o", trace, *cmd]
    idle = None
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
        if wait_reports:
            deadline = time.monotonic() + 30
            while len(reports.all()) < wait_reports and time.monotonic() < deadline:
                time.sleep(0.05)
            # Whatever the daemon does next, it has done its sends; stop it as systemd would.
            time.sleep(0.3)
            pid = proc.pid if idle_secs else child_of(proc.pid)
            if pid and idle_secs:
                time.sleep(3)
                before = process_figures(pid)
                time.sleep(idle_secs)
                idle = {"before": before, "after": process_figures(pid), "secs": idle_secs}
            if pid:
                os.kill(pid, signal.SIGTERM)
        try:
            stdout, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
    trace_lines = []
    if os.path.exists(trace):
        with open(trace) as f:
            trace_lines = f.read().splitlines()
    with open(log, "rb") as f:
        stderr = f.read().decode(errors="replace")
    return {"args": args, "exit": proc.returncode, "stdout": stdout.decode(errors="replace"),
            "stderr": stderr, "trace": trace_lines, "idle": idle}


def main():
    scenario = json.loads(sys.argv[1])
    work = scenario["work"]
    set_up_host(scenario, work)
    seen, reports, proxied = Recorder(), Recorder(), Recorder()
    standin = scenario.get("standin")
    if standin:
        serve(("169.254.169.254", 80),
              metadata_handler(standin["provider"], standin["answer"], seen))
    rx = serve(("127.0.0.1", 0), receiver_handler(reports))
    endpoint = f"http://127.0.0.1:{rx.server_address[1]}/report"
    # A proxy in the environment: the sender may use it, the metadata client must not.
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(16)
    threading.Thread(target=count_connections, args=(proxy, proxied), daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    config = scenario["config"].replace("{endpoint}", endpoint)
    write("/run/headcount/config.d/50-test.toml", config)
    state = os.path.join(work, "state")
    os.makedirs(state, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STATE_DIRECTORY": state,
           "HEADCOUNT_LOG": "debug", "NO_PROXY": "127.0.0.1,localhost"}
    env.update({v: proxy_url for v in PROXY_VARS})
    runs = []
    for i, r in enumerate(scenario["runs"]):
        runs.append(run(scenario["binary"], r["args"], env, work, i, r.get("wait_reports"),
                        reports, r.get("idle_secs", 0)))
    json.dump({"runs": runs, "metadata_requests": seen.all(), "reports": reports.all(),
               "proxy_connections": len(proxied.all())}, sys.stdout)


if __name__ == "__main__":
    main()
