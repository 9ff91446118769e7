"""Fixtures for driving Gatehouse's server-rendered pages in headless Chromium.

Every test gets its own `gatehouse serve` (fresh data directory, free loopback port, no SMTP
relay so mail is written as .eml files under <data>/mail) and its own browser profile, so the
flows cannot lean on each other. The browser is the Debian `chromium` package driven by
Debian's `chromedriver` through Selenium, with both paths given so Selenium never tries to
download anything.

`Browser.shot(name)` saves the current page at desktop (1280x900) and phone (390x844) width as
target/ui-screenshots/<name>-desktop.png and <name>-phone.png (the whole page, not only the
first screen). When a test fails, every browser it opened leaves a screenshot and the page's
HTML under target/ui-screenshots/failures/, and the report shows the page's address and text,
the browser's console errors and the server's log.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import os
import re
import struct
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

import pytest
from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# The server and the gatehouse CLI shared by the Python suites.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyharness"))
import gatehouse_harness as harness  # noqa: E402
from gatehouse_harness import PASSWORD, REPO_ROOT, unique  # noqa: E402,F401 (tests import these)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT_DIR = REPO_ROOT / "target" / "ui-screenshots"
FAILURE_DIR = SCREENSHOT_DIR / "failures"
#: (label, width, height, mobile emulation, device pixel ratio)
SIZES = (("desktop", 1280, 900, False, 1), ("phone", 390, 844, True, 2))
WAIT_S = 15.0
MAIL_TIMEOUT_S = 15.0
#: Pages whose layout is wider than the phone screen (page name -> width in CSS pixels), as
#: `Browser.shot` measured them; test_screenshots.py reports them.
PHONE_OVERFLOW: dict = {}

#: Verification codes have 6 digits, password-reset codes 8.
CODE_RE = re.compile(r"Your code:\s*(\d{6,10})")
SETUP_LINK_RE = re.compile(r"(https?://\S+/setup\?token=[0-9A-Za-z_-]+)")


# ---------------------------------------------------------------------------
# The server


class Server(harness.Server):
    def url(self, path: str) -> str:
        return self.base_url + path

    def mail_names(self) -> set:
        """The names of the .eml files written so far (to look only at newer ones later)."""
        mail_dir = self.data_dir / "mail"
        return {p.name for p in mail_dir.glob("*.eml")} if mail_dir.is_dir() else set()

    def wait_mail(self, address: str, link_path: str, seen: set = frozenset()) -> Tuple[str, str]:
        """(code, link) of the newest message to `address` not in `seen` whose plain-text
        body has a `<public_url>/<link_path>?token=...` link; fails the test after
        MAIL_TIMEOUT_S."""
        mail_dir = self.data_dir / "mail"
        link_re = re.compile(re.escape(self.base_url + link_path) + r"\?token=[0-9A-Za-z_-]+")
        deadline = time.monotonic() + MAIL_TIMEOUT_S
        while True:
            found = []
            for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
                if path.name in seen:
                    continue
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address.lower() not in str(msg["To"]).lower():
                    continue
                part = msg.get_body(preferencelist=("plain",))
                text = part.get_content() if part is not None else ""
                link = link_re.search(text)
                code = CODE_RE.search(text)
                if link:
                    found.append((code.group(1) if code else "", link.group(0), path.name))
            if found:
                code, link, name = found[-1]
                assert code, f"{name} has the link but no 6-digit 'Your code:'"
                return code, link
            if time.monotonic() > deadline:
                pytest.fail(f"no mail to {address} with a {link_path} link in {mail_dir} within "
                            f"{MAIL_TIMEOUT_S:.0f}s", pytrace=False)
            time.sleep(0.1)

    def setup_link(self) -> str:
        """The first-run setup link: not on a terminal, the server writes it to a file in its
        data directory readable by its user alone, and never into the log."""
        path = self.data_dir / "setup-link"
        assert path.is_file(), f"no {path}:\n{harness.tail(self.log_path)}"
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        text = path.read_text()
        match = SETUP_LINK_RE.search(text)
        assert match, f"{path} holds no /setup?token= link: {text!r}"
        log = self.log_path.read_text(errors="replace")
        assert match.group(1).split("token=")[1] not in log, "the setup token is in the log"
        return match.group(1)


@pytest.fixture
def server(tmp_path, request) -> Iterator[Server]:
    """A fresh `gatehouse serve` for this test alone."""
    srv = harness.start_server(tmp_path, Server)
    request.node._web_server = srv
    yield srv
    harness.stop(srv.proc)


# ---------------------------------------------------------------------------
# The browser


class Browser:
    """One headless Chromium (its own profile, so its own cookies) and the steps the tests
    take with it. Every wait is explicit (WebDriverWait)."""

    def __init__(self, driver: webdriver.Chrome, base_url: str, label: str):
        self.driver = driver
        self.base_url = base_url
        self.label = label

    # -- navigation and waits

    def open(self, path: str) -> None:
        self.driver.get(path if path.startswith("http") else self.base_url + path)

    @property
    def path(self) -> str:
        return urlparse(self.driver.current_url).path

    @property
    def query(self) -> str:
        return urlparse(self.driver.current_url).query

    def wait(self, condition, message: str, timeout: float = WAIT_S):
        # Chromium now and then answers a lookup with "Node with given id does not belong to
        # the document" while a page is being replaced: a passing state, so the wait retries
        # it like a missing element (a lasting error still ends in the timeout's message).
        try:
            return WebDriverWait(
                self.driver, timeout,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException,
                                    WebDriverException),
            ).until(condition)
        except TimeoutException:
            raise AssertionError(f"{message} (waited {timeout:.0f}s; at {self.driver.current_url})"
                                 ) from None

    def el(self, css: str) -> WebElement:
        """The element matching `css`, once it is in the page."""
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, css)),
                         f"no element {css!r}")

    def els(self, css: str) -> List[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def has(self, css: str) -> bool:
        return bool(self.els(css))

    def text(self, css: str) -> str:
        return self.el(css).text.strip()

    def body_text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_path(self, path: str) -> None:
        self.wait(lambda d: urlparse(d.current_url).path == path,
                  f"the browser did not reach {path}")

    # -- forms

    def fill(self, css: str, value: str) -> None:
        field = self.el(css)
        field.clear()
        field.send_keys(value)

    def submit(self, css: str) -> None:
        """Click the button `css` and wait for the page it loads."""
        old = self.driver.find_element(By.TAG_NAME, "html")

        def click(d) -> bool:
            # Found afresh on every try: Chromium now and then drops the node id of an element
            # found a moment before ("Node with given id does not belong to the document").
            try:
                button = d.find_element(By.CSS_SELECTOR, css)
                if not (button.is_displayed() and button.is_enabled()):
                    return False
                button.click()
                return True
            except (NoSuchElementException, StaleElementReferenceException):
                return False
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return False
                raise

        self.wait(click, f"no clickable {css!r}")
        self.wait(EC.staleness_of(old), f"clicking {css!r} loaded no new page")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete",
                  "the page did not finish loading")

    def signin(self, login: str, password: str) -> None:
        self.open("/signin")
        self.fill("#login", login)
        self.fill("#password", password)
        self.submit("#signin")

    def signout(self) -> None:
        self.submit("#signout")

    # -- what the page did

    def severe_console(self) -> List[dict]:
        """The browser console's SEVERE entries since the last call (reading empties it)."""
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def shot(self, name: str) -> None:
        """Save the whole page at desktop and at phone width under target/ui-screenshots/."""
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        try:
            for label, width, height, mobile, scale in SIZES:
                self._capture(SCREENSHOT_DIR / f"{name}-{label}.png", width, height, mobile,
                              scale)
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def _capture(self, path: Path, width: int, height: int, mobile: bool, scale: int) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})
        full_width, full_height = self.driver.execute_script(
            "const e = document.documentElement;"
            " return [e.scrollWidth, Math.max(e.scrollHeight, document.body.scrollHeight)]")
        if mobile and full_width > width:
            PHONE_OVERFLOW[path.name] = full_width
        # The whole page, including whatever sticks out sideways (so a person sees it).
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": max(width, int(full_width)),
                     "height": max(height, int(full_height)), "scale": 1}})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def save_failure(self, test_name: str) -> str:
        """Screenshot and HTML of the current page for a failed test; returns a summary."""
        FAILURE_DIR.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^0-9A-Za-z_.-]+", "_", f"{test_name}-{self.label}")
        lines = [f"browser {self.label!r} at {self.driver.current_url}"]
        try:
            self.driver.save_screenshot(str(FAILURE_DIR / f"{stem}.png"))
            (FAILURE_DIR / f"{stem}.html").write_text(self.driver.page_source)
            lines.append(f"saved {FAILURE_DIR / stem}.png and .html")
            lines.append("page text:\n" + self.body_text()[:3000])
            severe = self.severe_console()
            if severe:
                lines.append("console errors:\n" + "\n".join(e["message"] for e in severe))
        except Exception as e:  # pragma: no cover - diagnostics only
            lines.append(f"<could not record the page: {e}>")
        return "\n".join(lines)


def chromium_options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--lang=en-US", "--no-first-run",
                "--disable-extensions", "--password-store=basic",
                "--disable-features=PasswordLeakDetection,Translate"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "credentials_enable_service": False,
        "profile.password_manager_enabled": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture
def new_browser(request) -> Iterator[Callable[..., Browser]]:
    """Factory: a new headless Chromium with its own profile, pointed at `server`
    (`new_browser(server, "admin")`); all are closed after the test."""
    browsers: List[Browser] = []
    request.node._web_browsers = browsers

    def make(srv: Server, label: Optional[str] = None) -> Browser:
        if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
            pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing "
                        "(Debian: apt-get install chromium chromium-driver)", pytrace=False)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                  options=chromium_options())
        b = Browser(driver, srv.base_url, label or f"browser{len(browsers) + 1}")
        browsers.append(b)
        return b

    yield make
    for b in browsers:
        try:
            b.driver.quit()
        except Exception:  # pragma: no cover - best effort
            pass


@pytest.fixture
def browser(server, new_browser) -> Browser:
    """One browser pointed at this test's server."""
    return new_browser(server, "browser")


# ---------------------------------------------------------------------------
# TOTP (RFC 6238: SHA-1, 30-second steps, 6 digits)


def totp_step(at: Optional[float] = None) -> int:
    return int((time.time() if at is None else at) // 30)


def totp(secret_b32: str, step: Optional[int] = None) -> str:
    secret = re.sub(r"\s+", "", secret_b32).upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = totp_step() if step is None else step
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def wait_for_next_step(after: int) -> int:
    """Sleep until the TOTP step after `after` has begun (a code is good once per step)."""
    target = (after + 1) * 30
    delay = target - time.time()
    if delay > 0:
        time.sleep(delay + 0.2)
    return totp_step()


# ---------------------------------------------------------------------------
# Reporting and order


#: When this run began: test_screenshots.py accepts only files written since (nothing is
#: deleted, so two runs at once in one target/ do not pull files from under each other).
SESSION_STARTED = time.time()


def pytest_collection_modifyitems(session, config, items) -> None:
    # The screenshot check runs after the flows that take the screenshots.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "last: run after every other test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    for b in getattr(item, "_web_browsers", []):
        rep.sections.append((f"browser {b.label}", b.save_failure(item.name)))
    srv = getattr(item, "_web_server", None)
    if srv is not None:
        rep.sections.append(("gatehouse serve log", harness.tail(srv.log_path, 6000)))
