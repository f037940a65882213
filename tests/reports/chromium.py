"""A small driver of real headless Chromium over the DevTools protocol, for the report tests.

Chromium is started with ``--remote-debugging-port=0`` (it listens on
127.0.0.1 only and writes the port it chose into ``DevToolsActivePort`` in
its fresh profile folder); one websocket (``websocket-client``) talks to the
browser, and each page is a target attached in "flat" mode, so every command
and event carries the page's ``sessionId``. A :class:`Page` records what a
reader would want to know went wrong: console errors, uncaught exceptions,
the browser's own error log (a failed resource load lands there), and every
URL the page requested.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Flags that work on a machine with no display and no outside network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
    "--hide-scrollbars",
)
TIMEOUT_S = 30.0


def find_chromium() -> str | None:
    """Debian's ``chromium`` (or another Chromium-family browser on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless browser process and its DevTools websocket."""

    def __init__(self, executable: str, profile: Path) -> None:
        import websocket

        profile.mkdir(parents=True, exist_ok=True)
        log = (profile.parent / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT_S
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Chromium did not start; see {profile.parent / 'chromium.log'}")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=TIMEOUT_S, suppress_origin=True)
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        self.ws.settimeout(TIMEOUT_S)
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """The first event ``method`` of ``session`` (waiting for it if it has not come yet)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method and event.get("sessionId") == session:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            reply = json.loads(self.ws.recv())
            if "method" in reply:
                self.events.append(reply)

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Page:
        """A new tab that has loaded ``url`` (its load event fired)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        self.send("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        return Page(self, target, session)

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.send("Browser.close")
        except Exception:  # the browser may already be gone; it is stopped below anyway
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Page:
    """One loaded tab."""

    browser: Chromium
    target: str
    session: str
    _closed: bool = field(default=False)

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [
            e["params"] for e in self.browser.events if e["method"] == method and e.get("sessionId") == self.session
        ]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and the browser's error log entries."""
        out = [
            " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            for p in self._events("Runtime.consoleAPICalled")
            if p["type"] in ("error", "assert")
        ]
        out += [p["exceptionDetails"].get("text", "exception") for p in self._events("Runtime.exceptionThrown")]
        out += [p["entry"]["text"] for p in self._events("Log.entryAdded") if p["entry"]["level"] == "error"]
        return out

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for (the document itself included)."""
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, self.session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (not only the viewport)."""
        metrics = self.browser.send("Page.getLayoutMetrics", session=self.session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        self.browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": int(size["width"]), "height": int(size["height"]), "deviceScaleFactor": 1, "mobile": False},
            self.session,
        )
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if not self._closed:
            self.browser.send("Target.closeTarget", {"targetId": self.target})
            self._closed = True
