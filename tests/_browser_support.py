"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright's Python
package through ``executable_path`` (Playwright's own browser download is never used).

``.ci/run`` installs the browser (``apt-get install chromium``); elsewhere the tests skip, saying
how to install it. ``FFPIPE_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Headless, as root, and no connection of the browser's own: only the pages under test."""

INSTALL_HINT = (
    "no Chromium: install Debian's package (`apt-get install --no-install-recommends chromium`, "
    "which .ci/run does) or set FFPIPE_CHROMIUM to a Chromium binary"
)


def chromium_path() -> Path | None:
    """The Chromium binary to use, or None when none is installed."""
    named = os.environ.get("FFPIPE_CHROMIUM")
    if named:
        return Path(named) if Path(named).is_file() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
