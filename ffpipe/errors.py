"""The base of every error that is the user's to fix, printed by the CLI without a traceback, and
the exit codes of every command (one owner: the README's table says the same)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``ffpipe`` exits with."""

    OK = 0
    FAILED = 1
    """A step or job failed, or a check found what it looks for: ``status`` a difference,
    ``cache verify`` damage, ``show``/``get`` a step not in the cache, ``push``/``pull`` steps
    missing."""
    USER_ERROR = 2
    """A bad pipeline, argument, setting or input (:class:`UserError`)."""
    INTERRUPTED = 130
    """Ctrl-C: finished steps stay cached, no partial object or output is left."""


class UserError(Exception):
    """A mistake in a pipeline, an argument or an input: its message is shown as it is.

    ``exit_code`` is what the CLI exits with (see :class:`ExitCode`).
    """

    exit_code: int = ExitCode.USER_ERROR

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
