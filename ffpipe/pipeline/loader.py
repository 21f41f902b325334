"""``load_pipeline``: a pipeline file to a validated, matrix-expanded :class:`LoadedPipeline`."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ffpipe.catalog import OPS, JobOptions
from ffpipe.pipeline import bounds
from ffpipe.pipeline.cycles import find_cycles
from ffpipe.pipeline.errors import PipelineErrors, SpecError, did_you_mean, format_path
from ffpipe.pipeline.input_types import unreadable_inputs
from ffpipe.pipeline.instance import (
    Deferred,
    LoadedPipeline,
    Location,
    OutputSpec,
    RetryPolicy,
    StepInstance,
    StepView,
)
from ffpipe.pipeline.matrix import DEFAULT_MAX_INSTANCES, Matrix, expand_matrix
from ffpipe.pipeline.model import ParamDecl, PipelineHead, RetryDecl, StepDecl
from ffpipe.pipeline.output_types import mismatched_outputs
from ffpipe.pipeline.params import resolve_params as resolve_param_values
from ffpipe.pipeline.paths import FileScope, MissingFile, expand_glob, is_glob, resolve_file
from ffpipe.pipeline.source import Path_, SourceTree, parse_source
from ffpipe.pipeline.templates import (
    CONTEXT_NAMES,
    PUBLIC_ENV_PREFIX,
    Template,
    TemplateProblem,
    contains_template,
    hidden_env_message,
    is_template,
    parse_template,
    public_environment,
    render_value,
    templates_in,
)
from ffpipe.pipeline.validation import Loc, problems

ALL_OP_FIELDS: frozenset[str] = frozenset(
    name for op in OPS.values() for name in op.params.model_fields
)
STEP_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(StepView))
"""What templates read of a step: ``steps.ID.output``, ``.outputs`` and ``.result``."""
_STEP_KEYS = tuple((info.alias or name) for name, info in StepDecl.model_fields.items())


def _known_keys(loc: Loc) -> Iterable[str]:
    if not loc:
        return PipelineHead.model_fields
    if loc[0] == "params" and len(loc) == 2:
        return ParamDecl.model_fields
    return ()


def _step_keys(loc: Loc) -> Iterable[str]:
    if not loc:
        return _STEP_KEYS
    if loc == ("retry",):
        return RetryDecl.model_fields
    if loc == ("job",):
        return JobOptions.model_fields
    return ()


@dataclass(frozen=True)
class LoadOptions:
    """What a pipeline may do beyond the safe defaults, each granted by a command-line flag."""

    max_instances: int = DEFAULT_MAX_INSTANCES
    """Matrix combinations allowed (``--max-instances``)."""
    allow_outside_files: bool = False
    """Inputs and globs may name files outside the pipeline's folder or git work tree
    (``--allow-outside-files``)."""


def load_pipeline(
    path: Path, overrides: Mapping[str, str] | None = None, options: LoadOptions | None = None
) -> LoadedPipeline:
    """Load, render and validate the pipeline at ``path``; raises :class:`PipelineErrors`
    carrying every error found."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise PipelineErrors(
            [SpecError(Location(file, 1, 1), "", f"cannot read the file: {error.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PipelineErrors(
            [SpecError(Location(file, 1, 1), "", f"the file is not UTF-8 text ({error.reason})")]
        ) from None
    tree = parse_source(text, file)
    loader = _Loader(
        tree, Path(os.path.abspath(path)).parent, dict(overrides or {}), options or LoadOptions()
    )
    with bounds.metered():  # one budget for all the file's templates, not one per value
        pipeline = loader.load(Path(os.path.abspath(path)), hashlib.sha256(raw).hexdigest())
    if loader.errors or pipeline is None:
        raise PipelineErrors(loader.errors, {file: text})
    return pipeline


@dataclass
class _StepPlan:
    """What the loader learns about a step before fanning it out."""

    id: str
    raw: dict[str, Any]
    op: str | None
    settings: StepDecl | None
    """Validated step keys when they hold no template (else validated per instance)."""
    params: dict[str, tuple[Any, Path_]]
    """Parameter -> (raw value, where it is written) with defaults applied."""
    refs: set[str] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)
    own_axes: set[str] = field(default_factory=set)
    locations: dict[str, Location] = field(default_factory=dict)
    """Where each parameter is written, shared by all the step's instances."""


class _Loader:
    def __init__(
        self, tree: SourceTree, base: Path, overrides: dict[str, str], options: LoadOptions
    ) -> None:
        self.tree = tree
        self.base = base
        self.scope = FileScope(base, allow_outside=options.allow_outside_files)
        self.options = options
        self.overrides = overrides
        self.errors: list[SpecError] = []
        self.budget_spent = False
        self.env = public_environment()
        self._file_cache: dict[str, str | MissingFile] = {}
        self._file_fields: dict[str, frozenset[str]] = {}
        self._validation_cache: dict[tuple[str, tuple[str, ...], str], list[tuple[Loc, str]]] = {}
        self.axes: set[str] = set()
        self._fields_reported: set[tuple[Path_, str, str]] = set()
        self.failed: set[str] = set()
        """What already failed (``params.X``, ``inputs.X``, ``matrix``): templates reading it
        are not reported again."""

    def error(self, path: Path_, message: str) -> None:
        if bounds.BUDGET_MESSAGE in message and self.budget_spent:
            return  # every later template hits the same spent budget: once is enough
        self.budget_spent = self.budget_spent or bounds.BUDGET_MESSAGE in message
        self.errors.append(self.tree.error(path, message))

    def template_error(self, value: Any, path: Path_, message: str) -> None:
        """Report a render failure unless its cause was reported already."""
        for template in self.safe_templates(value):
            if template.names - CONTEXT_NAMES or template.steps_whole:
                return
            if {f"env.{name}" for name in template.env_names} & self.failed:
                return
            if template.reads & self.failed:
                return
            axes_read = {
                r.removeprefix("matrix.") for r in template.reads if r.startswith("matrix.")
            }
            if axes_read and ("matrix" in self.failed or axes_read - self.axes):
                return
        self.error(path, message)

    # -- top level -------------------------------------------------------------------------

    def head(self) -> PipelineHead | None:
        data = dict(self.tree.data)
        try:
            return PipelineHead.model_validate(data)
        except ValidationError as failure:
            found = problems(failure, data, _known_keys)
        for loc, message in found:
            self.error(loc, message)
        # Drop what failed and carry on, so later sections still get checked.
        for loc, _ in found:
            if len(loc) >= 2 and isinstance(data.get(loc[0]), dict):
                section = dict(data[loc[0]])
                section.pop(loc[1], None)  # type: ignore[call-overload]
                data[loc[0]] = section
            elif loc and loc[0] not in ("version", "steps"):
                data.pop(loc[0], None)  # type: ignore[call-overload]
        data["version"] = 1
        try:
            return PipelineHead.model_validate(data)
        except ValidationError:
            return None

    def load(self, path: Path, digest: str) -> LoadedPipeline | None:
        head = self.head()
        if head is None:
            return None
        if head.name is not None and not is_plain_name(head.name):
            # The name is a folder under out/ (and a run's label): it must not climb out of it.
            self.error(
                ("name",),
                f"{head.name!r} is not a plain name (no '/', '\\', '..' or leading '.')",
            )
        params = resolve_param_values(
            head.params, self.overrides, self.tree, self.errors, self.failed
        )
        constants = {"params": params, "env": self.env}
        inputs = self.inputs(head.inputs, constants)
        before = len(self.errors)
        matrix_raw = None
        if head.matrix is not None:
            # From the validated head: a part that failed its shape check is already reported.
            matrix_raw = {
                **(head.matrix.model_extra or {}),
                "include": head.matrix.include,
                "exclude": head.matrix.exclude,
            }
        matrix = expand_matrix(
            matrix_raw, self.tree, self.scope, self.errors, self.options.max_instances
        )
        if len(self.errors) > before:
            self.failed.add("matrix")
        self.axes = set(matrix.axes)
        self.check_defaults(head.defaults)
        plans = {sid: self.plan_step(sid, raw, head.defaults) for sid, raw in head.steps.items()}
        self.check_references(plans, matrix)
        axes = self.step_axes(plans, matrix)
        context = {"params": params, "inputs": inputs, "env": self.env}
        instances: dict[str, StepInstance] = {}
        for plan in plans.values():
            for values in matrix.project(axes[plan.id]):
                instance = self.instance(plan, values, matrix, axes, context)
                if instance is not None:
                    instances[instance.id] = instance
        outputs = self.outputs(head.outputs, plans, matrix, axes, context)
        self.errors += mismatched_outputs(instances, outputs)
        self.errors += unreadable_inputs(instances)
        return LoadedPipeline(
            name=head.name or path.stem,
            path=path,
            digest=digest,
            params=params,
            inputs=inputs,
            instances=instances,
            outputs=tuple(outputs),
        )

    def inputs(self, raw: Mapping[str, Any], constants: Mapping[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = {}
        for name, value in raw.items():
            path = ("inputs", name)
            self.templates(value, path)  # names a template may not read are reported here
            try:
                rendered = render_value(value, {**constants, "inputs": {}, "matrix": {}})
                items = rendered if isinstance(rendered, list) else [rendered]
                files: list[str] = []
                for index, item in enumerate(items):
                    if not isinstance(item, str):
                        self.error(
                            (*path, index) if isinstance(rendered, list) else path,
                            f"{item!r} is not a path, glob or URL",
                        )
                        continue
                    files += expand_glob(item, self.scope) if is_glob(item) else [self.file(item)]
                single = isinstance(rendered, str) and not is_glob(rendered)
                resolved[name] = files[0] if single and files else files
            except (TemplateProblem, MissingFile) as error:
                self.failed.add(f"inputs.{name}")
                self.template_error(value, path, str(error))
        return resolved

    def file_fields(self, op: str) -> frozenset[str]:
        cached = self._file_fields.get(op)
        if cached is None:
            cached = self._file_fields[op] = frozenset(OPS[op].file_fields)
        return cached

    def file(self, value: str) -> str:
        cached = self._file_cache.get(value)
        if cached is None:
            try:
                cached = resolve_file(value, self.scope)
            except MissingFile as error:
                cached = error
            self._file_cache[value] = cached
        if isinstance(cached, MissingFile):
            raise cached
        return cached

    def check_defaults(self, defaults: Mapping[str, Any]) -> None:
        for name, value in defaults.items():
            path = ("defaults", name)
            if name not in ALL_OP_FIELDS:
                self.error(
                    path, f"no op takes a parameter {name!r}{did_you_mean(name, ALL_OP_FIELDS)}"
                )
            for template in self.templates(value, path):
                if template.step_refs or template.steps_whole:
                    self.error(path, "defaults cannot read steps; put the value in the step")

    def templates(self, value: Any, path: Path_) -> list[Template]:
        try:
            found = templates_in(value)
        except TemplateProblem as error:
            self.error(path, str(error))
            return []
        for template in found:
            unknown = sorted(template.names - CONTEXT_NAMES)
            for name in unknown:
                self.error(
                    path,
                    f"undefined name {name!r} in template {template.source!r}"
                    f"{did_you_mean(name, CONTEXT_NAMES)}; templates read "
                    "params, inputs, matrix, env and steps",
                )
            if template.steps_whole:
                self.error(path, f"read a step as steps.ID in {template.source!r}")
            for name in sorted(template.env_names):
                if not name.startswith(PUBLIC_ENV_PREFIX):
                    self.failed.add(f"env.{name}")
                    self.error(path, hidden_env_message(name))
        return found

    # -- steps -----------------------------------------------------------------------------

    def plan_step(self, sid: str, raw: dict[str, Any], defaults: Mapping[str, Any]) -> _StepPlan:
        base: Path_ = ("steps", sid)
        uses = raw.get("uses")
        op = uses if isinstance(uses, str) and uses in OPS else None
        settings_raw = {k: v for k, v in raw.items() if k not in ("with", "if")}
        settings: StepDecl | None = None
        probe = {**settings_raw, "with": raw.get("with", {})}
        if "if" in raw:
            probe["if"] = raw["if"]
        if not contains_template(settings_raw):
            settings = self.validate_settings(sid, probe)
        elif not isinstance(raw.get("with", {}), dict):
            self.validate_settings(sid, probe)
        plan = _StepPlan(id=sid, raw=raw, op=op, settings=settings, params={})
        with_values = raw.get("with")
        if op is not None:
            accepted = OPS[op].params.model_fields
            plan.params = {
                name: (value, ("defaults", name))
                for name, value in defaults.items()
                if name in accepted
            }
        if isinstance(with_values, dict):
            for name, value in with_values.items():
                plan.params[name] = (value, (*base, "with", name))
        needs = raw.get("needs", [])
        # An entry that is no text is reported by the settings model (StepDecl).
        for need in needs if isinstance(needs, list) else [needs]:
            if isinstance(need, str):
                plan.needs.add(need)
        plan.locations = {name: self.tree.locate(where) for name, (_, where) in plan.params.items()}
        for value, where in plan.params.values():
            self.note_templates(plan, value, where, may_read_steps=True)
        self.note_templates(plan, raw.get("if"), (*base, "if"), may_read_steps=True)
        for key, value in settings_raw.items():
            self.note_templates(plan, value, (*base, key), may_read_steps=False)
        return plan

    def note_templates(
        self, plan: _StepPlan, value: Any, where: Path_, *, may_read_steps: bool
    ) -> None:
        found = self.templates(value, where)
        for template in found:
            if template.step_refs and not may_read_steps:
                self.error(where, "only 'with' values and 'if' may read steps")
            if template.step_refs and not (isinstance(value, str) and is_template(value)):
                self.error(where, "a value that reads steps must be one whole template string")
            plan.refs |= template.step_refs
            self.check_step_fields(template, where)
            if template.matrix_axes is None:
                plan.own_axes.add("*")
            else:
                plan.own_axes |= template.matrix_axes

    def check_step_fields(self, template: Template, where: Path_) -> None:
        """Report ``steps.ID.FIELD`` reads of fields no step has (a typo of ``output``, say)."""
        for step, name in sorted(template.step_fields):
            if name not in STEP_FIELDS and (where, step, name) not in self._fields_reported:
                self._fields_reported.add((where, step, name))
                self.error(
                    where,
                    f"steps.{step}.{name}: a step has no {name!r}"
                    f"{did_you_mean(name, STEP_FIELDS)}; it has {', '.join(STEP_FIELDS)}",
                )

    def validate_settings(self, sid: str, data: Mapping[str, Any]) -> StepDecl | None:
        try:
            return StepDecl.model_validate(data)
        except ValidationError as failure:
            for loc, message in problems(failure, data, _step_keys):
                self.error(("steps", sid, *loc), message)
            return None

    def check_references(self, plans: Mapping[str, _StepPlan], matrix: Matrix) -> None:
        for plan in plans.values():
            base: Path_ = ("steps", plan.id)
            needs = plan.raw.get("needs")
            for index, need in enumerate(needs if isinstance(needs, list) else [needs]):
                if isinstance(need, str) and need not in plans:
                    where = (*base, "needs", index) if isinstance(needs, list) else (*base, "needs")
                    self.error(where, f"unknown step {need!r}{did_you_mean(need, plans)}")
            for ref in sorted(plan.refs - set(plans)):
                where = self.where_read(plan, ref)
                self.error(where, f"unknown step {ref!r} in steps.{ref}{did_you_mean(ref, plans)}")
            if "matrix" in self.failed:
                continue
            for axis in sorted(plan.own_axes - {"*"} - set(matrix.axes)):
                known = ", ".join(matrix.axes) or "none: the pipeline has no matrix"
                self.error(
                    self.where_axis(plan, axis),
                    f"no matrix axis {axis!r}{did_you_mean(axis, matrix.axes)}; axes: {known}",
                )
        order = list(plans)
        deps = {sid: (plan.refs | plan.needs) & set(plans) for sid, plan in plans.items()}
        for cycle in find_cycles(deps, order):
            lines = ", ".join(
                f"{sid} at line {self.tree.locate(('steps', sid)).line}" for sid in cycle[1:-1]
            )
            self.error(
                ("steps", cycle[0]),
                "dependency cycle "
                + " -> ".join(cycle)
                + (f" ({lines})" if lines else " (the step depends on itself)"),
            )

    def where_read(self, plan: _StepPlan, ref: str) -> Path_:
        for _, (value, where) in plan.params.items():
            if any(ref in t.step_refs for t in self.safe_templates(value)):
                return where
        return ("steps", plan.id, "if")

    def where_axis(self, plan: _StepPlan, axis: str) -> Path_:
        for key, value in plan.raw.items():
            if key == "with":
                continue
            if any(t.matrix_axes and axis in t.matrix_axes for t in self.safe_templates(value)):
                return ("steps", plan.id, key)
        for _, (value, where) in plan.params.items():
            if any(t.matrix_axes and axis in t.matrix_axes for t in self.safe_templates(value)):
                return where
        return ("steps", plan.id)

    @staticmethod
    def safe_templates(value: Any) -> list[Template]:
        try:
            return templates_in(value)
        except TemplateProblem:
            return []

    def step_axes(self, plans: Mapping[str, _StepPlan], matrix: Matrix) -> dict[str, list[str]]:
        axes = {
            sid: set(matrix.axes) if "*" in plan.own_axes else plan.own_axes & set(matrix.axes)
            for sid, plan in plans.items()
        }
        changed = True
        while changed:
            changed = False
            for sid, plan in plans.items():
                for dep in (plan.refs | plan.needs) & set(plans):
                    if not axes[dep] <= axes[sid]:
                        axes[sid] |= axes[dep]
                        changed = True
        return {sid: [a for a in matrix.axes if a in chosen] for sid, chosen in axes.items()}

    def instance(
        self,
        plan: _StepPlan,
        values: Mapping[str, Any],
        matrix: Matrix,
        axes: Mapping[str, list[str]],
        context: Mapping[str, Any],
    ) -> StepInstance | None:
        sid = plan.id
        instance_id = matrix.instance_id(sid, values)
        local = {**context, "matrix": dict(values)}
        settings = plan.settings
        if settings is None and plan.op is not None:
            try:
                rendered = render_value(
                    {k: v for k, v in plan.raw.items() if k not in ("with", "if")}, local
                )
            except TemplateProblem as error:
                self.template_error(plan.raw, ("steps", sid), f"{error} (in {instance_id})")
                return None
            settings = self.validate_settings(sid, {**rendered, "with": {}})
        if settings is None or plan.op is None:
            return None

        def ref_id(step: str) -> str:
            return matrix.instance_id(step, {a: values[a] for a in axes.get(step, [])})

        file_fields = self.file_fields(plan.op)
        params: dict[str, Any] = {}
        locations = plan.locations
        deferred: list[str] = []
        unchecked: list[str] = []
        for name, (value, where) in plan.params.items():
            try:
                if isinstance(value, str) and is_template(value):
                    template = parse_template(value)
                    if template.step_refs:
                        params[name] = Deferred(
                            source=value,
                            refs=frozenset(ref_id(s) for s in template.step_refs),
                            location=locations[name],
                            path=format_path(where),
                        )
                        deferred.append(name)
                        continue
                rendered = render_value(value, local)
                if name in file_fields and isinstance(rendered, str):
                    rendered = self.file(rendered)
                params[name] = rendered
            except (TemplateProblem, MissingFile) as error:
                suffix = f" (in {instance_id})" if values else ""
                self.template_error(value, where, f"{error}{suffix}")
                unchecked.append(name)
        for loc, message in self.validate_params(plan.op, params, [*deferred, *unchecked]):
            name = loc[0] if loc else None
            where = plan.params[name][1] if name in plan.params else ("steps", sid, "with")
            suffix = f" (in {instance_id})" if values else ""
            self.error((*where, *loc[1:]), f"{message}{suffix}")
        condition = self.condition(plan, local, ref_id, instance_id)
        needs = frozenset(ref_id(s) for s in (plan.refs | plan.needs) if s in axes)
        return StepInstance(
            id=instance_id,
            step=sid,
            op=plan.op,
            params=params,
            needs=needs,
            location=self.tree.locate(("steps", sid)),
            condition=condition,
            retry=_retry(settings.retry),
            timeout=settings.timeout,
            cache=settings.cache,
            asynchronous=settings.async_,
            matrix=dict(values),
            job=settings.job.model_dump(mode="json", exclude_none=True) if settings.job else {},
            param_locations=locations,
        )

    def validate_params(
        self, op: str, params: Mapping[str, Any], deferred: list[str]
    ) -> list[tuple[Loc, str]]:
        concrete = {k: v for k, v in params.items() if k not in deferred}
        key = (op, tuple(deferred), _params_key(concrete))
        cached = self._validation_cache.get(key)
        if cached is None:
            cached = check_params(op, concrete, deferred)
            self._validation_cache[key] = cached
        return cached

    def condition(
        self, plan: _StepPlan, local: Mapping[str, Any], ref_id: Any, instance_id: str
    ) -> Deferred | bool:
        raw = plan.raw.get("if", True)
        where: Path_ = ("steps", plan.id, "if")
        if isinstance(raw, bool):
            return raw
        if not (isinstance(raw, str) and is_template(raw)):
            self.error(where, f"{raw!r}: 'if' is true, false or a '{{{{ ... }}}}' template")
            return True
        try:
            template = parse_template(raw)
            if template.step_refs:
                return Deferred(
                    raw,
                    frozenset(ref_id(s) for s in template.step_refs),
                    self.tree.locate(where),
                    format_path(where),
                )
            return truthy(template.render(local))
        except TemplateProblem as error:
            self.template_error(raw, where, f"{error} (in {instance_id})")
            return True

    # -- outputs ---------------------------------------------------------------------------

    def outputs(
        self,
        raw: Mapping[str, str],
        plans: Mapping[str, _StepPlan],
        matrix: Matrix,
        axes: Mapping[str, list[str]],
        context: Mapping[str, Any],
    ) -> list[OutputSpec]:
        specs: list[OutputSpec] = []
        seen: dict[str, str] = {}
        for name, value in raw.items():
            where: Path_ = ("outputs", name)
            found = self.templates(value, where) + self.templates(name, where)
            for template in found:
                self.check_step_fields(template, where)
            refs = set().union(*(t.step_refs for t in found)) if found else set()
            for ref in sorted(refs - set(plans)):
                self.error(where, f"unknown step {ref!r}{did_you_mean(ref, plans)}")
            if refs - set(plans):
                continue
            wanted: set[str] = set()
            for template in found:
                wanted |= (
                    set(matrix.axes) if template.matrix_axes is None else set(template.matrix_axes)
                )
            for ref in refs:
                wanted |= set(axes[ref])
            order = [a for a in matrix.axes if a in wanted]
            for values in matrix.project(order):
                local = {**context, "matrix": dict(values)}
                try:
                    out_name = str(render_value(name, local))
                    problem = output_name_problem(out_name)
                    if problem is not None:
                        raise TemplateProblem(f"output name {_shown(out_name)} {problem}")
                    if refs:
                        target: Deferred | str = Deferred(
                            value,
                            frozenset(
                                matrix.instance_id(s, {a: values[a] for a in axes[s]}) for s in refs
                            ),
                            self.tree.locate(where),
                            format_path(where),
                        )
                    else:
                        target = self.file(str(render_value(value, local)))
                except (TemplateProblem, MissingFile) as error:
                    self.template_error([name, value], where, str(error))
                    break
                if out_name in seen:
                    self.error(
                        where,
                        f"output name {out_name!r} repeats; with a matrix, put "
                        "{{ matrix.AXIS }} in the name",
                    )
                    break
                seen[out_name] = name
                specs.append(OutputSpec(out_name, target, self.tree.locate(where)))
        return specs


MAX_OUTPUT_NAME_BYTES = 200
"""Per file or folder name of an output: file systems allow 255 bytes, and placing an output adds
an extension and a temporary prefix and suffix."""


def output_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an output's path inside the output folder, or None when it can."""
    if not name:
        return "is empty"
    if name.startswith("/"):
        return "must be relative to the output folder"
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in name):
        return "contains a control character"
    for part in name.split("/"):
        if part == "..":
            return "would climb out of the output folder ('..')"
        if part in ("", "."):
            return f"has an empty or '.' part ({part!r})"
        if len(part.encode("utf-8")) > MAX_OUTPUT_NAME_BYTES:
            return f"has a part longer than {MAX_OUTPUT_NAME_BYTES} bytes"
    return None


def _shown(name: str, width: int = 60) -> str:
    return repr(name if len(name) <= width else name[: width - 3] + "...")


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can be one folder's name: no separator, not hidden, not ``.``/``..``."""
    return bool(name.strip()) and not name.startswith(".") and not {"/", "\\", "\0"} & set(name)


def check_params(
    op: str, params: Mapping[str, Any], deferred: Iterable[str] = ()
) -> list[tuple[Loc, str]]:
    """Problems of ``params`` against the op's catalog model, ignoring ``deferred`` fields."""
    model = OPS[op].params
    skip = set(deferred)
    try:
        model.model_validate(dict(params))
    except ValidationError as failure:
        found = problems(failure, dict(params), lambda loc: model.model_fields if not loc else ())
        return [
            (loc, message)
            for loc, message in found
            if not (loc and loc[0] in skip)
            and not (
                not loc
                and message.startswith("missing required key")
                and any(f"'{name}'" in message for name in skip)
            )
        ]
    return []


_SCALARS = (str, int, float, bool, type(None))


def _params_key(params: Mapping[str, Any]) -> Any:
    """An exact, hashable key of a parameter set (1, 1.0 and True stay apart)."""
    if all(type(value) in _SCALARS for value in params.values()):
        return tuple(sorted((name, type(value).__name__, value) for name, value in params.items()))
    return json.dumps(params, sort_keys=True, default=repr)


def truthy(value: Any) -> bool:
    """How an ``if:`` result reads: text such as 'false', 'no', '0' or '' is false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "off", "0", "none")
    return bool(value)


def _retry(value: RetryDecl | int | None) -> RetryPolicy:
    if value is None:
        return RetryPolicy()
    if isinstance(value, int):
        return RetryPolicy(attempts=value)
    return RetryPolicy(value.attempts, value.backoff, value.factor, value.max_backoff)
