"""``ffpipe --version``: ffpipe's version, its builtin engine's, and the FaceFusion checkout's
when one is configured (``$FFPIPE_FACEFUSION``), read from its files without running it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ffpipe import __version__


def versions() -> str:
    """The lines ``ffpipe --version`` prints."""
    from ffpipe.engine.builtin.capabilities import ENGINE_NAME, ENGINE_VERSION

    lines = [
        f"ffpipe {__version__} (Python {platform.python_version()})",
        f"engine {ENGINE_NAME} {ENGINE_VERSION} (in-process, the default)",
        _facefusion_line(),
    ]
    return "\n".join(lines)


def _facefusion_line() -> str:
    from ffpipe.engine.facefusion.checkout import CheckoutError, read_version

    root = os.environ.get("FFPIPE_FACEFUSION")
    if not root:
        return "engine facefusion: not configured (--facefusion DIR or $FFPIPE_FACEFUSION)"
    try:
        return f"engine facefusion {read_version(Path(root))} ({root})"
    except CheckoutError as error:
        return f"engine facefusion: {error}"
