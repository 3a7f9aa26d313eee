"""The HTML report in a real headless Chromium: it renders its charts offline, with no console
error and no network request, and a screenshot of it is not blank.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: commands
on fd 3, replies and events on fd 4, NUL-separated JSON). It runs in a process group of its own,
killed by that group in a ``finally``. Without Chromium the test is skipped, except under CI
(``CI=true``), where ``scripts/browser.sh`` must have installed it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tandem.trace.figures import kind_colours
from tandem.trace.report import write_report
from tandem.trace.timeline import MIXED
from tests.trace.test_report import real_run_with_failures, simulated_run

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe")
TIMEOUT = 30.0
# Run in the child: put the pipe ends on fds 3 and 4, then become Chromium (same pid, so the
# process group started for it is Chromium's).
_EXEC_ON_PIPE = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                 "os.execv(sys.argv[3], sys.argv[3:])")


def chromium() -> str | None:
    """The Chromium to use: ``$TANDEM_CHROMIUM``, ``/usr/bin/chromium``, or one on PATH."""
    for c in (os.environ.get("TANDEM_CHROMIUM"), "/usr/bin/chromium",
              shutil.which("chromium"), shutil.which("chromium-browser")):
        if c and os.access(c, os.X_OK):
            return c
    return None


class Browser:
    """One headless Chromium in its own process group, spoken to over the DevTools pipe."""

    def __init__(self, exe: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        # the child's ends go to fds >= 10 first, so moving them onto 3 and 4 clobbers neither
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, resp_w)]
        os.close(cmd_r)
        os.close(resp_w)
        self._log = open(profile.parent / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _EXEC_ON_PIPE, *map(str, high), exe, *FLAGS,
             f"--user-data-dir={profile}", "about:blank"],
            pass_fds=high, start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=self._log)
        for fd in high:
            os.close(fd)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT)
        os.close(self._cmd_w)
        os.close(self._resp_r)
        self._log.close()

    def _recv(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._resp_r], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._resp_r, 1 << 20)
            if not chunk:
                raise EOFError(f"Chromium closed its DevTools pipe (its output: {self._log.name})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        out: dict[str, Any] = json.loads(msg)
        return out

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._recv(deadline))

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression,
                         returnByValue=True)["result"].get("value")

    def open(self, url: str, width: int = 1400, height: int = 1800) -> None:
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page,
                                 flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def wait_for(self, expression: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"never true in the page: {expression}")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot",
                                                    format="png")["data"]))
        return path

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p['args']]}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"uncaught: {p['exceptionDetails']}")
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')}")
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]


def png_colours(path: Path) -> dict[str, int]:
    """Pixels per colour (``"#rrggbb"``) of a PNG."""
    with Image.open(path) as im:
        counts = im.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return {"#{:02x}{:02x}{:02x}".format(*rgb): n for n, rgb in counts}


@pytest.fixture
def browser_exe() -> str:
    exe = chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Chromium: scripts/browser.sh should have installed it")
        pytest.skip("no Chromium here (run scripts/browser.sh, or set TANDEM_CHROMIUM)")
    return exe


def test_report_renders_offline(browser_exe: str, tmp_path: Path) -> None:
    measured = real_run_with_failures(tmp_path / "measured")
    predicted = simulated_run(tmp_path / "predicted")
    out = write_report(measured, compare=predicted, out=tmp_path / "report.html").html
    profile = Path(tempfile.mkdtemp(dir=tmp_path))
    b = Browser(browser_exe, profile)
    try:
        b.open(out.resolve().as_uri())
        assert b.wait_for("document.body.dataset.rendered") == "yes", b.errors()
        charts = b.evaluate("document.querySelectorAll('.js-plotly-plot svg.main-svg').length")
        fills = b.evaluate("Array.from(document.querySelectorAll('#timeline0 path.js-fill'))"
                           ".filter(p => (p.getAttribute('d') || '').length > 10).length")
        legend = b.evaluate("Array.from(document.querySelectorAll('#timeline0 .legendtext'))"
                            ".map(t => t.textContent)")
        lines = b.evaluate("document.querySelectorAll('#utilisation path.js-line').length")
        b.evaluate("document.getElementById('timeline0').scrollIntoView()")
        shot = b.screenshot(tmp_path / "report.png")
        errors, requests = b.errors(), b.requests()
    finally:
        b.close()
    assert errors == []
    assert requests and all(u.startswith(("file:", "data:", "blob:")) for u in requests), \
        requests
    assert charts >= 3                 # two timelines and the utilisation chart
    assert fills >= 3                  # one filled polygon per kind of the measured run
    assert {"simulation", "training", "inference", "steering"} <= set(legend)
    assert lines >= 2                  # cores and GPUs of at least one run
    colours = png_colours(shot)
    assert len(colours) >= 8, "a blank screenshot"
    for kind, colour in kind_colours(["simulation", "training", "inference"]).items():
        if kind != MIXED:             # the bars' fill, a solid colour, shows on screen
            assert colours.get(colour, 0) >= 500, (kind, colour, shot)
