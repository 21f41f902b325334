"""What the cache raises: misses and corruption are the runner's to handle, busy is the user's."""

from __future__ import annotations

from ffpipe.errors import UserError


class CacheError(Exception):
    """Base of the cache's own failures."""


class CacheMiss(CacheError, KeyError):
    """The store holds no object with that digest."""

    def __str__(self) -> str:
        return f"no object {self.args[0]} in the cache" if self.args else "cache miss"


class CorruptObject(CacheError):
    """An object's bytes no longer hash to its digest; it has been moved out of the store."""


class NotCanonical(CacheError, ValueError):
    """A value that has no canonical JSON form (NaN, infinity, an unknown type, a non-text key)."""


class WorkspaceBusy(UserError):
    """Another ffpipe process holds the workspace lock for longer than we were willing to wait."""


class NotAWorkspace(UserError):
    """The workspace path names something other than a folder."""
