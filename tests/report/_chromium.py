"""Driving Debian's headless Chromium with its own flags: the DOM after scripts ran, a PNG."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-sandbox",  # tests run as root in CI's container
    "--no-first-run",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
    # belt and braces beside the page's own policy: no name resolves, so no
    # request could leave the machine even if one got past it
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=5000",
    "--window-size=1400,1400",
)


def chromium() -> str:
    """The browser's path; fails (never skips) the test when it is missing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(
        "Chromium is missing: these tests open the report in a real browser. "
        "Install it with `apt-get install -y chromium` (CI's .ci/run does).",
        pytrace=False,
    )


def _run(page: Path, fragment: str, *flags: str) -> str:
    url = page.resolve().as_uri() + fragment
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={profile}", *flags, url],
            capture_output=True,
            text=True,
            timeout=45,
        )
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def dump_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM as serialised once its scripts ran (and ``virtual-time-budget`` passed)."""
    return _run(page, fragment, "--dump-dom")


def screenshot(page: Path, out: Path) -> Path:
    """A PNG of the page's first 1400 x 1400 pixels."""
    _run(page, "", f"--screenshot={out}")
    return out
