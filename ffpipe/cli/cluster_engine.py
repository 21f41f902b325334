"""``ffpipe serve --cluster``: a catalog server whose requests run on a Dask cluster.

:class:`ClusterEngine` stands where the server's engine would: each request becomes one step on
the cluster, keyed as ``ffpipe run`` keys it (so the remote cache gains entries a run can reuse),
its input files uploaded to the remote cache by digest and its outputs fetched back into the
request's folder. The engine the workers run describes the server (capabilities, checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ffpipe.backends.base import BackendIdentity
from ffpipe.cache.fingerprint import digest_file
from ffpipe.catalog import OPS, CatalogModel
from ffpipe.engine.api import Engine, EngineError, EngineOutput, RunContext
from ffpipe.errors import UserError
from ffpipe.run.cluster import Cluster, ClusterStep
from ffpipe.run.prepare import FILE_NAMES, keyed_step

SERVED = "serve"
"""The pipeline name of the step entries a server's requests leave on the remote."""


class ClusterEngine(Engine):
    """Runs each request on ``cluster``; ``described`` is the engine its workers run."""

    def __init__(self, described: Engine, cluster: Cluster, identity: BackendIdentity) -> None:
        self.described = described
        self.cluster = cluster
        self.identity = identity
        self.name = described.name
        self.version = described.version

    def capabilities(self) -> dict[str, Any]:
        return {**self.described.capabilities(), "cluster": self.cluster.address}

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        steps = list(steps)
        problems = list(self.described.check(steps))
        try:
            self.cluster.check(op for op, _ in steps)
        except UserError as error:
            problems.append(str(error))
        return problems

    def run(self, op: str, params: CatalogModel, context: RunContext) -> EngineOutput:
        values = params.model_dump(mode="json")
        files = {
            name: Path(values[name])
            for name in OPS[op].file_fields
            if isinstance(values.get(name), str)
        }
        inputs = {name: digest_file(path) for name, path in files.items()}
        key, document = keyed_step(op, values, inputs, self.identity)
        step = ClusterStep(
            op=op,
            params={name: value for name, value in values.items() if name not in files},
            inputs=inputs,
            files=files,
            key=key,
            document=document,
            identity=dict(document["identity"]),
            pipeline=SERVED,
            instance_id=op,
        )
        try:
            done = self.cluster.run_step(step, progress=context.progress).done
        except EngineError:
            raise
        except Exception as error:  # the worker's failure, said as the engine's
            raise EngineError(str(error) or type(error).__name__) from error
        names = dict(done.result.get(FILE_NAMES, {}))
        context.out_dir.mkdir(parents=True, exist_ok=True)
        fetched = self.cluster.fetch(done.outputs, names, context.out_dir)
        result = {key: value for key, value in done.result.items() if key != FILE_NAMES}
        return EngineOutput(files=fetched, result=result)

    def close(self) -> None:
        self.cluster.close()
        self.described.close()
