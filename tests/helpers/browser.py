"""A headless Chromium for tests, driven over the Chrome DevTools Protocol on a pipe (standard library only).

`--remote-debugging-pipe` makes the browser read protocol messages from its fd 3 and write replies and
events to its fd 4, each a JSON object ended by a NUL byte; no port is opened and nothing is downloaded.

    with Browser(find_browser(), tmp_path / "profile") as b:
        page = b.open("file:///…/report.html")      # waits for the load event
        page.evaluate("document.title")
        page.errors                                  # console errors, uncaught exceptions, failed loads
        png = page.screenshot()
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
         "--hide-scrollbars", "--remote-debugging-pipe")
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """$AUDIODIFF_BROWSER, else Debian's /usr/bin/chromium, else a Chromium or Chrome on PATH; None if none."""
    for name in (os.environ.get("AUDIODIFF_BROWSER"), *CANDIDATES):
        found = name and shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """The browser did not start, answered with an error, or did not answer in time."""


class Browser:
    """One headless browser process with a fresh profile in `profile_dir`; a context manager."""

    def __init__(self, executable: str, profile_dir: str | Path, width: int = 1200, height: int = 900,
                 timeout: float = 60.0):
        self.timeout = timeout
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._buffer = b""
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the child's ends, moved above fd 4 so that dup2 onto 3 and 4 neither is a no-op nor clobbers the other
        low = (to_browser_r, from_browser_w)
        to_browser_r, from_browser_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in low)
        for fd in low:
            os.close(fd)

        def as_fds_3_and_4() -> None:   # in the child, before exec: the pipe ends the protocol expects
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        args = [executable, *FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={width},{height}",
                "about:blank"]
        # close_fds=False keeps the inheritable fds 3 and 4 made above; every other fd Python opened is
        # close-on-exec anyway.
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(profile_dir).parent / f"{Path(profile_dir).name}.stderr.log"
        with open(self.log_path, "wb") as log:   # a file, not a pipe: a full pipe would stall the browser
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            close_fds=False, preexec_fn=as_fds_3_and_4)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.version = self.call("Browser.getVersion")["product"]

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- protocol
    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        """Send a command and wait for its reply (events read meanwhile are kept, see events)."""
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._receive(deadline, method)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def events(self, session: str | None = None) -> list[dict[str, Any]]:
        """Every event received so far for `session` (read without waiting for more)."""
        self.call("Browser.getVersion")   # a round trip: events sent before its reply are in by then
        return [e for e in self._events if e.get("sessionId") == session]

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from the browser to {waiting_for} within {self.timeout:g} s")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                err = self.log_path.read_text(errors="replace")[-2000:]
                raise BrowserError(f"the browser exited (code {self.process.poll()}) while waiting for "
                                   f"{waiting_for}: {err}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    # ----------------------------------------------------------------- pages
    def open(self, url: str) -> "Page":
        """A new tab showing `url`, with console, log, runtime and network events on; waits for its load."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        result = self.call("Page.navigate", {"url": url}, session=session)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        page = Page(self, session)
        # poll rather than wait for one load event, which could be the blank tab's own
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if page.evaluate("location.href !== 'about:blank' && document.readyState === 'complete'"):
                    return page
            except BrowserError:   # evaluated while the documents were swapped: ask again
                pass
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading within {self.timeout:g} s")
            time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("Browser.close")
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass


class Page:
    """One tab of a Browser, attached as a protocol session."""

    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate JavaScript in the page (awaiting a returned promise); its value, or BrowserError."""
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                        "returnByValue": True}, self.session, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"JavaScript error: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    @property
    def errors(self) -> list[str]:
        """Console errors and assertions, uncaught exceptions, error log entries and failed loads so far."""
        out = []
        for e in self.browser.events(self.session):
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                out.append("exception: " + str(details.get("exception", {}).get("description") or details.get("text")))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} ({p['entry'].get('url', '')})")
            elif e["method"] == "Network.loadingFailed":
                out.append(f"network: {p.get('errorText')} (request {p.get('requestId')})")
        return out

    @property
    def requested_urls(self) -> list[str]:
        """Every URL the page asked the network stack for so far (data: URIs included)."""
        return [e["params"]["request"]["url"] for e in self.browser.events(self.session)
                if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self) -> bytes:
        """The visible part of the page as PNG bytes."""
        data = self.browser.call("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        return base64.b64decode(data)
