"""Drive a headless Chromium over the DevTools protocol on a pipe, with the standard library only.

Used by the report's browser tests and to take the README's screenshot (``python -m report.browser``).
Chromium's ``--remote-debugging-pipe`` reads JSON commands on file descriptor 3 and writes replies and
events on 4, each message ending with a NUL byte: no port, no driver binary to match to the browser's
version, no extra package. Only a few long-stable protocol methods are used (Target, Page, Runtime, Log,
Emulation).
"""

from __future__ import annotations

import argparse
import base64
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

#: Flags for a headless run as root that never reaches the network (no background services, no QUIC).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
    "--disable-dev-shm-usage",
)

#: Runs in the child: argv = [read_fd, write_fd, browser, args...]; puts the pipe ends on fds 3 and 4, execs.
_TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 10) for fd in sys.argv[1:3])\n"
    "for fd in {int(sys.argv[1]), int(sys.argv[2])} - {3, 4}: os.close(fd)\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class BrowserError(Exception):
    """Chromium could not be started, died, or did not answer in time."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable: ``$VOCALMINE_CHROMIUM`` or the first on ``PATH``; None if none."""
    explicit = os.environ.get("VOCALMINE_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless Chromium process; ``with Chromium(tmp_dir) as browser: page = browser.new_page()``."""

    def __init__(self, user_data_dir: str | Path, executable: str | None = None, width: int = 1400,
                 height: int = 1000, timeout_s: float = 30.0):
        self.executable = executable or find_chromium()
        if not self.executable:
            raise BrowserError("no Chromium found (install Debian's `chromium`, or set VOCALMINE_CHROMIUM)")
        self.user_data_dir = Path(user_data_dir)
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._next_id = 0
        self._buf = b""
        self.events: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Chromium":
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Chromium wants its pipe ends as fds 3 and 4. A tiny Python trampoline moves them there and execs the
        # browser: no preexec_fn (unsafe with threads, and at-fork handlers of other libraries may close fds
        # in the child), and the moves work whichever numbers the pipes got.
        log = open(self.user_data_dir / "chromium.log", "wb")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(to_child_r), str(from_child_w),
                 self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.user_data_dir}",
                 f"--window-size={self.width},{self.height}", "--remote-debugging-pipe", "about:blank"],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # its own process group: a hung browser is killed with its helpers
            )
        finally:
            log.close()
            os.close(to_child_r)
            os.close(from_child_w)
        try:
            self.send("Browser.getVersion")
        except BrowserError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                self._write({"id": self._new_id(), "method": "Browser.close", "params": {}})
                proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            # The process group this object started (Debian's wrapper, the browser and its helpers): end
            # stragglers now, so the profile folder can be removed.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(timeout=5)
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._proc = None

    # ---------------------------------------------------------------------------------------- protocol

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _write(self, message: dict[str, Any]) -> None:
        os.write(self._to_child, json.dumps(message).encode() + b"\0")

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited (log: {self.user_data_dir / 'chromium.log'})")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None,
             timeout_s: float | None = None) -> dict[str, Any]:
        """Send a command and return its ``result``; events read meanwhile are kept in ``events``."""
        msg_id = self._new_id()
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self._write(message)
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._on_event(reply)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event["method"] == "Page.javascriptDialogOpening":  # dismiss at once so the page never hangs
            self._write({"id": self._new_id(), "method": "Page.handleJavaScriptDialog",
                         "params": {"accept": False}, "sessionId": event.get("sessionId")})

    def wait_event(self, method: str, session_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        for event in self.events:
            if event["method"] == method and event.get("sessionId") == session_id and not event.get("_seen"):
                event["_seen"] = True
                return event
        while True:
            event = self._read(deadline)
            if "method" in event:
                self._on_event(event)
                if event["method"] == method and event.get("sessionId") == session_id:
                    event["_seen"] = True
                    return event

    def new_page(self) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session_id=session)
        page.set_viewport(self.width, self.height)
        return page


class Page:
    """One tab: navigate, evaluate JavaScript, collect console errors and dialogs, take screenshots."""

    def __init__(self, browser: Chromium, session_id: str):
        self.browser, self.session_id = browser, session_id

    def send(self, method: str, params: dict[str, Any] | None = None, timeout_s: float | None = None) -> dict:
        return self.browser.send(method, params, self.session_id, timeout_s)

    def set_viewport(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def navigate(self, url: str, timeout_s: float | None = None) -> None:
        """Open ``url`` and wait for its load event."""
        for event in self.browser.events:  # forget earlier loads of this tab
            if event.get("sessionId") == self.session_id and event["method"] == "Page.loadEventFired":
                event["_seen"] = True
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigate {url}: {result['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session_id, timeout_s)

    def evaluate(self, expression: str, await_promise: bool = False, timeout_s: float | None = None) -> Any:
        """Evaluate a JavaScript expression in the page; returns its value (JSON-serialisable)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": await_promise, "userGesture": True}, timeout_s)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript error: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}")
            time.sleep(0.05)

    def _events(self, *methods: str) -> list[dict[str, Any]]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session_id and e["method"] in methods]

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads, CSP violations) so far."""
        out = []
        for e in self._events("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded"):
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def dialogs(self) -> list[str]:
        """Messages of JavaScript dialogs (alert/confirm/prompt) the page opened (each dismissed at once)."""
        return [e["params"].get("message", "") for e in self._events("Page.javascriptDialogOpening")]

    def screenshot(self, path: str | Path, width: int | None = None, height: int | None = None) -> Path:
        """PNG of the page's top ``width`` x ``height`` CSS pixels (the whole page height when None)."""
        width = width or self.browser.width
        if height is None:
            # The page's height depends on the viewport (a vertical scrollbar takes width): settle it.
            measure = "Math.ceil(document.body.getBoundingClientRect().height)"
            for _ in range(4):
                height = int(self.evaluate(measure))
                self.set_viewport(width, height)
                if int(self.evaluate(measure)) == height:
                    break
        else:
            self.set_viewport(width, height)
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path


def screenshot_report(html: str | Path, png: str | Path, width: int = 1400, height: int | None = None,
                      expand_first_media_row: bool = True) -> Path:
    """Open a report page, expand the first pair with clips (so the picture shows a detail), save a PNG."""
    with tempfile.TemporaryDirectory(prefix="vocalmine-chromium-") as tmp, \
            Chromium(Path(tmp) / "profile", width=width) as browser:
        page = browser.new_page()
        page.navigate(Path(html).resolve().as_uri())
        page.wait_for("document.body.dataset.ready === '1'")
        if expand_first_media_row:
            # A flagged pair with clips if there is one, else the first pair with clips.
            page.evaluate("(() => { const rows = Array.from(document.querySelectorAll('#pairs-table tr.pair'))"
                          ".filter(tr => tr.querySelector('.has-media'));"
                          " const flagged = rows.find(tr => { const f = tr.querySelector('td[data-col=flags]');"
                          " return f && f.textContent; });"
                          " const tr = flagged || rows[0]; if (tr) tr.click(); })()")
        return page.screenshot(png, width=width, height=height)


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot a pair-quality report with headless Chromium.")
    parser.add_argument("html", help="report.html")
    parser.add_argument("png", help="output PNG")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=None, help="CSS pixels from the top (default: whole page)")
    args = parser.parse_args()
    print(screenshot_report(args.html, args.png, args.width, args.height))


if __name__ == "__main__":
    main()
