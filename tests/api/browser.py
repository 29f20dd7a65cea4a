"""Headless Debian chromium under Selenium for the page tests, and what they measure in it.

Never downloads a browser: ``make test`` installs ``chromium`` and ``chromium-driver`` from apt, and the
tests skip, saying why, only where they are genuinely absent. The browser runs with a fresh profile, no
proxy, no background traffic, and a resolver that finds nothing but loopback, so a page that tried to load
from the internet would fail visibly; the performance log records every request the pages make.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
WAIT_SECONDS = 30.0
LOCAL_SCHEMES = ("data", "blob", "about")


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists() and shutil.which(binary.name) is None:
            return f"{binary} not found (make test installs Debian's chromium and chromium-driver)"
    return None


def require_browser() -> None:
    reason = missing_browser_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra)")


def start_browser(profile: Path, *, width: int = 1280, height: int = 1000) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver_path = CHROMEDRIVER if CHROMEDRIVER.exists() else Path(shutil.which("chromedriver") or "")
    return webdriver.Chrome(service=Service(str(driver_path)), options=options)


def requests_sent(driver: Any) -> list[dict[str, Any]]:
    """The requests the pages sent since the last call (``url``, ``method``, ``postData``)."""
    sent = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            sent.append(message["params"]["request"])
    return sent


def assert_only_loopback(sent: list[dict[str, Any]], base_url: str) -> None:
    """Every request went to our server (or stayed inside the browser: data:, blob:)."""
    origin = urlsplit(base_url).netloc
    outside = [
        r["url"]
        for r in sent
        if urlsplit(r["url"]).scheme not in LOCAL_SCHEMES and urlsplit(r["url"]).netloc != origin
    ]
    assert sent, "the performance log recorded no request at all"
    assert outside == [], f"requests left loopback: {outside}"


def page_errors(driver: Any) -> list[str]:
    """Script errors and refused loads (CSP) in the console since the last call. The console also reports
    each HTTP error answer (the 401s and 404s some tests expect); those are not errors of the page."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]


def wait_for(
    driver: Any, condition: Callable[[Any], Any], message: str, timeout: float = WAIT_SECONDS
) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def screenshot(driver: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path


# The accessible name of each form control, as a screen reader would find it (the common cases).
UNLABELLED_CONTROLS_JS = """
const named = (el) => {
  if ((el.getAttribute('aria-label') || '').trim()) return true;
  const by = el.getAttribute('aria-labelledby');
  const text = (id) => (document.getElementById(id)?.textContent || '').trim();
  if (by && by.split(/\\s+/).some(text)) return true;
  if (el.labels && Array.from(el.labels).some((l) => l.textContent.trim())) return true;
  return el.tagName === 'BUTTON' && el.textContent.trim() !== '';
};
return Array.from(document.querySelectorAll('input, select, textarea, button, progress'))
  .filter((el) => !named(el)).map((el) => el.id || el.outerHTML.slice(0, 80));
"""

# An element's text colour and the first opaque background behind it.
COLOURS_JS = """
const el = arguments[0];
let back = el;
const clear = (node) => /rgba\\(.*, 0\\)|transparent/.test(getComputedStyle(node).backgroundColor);
while (back && clear(back)) back = back.parentElement;
return [getComputedStyle(el).color, back ? getComputedStyle(back).backgroundColor : 'rgb(255, 255, 255)'];
"""

FOCUSED_JS = """
const el = document.activeElement;
return el.id || (el.textContent || '').trim() || el.tagName;
"""


def _luminance(css_colour: str) -> float:
    channels = [float(v) for v in re.findall(r"[\d.]+", css_colour)[:3]]
    if len(channels) != 3:
        raise ValueError(f"not an rgb() colour: {css_colour!r}")
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two computed ``rgb(...)`` colours (1 to 21)."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
