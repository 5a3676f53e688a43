"""A real headless Chromium driven over the Chrome DevTools Protocol, with nothing to install.

Chromium talks CDP over a pair of pipes (`--remote-debugging-pipe`: it reads commands from fd 3
and writes answers and events to fd 4, each message JSON ended by a NUL byte), so no websocket
library, no chromedriver and no listening debug port are needed: only Debian's `chromium`.

    with Chromium(tmp_path) as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:8080/")
        page.wait_for("document.documentElement.dataset.state === 'ready'")
        page.evaluate("document.title")
"""

import base64
import json
import os
import shutil
import subprocess
import threading
import time

# The flags this machine needs (no GPU, no sandbox as root, no traffic of Chromium's own: no
# component updates, sync, QUIC probes or background requests), and a new empty profile.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
    "--hide-scrollbars", "--mute-audio", "--lang=en-US", "--force-device-scale-factor=1",
]


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(Exception):
    pass


class Chromium:
    """One browser process; commands wait for their answer, events are kept in order."""

    def __init__(self, workdir, width=1280, height=900):
        binary = chromium_binary()
        if binary is None:
            raise CdpError("chromium is not installed (Debian package chromium, see tests/apt-packages)")
        profile = os.path.join(workdir, "chromium-profile")
        os.makedirs(profile)
        to_chromium_r, self._to_chromium = os.pipe()
        self._from_chromium, from_chromium_w = os.pipe()

        def pipes_as_3_and_4():
            os.dup2(to_chromium_r, 3)
            os.dup2(from_chromium_w, 4)

        self._stderr = open(os.path.join(workdir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
            pass_fds=(3, 4), preexec_fn=pipes_as_3_and_4,
        )
        os.close(to_chromium_r)
        os.close(from_chromium_w)
        self._next_id = 0
        self._answers = {}
        self.events = []
        self._cond = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chromium, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            with self._cond:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cond.notify_all()

    def send(self, method, params=None, session=None, timeout=60):
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        msg = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chromium, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CdpError(f"{method}: no answer ({'chromium exited' if self._closed else 'timeout'})")
                self._cond.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def new_page(self, width=1280, height=900):
        """A tab in a new browser context: its own empty cache and cookies (a first visit)."""
        context = self.send("Target.createBrowserContext")["browserContextId"]
        target = self.send("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=10)
            except CdpError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self._to_chromium, self._from_chromium):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser, session, target):
        self.browser = browser
        self.session = session
        self.target = target

    def send(self, method, params=None, timeout=60):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def events(self, method=None):
        with self.browser._cond:
            return [e["params"] for e in self.browser.events
                    if e.get("sessionId") == self.session and (method is None or e["method"] == method)]

    def navigate(self, url):
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")

    def evaluate(self, expression, timeout=60):
        result = self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True,
        }, timeout=timeout)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=60):
        """Evaluates `expression` until it is truthy (an exception, as while a navigation
        replaces the document, counts as not yet)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except CdpError as e:
                value, last = None, e
            if value:
                return value
            time.sleep(0.05)
        raise CdpError(f"timed out after {timeout}s waiting for {expression} (last error: {last})")

    def screenshot(self, full_page=False):
        params = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def errors(self):
        """Everything the page reported as an error: console.error and console.assert, uncaught
        exceptions, and the browser's own log at level error (failed loads, CSP violations)."""
        out = []
        for e in self.events("Runtime.consoleAPICalled"):
            if e["type"] in ("error", "assert"):
                out.append("console." + e["type"] + ": " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in e["args"]))
        for e in self.events("Runtime.exceptionThrown"):
            d = e["exceptionDetails"]
            out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        for e in self.events("Log.entryAdded"):
            if e["entry"]["level"] == "error":
                out.append(f"log ({e['entry']['source']}): {e['entry']['text']} {e['entry'].get('url', '')}")
        return out
