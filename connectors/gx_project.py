"""The team's own GX project (a File Data Context folder, ``context_root_dir``): run its checkpoints and suites,
or read the validation results its pipelines stored, as of a slot.

The project is opened read-only in spirit: okrflow never saves its configuration (progress bars are turned off
in memory only). Running a checkpoint is what the team's pipeline does, so GX stores that result and runs the
checkpoint's actions as usual; reading a stored result runs nothing. GX Core has no public call that lists stored
validation results, so ``stored`` reads the context's ``validation_results_store`` (``list_keys``/``get``): the
one place this module goes beyond GX's documented API.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from okrflow.connectors.gx_inline import GX_LOCK
from okrflow.connectors.gx_results import SuiteRun, first_line, outcomes_of, plain

__all__ = ["GxProject", "project_problem"]

PROJECT_FILE = "great_expectations.yml"


def project_problem(root: str) -> str | None:
    """Why ``root`` is not a GX File Data Context folder (checked at validate: GX would create one there)."""
    folder = Path(root)
    if (folder / PROJECT_FILE).is_file():
        return None
    if (folder / "gx" / PROJECT_FILE).is_file():
        return f"no Great Expectations project in {folder}; its gx/ folder holds one: point at {folder / 'gx'}"
    return f"no Great Expectations project in {folder} (no {PROJECT_FILE}; create one with gx.get_context(mode='file'))"


class GxProject:
    """One project folder, opened lazily and at most once per connector instance (= per run)."""

    def __init__(self, root: str):
        self.root = root
        self._context: Any = None

    def context(self) -> Any:
        """The File Data Context (call under ``GX_LOCK``); raises ``LookupError`` when the folder holds none."""
        if self._context is None:
            if problem := project_problem(self.root):
                raise LookupError(problem)
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="file", context_root_dir=self.root)
            context.variables.progress_bars = ProgressBarsConfig(globally=False)  # in memory; never saved
            self._context = context
        return self._context

    def run_checkpoint(self, name: str) -> SuiteRun:
        """Run the checkpoint now (its validation definitions and actions, as the team's pipeline does)."""
        with GX_LOCK:
            context = self.context()
            checkpoint = context.checkpoints.get(_known(name, "checkpoint", context.checkpoints.all()))
            result = checkpoint.run()
        validations = list(result.run_results.values())
        data = f"checkpoint {name!r} of {self.root}"
        return _combined(data, validations, checkpoint=name)

    def run_suite(self, name: str) -> SuiteRun:
        """Run the project's suite through the validation definition that gives it its data."""
        with GX_LOCK:
            context = self.context()
            _known(name, "suite", context.suites.all())
            found = [v for v in context.validation_definitions.all() if v.suite.name == name]
            if len(found) != 1:
                names = ", ".join(v.name for v in found)
                raise LookupError(
                    f"suite {name!r} has no validation definition in {self.root} (it needs one to know its data)"
                    if not found
                    else f"suite {name!r} has {len(found)} validation definitions ({names}): bind a checkpoint instead"
                )
            result = found[0].run(result_format="BASIC")
        return _combined(f"suite {name!r} via validation definition {found[0].name!r}", [result], project_suite=name)

    def stored(self, name: str, as_of: datetime) -> SuiteRun | None:
        """The latest validation result of suite ``name`` stored at or before ``as_of``; None when there is none.
        Several batches validated in that same run count together."""
        with GX_LOCK:
            context = self.context()
            store = context.validation_results_store
            keys = [k for k in store.list_keys() if k.expectation_suite_identifier.name == name]
            if not keys:
                _known(name, "suite", context.suites.all())
            timed = [(_aware(k.run_id.run_time), k) for k in keys]
            earlier = [(t, k) for t, k in timed if t is not None and t <= as_of]
            if not earlier:
                return None
            last = max(t for t, _ in earlier)
            results = [store.get(k) for t, k in earlier if t == last]
        batches = ", ".join(sorted({str(k.batch_identifier) for t, k in earlier if t == last}))
        run = _combined(f"stored result of suite {name!r} ({batches})", results, stored_run_time=last.isoformat())
        return SuiteRun(run.data, run.error, run.rows, run.success_percent, run.outcomes, last, run.lineage)

    def holds(self) -> dict[str, list[str]]:
        """What the project holds, for ``okrflow probe``: checkpoints, suites, validation definitions."""
        with GX_LOCK:
            context = self.context()
            return {
                "checkpoints": sorted(c.name for c in context.checkpoints.all()),
                "suites": sorted(s.name for s in context.suites.all()),
                "validation definitions": sorted(v.name for v in context.validation_definitions.all()),
            }

    def expectations(self, suite: str) -> list[tuple[str, dict[str, Any]]]:
        """A project suite's expectations as (name, kwargs)."""
        with GX_LOCK:
            context = self.context()
            found = context.suites.get(_known(suite, "suite", context.suites.all()))
            return [(e.expectation_type, dict(e.configuration.kwargs)) for e in found.expectations]

    def checkpoint_suites(self, name: str) -> list[str]:
        with GX_LOCK:
            context = self.context()
            checkpoint = context.checkpoints.get(_known(name, "checkpoint", context.checkpoints.all()))
            return [v.suite.name for v in checkpoint.validation_definitions]


def _known(name: str, kind: str, items: Sequence[Any]) -> str:
    """``name`` when the project holds it, else ``LookupError`` listing what it holds."""
    names = sorted(item.name for item in items)
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise LookupError(f"the GX project has no {kind} {name!r}{hint}; it has: {', '.join(names) or 'none'}")


def _aware(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _combined(data: str, results: Sequence[Any], **lineage: Any) -> SuiteRun:
    """One or more GX suite validation results as one run: outcomes in order, the share passed over all."""
    outcomes = tuple(o for r in results for o in outcomes_of(r.results))
    if not outcomes:
        return SuiteRun(data, error="the validation evaluated no expectations")
    evaluated = sum(int(plain(r.statistics.get("evaluated_expectations") or 0)) for r in results)
    passed = sum(int(plain(r.statistics.get("successful_expectations") or 0)) for r in results)
    percent = 100.0 * passed / evaluated if evaluated else None
    return SuiteRun(data, None, None, percent, outcomes, None, tuple(lineage.items()))


def explain(exc: BaseException) -> str:
    """A project failure in one line (a missing name already lists what the project holds)."""
    return first_line(exc) if isinstance(exc, LookupError) else f"{type(exc).__name__}: {first_line(exc)}"
