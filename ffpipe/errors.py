"""The base of every error that is the user's to fix, printed by the CLI without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in a pipeline, an argument or an input: its message is shown as it is.

    ``exit_code`` is what the CLI exits with (see the README's exit codes).
    """

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
