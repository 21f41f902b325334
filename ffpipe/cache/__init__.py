"""The content-addressed cache: fingerprints, step keys, objects, the stat table, step entries.

It stands alone (imports nothing of ffpipe but ``ffpipe.errors``), split like Hamilton's caching:
``fingerprint`` turns values and files into digests, ``key`` turns a step into a key, ``objects``,
``stats`` and ``steps`` store what was computed, ``workspace`` opens them together, ``gc`` prunes.
``remote`` keeps the same objects and entries on any fsspec URL; ``remote_gc`` prunes it.
"""

from __future__ import annotations

from ffpipe.cache.errors import CacheError, CacheMiss, CorruptObject, NotCanonical, WorkspaceBusy

__all__ = ["CacheError", "CacheMiss", "CorruptObject", "NotCanonical", "WorkspaceBusy"]
