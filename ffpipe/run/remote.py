"""The remote cache as the planner sees it: entries by key, fetched into the workspace on demand.

The planner asks :meth:`RemoteSource.lookup` only for keys the workspace lacks, so a run whose
steps are all cached locally never opens the remote (nor imports fsspec). When planning, a
remote entry predicts the step's output (``cached (remote)``); when running, its objects are
downloaded and verified first, and a step whose objects cannot be had runs instead.

An unreachable remote, or one that refuses our credentials, is said once and the run goes on
locally; with ``require`` it is an error instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ffpipe.cache.steps import StepEntry
from ffpipe.cache.workspace import Workspace
from ffpipe.run import events as ev

if TYPE_CHECKING:
    from ffpipe.cache.remote import RemoteStore

FROM_REMOTE = "remote"
"""The reason a cached decision carries when its entry comes from the remote."""


@dataclass
class _Shared:
    """What a source and its planning twin share: the store, answers so far, the state."""

    url: str
    opener: Callable[[str], RemoteStore]
    store: RemoteStore | None = None
    found: dict[str, StepEntry | None] = field(default_factory=dict)
    pulled: set[str] = field(default_factory=set)
    offline: str | None = None
    """Why the remote cannot be used, once that is known."""


class RemoteSource:
    """Step entries from the remote at ``url`` for the planner of one run or plan.

    ``fetching``: a run brings objects into ``workspace``; a plan only predicts from entries.
    ``emit`` receives :class:`~ffpipe.run.events.RemoteNote` and transfer events.
    """

    def __init__(
        self,
        url: str,
        workspace: Workspace,
        *,
        fetching: bool = True,
        jobs: int = 4,
        require: bool = False,
        emit: Callable[[ev.Event], None] | None = None,
        opener: Callable[[str], RemoteStore] | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        self.workspace = workspace
        self.fetching = fetching
        self.jobs = jobs
        self.require = require
        self.emit = emit
        self._shared = _shared or _Shared(url, opener or _open)

    @property
    def url(self) -> str:
        return self._shared.url

    @property
    def offline(self) -> str | None:
        """Why the remote is not being used (unreachable, credentials refused), or None."""
        return self._shared.offline

    def planning_twin(self) -> RemoteSource:
        """A source that predicts from entries without fetching, sharing what was learnt."""
        return RemoteSource(
            self.url,
            self.workspace,
            fetching=False,
            jobs=self.jobs,
            require=self.require,
            emit=self.emit,
            _shared=self._shared,
        )

    def check(self) -> None:
        """Contact the remote now; raise :class:`RemoteUnavailable` when it cannot be used."""
        from ffpipe.cache.remote import RemoteUnavailable

        store = self._store()
        if store is None:
            raise RemoteUnavailable(self.offline or f"remote {self.url} is unavailable")
        try:
            store.probe()
        except RemoteUnavailable as error:
            self._shared.offline = str(error)
            raise

    def lookup(self, key: str) -> StepEntry | None:
        """The remote's entry for ``key``; None when it has none or cannot be reached."""
        shared = self._shared
        if key in shared.found:
            return shared.found[key]
        store = self._store()
        if store is None:
            return None
        from ffpipe.cache.remote import RemoteUnavailable

        try:
            entry = store.get_entry(key)
        except RemoteUnavailable as error:
            self._go_offline(error)
            return None
        shared.found[key] = entry
        return entry

    def look_ahead(self, keys: Iterable[str]) -> None:
        """Ask the remote for the entries of many keys at once (those the workspace lacks and
        not asked about yet); when fetching, bring the found ones in, ``jobs`` at a time."""
        shared = self._shared
        wanted = [key for key in dict.fromkeys(keys) if key not in shared.found]
        if wanted:
            wanted = sorted(set(wanted) - self.workspace.steps.present(wanted))
        store = self._store() if wanted else None
        if store is None:
            return
        from ffpipe.cache.remote import RemoteUnavailable

        try:
            found = store.get_entries(wanted)
        except RemoteUnavailable as error:
            self._go_offline(error)
            return
        for key in wanted:
            shared.found[key] = found.get(key)
        if self.fetching and found:
            self.fetch(found.values())

    def fetch(self, entries: Iterable[StepEntry]) -> list[StepEntry]:
        """Bring the entries' objects into the workspace, verified, and record the entries
        there; returns those now complete locally (the others are said to be refused)."""
        given = list(entries)
        wanted = [entry for entry in given if entry.key not in self._shared.pulled]
        store = self._store()
        if not wanted or store is None:
            return [entry for entry in given if entry.key in self._shared.pulled]
        from ffpipe.cache.remote import RemoteUnavailable, pull_entries

        try:
            complete, report = pull_entries(
                self.workspace.objects,
                store,
                wanted,
                jobs=self.jobs,
                progress=self._progress("pull"),
            )
        except RemoteUnavailable as error:
            self._go_offline(error)
            return []
        for key, why in (report.failed or {}).items():
            self._note(f"{why}; the step is rendered instead")
            self._shared.found[key] = None
        for entry in complete:
            self.workspace.steps.put(entry.key, entry)
            self._shared.pulled.add(entry.key)
        return [entry for entry in given if entry.key in self._shared.pulled]

    def was_pulled(self, key: str) -> bool:
        """Whether this run fetched the entry for ``key`` from the remote."""
        return key in self._shared.pulled

    # -- internals ---------------------------------------------------------------------------

    def _store(self) -> RemoteStore | None:
        shared = self._shared
        if shared.offline is not None:
            return None
        if shared.store is None:
            from ffpipe.cache.remote import RemoteUnavailable

            try:
                shared.store = shared.opener(shared.url)
            except RemoteUnavailable as error:
                self._go_offline(error)
                return None
        return shared.store

    def _go_offline(self, error: Exception) -> None:
        if self.require:
            raise error
        self._shared.offline = str(error)
        self._note(f"{error}; going on with the local cache only")

    def _note(self, message: str) -> None:
        if self.emit is not None:
            self.emit(ev.RemoteNote(message=message))

    def _progress(self, direction: str) -> Callable[[int, int, int], None] | None:
        emit = self.emit
        if emit is None:
            return None

        def progress(done: int, total: int, moved: int) -> None:
            emit(ev.Transfer(direction=direction, done=done, total=total, bytes=moved))

        return progress


def _open(url: str) -> RemoteStore:
    from ffpipe.cache.remote import open_remote

    return open_remote(url)
