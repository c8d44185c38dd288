"""Write an OpenSLO import (``okrflow.openslo``) as a whole okrflow config a person reviews before using.

Every KR carries comments naming the OpenSLO document it came from and what the translation approximated;
what was not translated is listed at the top with its reason. One objective per OpenSLO ``service``; one
okrflow source per Prometheus ``DataSource`` (its ``connectionDetails`` URL, else ``${PROMETHEUS_URL:-http://127.0.0.1:9090}``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml

from okrflow.openslo import ImportResult, slug

__all__ = ["current_quarter", "render_config"]


def current_quarter(today: date) -> dict[str, str]:
    """The calendar quarter holding ``today`` as an okrflow cycle (edit it to your own cycle)."""
    first_month = 3 * ((today.month - 1) // 3) + 1
    start = date(today.year, first_month, 1)
    end = date(today.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1)
    last = date.fromordinal(end.toordinal() - 1)
    return {"name": f"{today.year}-Q{(first_month - 1) // 3 + 1}", "start": start.isoformat(), "end": last.isoformat()}


def _dump(value: Any, indent: int) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=10_000, default_flow_style=False)
    return [" " * indent + line for line in text.splitlines()]


def _comment(text: str, indent: int) -> str:
    return " " * indent + "# " + " ".join(text.split())


def render_config(result: ImportResult, inputs: list[str], today: date) -> str:
    """The config text; the caller refuses to write it when ``result.key_results`` is empty."""
    lines = [
        "# okrflow config imported from OpenSLO v1 (okrflow import openslo). Review before use:",
        "# set the cycle, owners and the Prometheus URL; each KR names the document it came from.",
        f"# inputs: {', '.join(inputs)}",
    ]
    if result.skipped:
        lines.append(f"# NOT translated ({len(result.skipped)}):")
        lines.extend(_comment(f"- {s.render()}", 0) for s in result.skipped)
    header: dict[str, Any] = {"version": 1, "cycle": current_quarter(today)}
    if len(result.timezones) == 1:
        header["timezone"] = next(iter(result.timezones))
    header["sources"] = {}
    for kr in result.key_results:
        header["sources"].setdefault(kr.source, {"type": "prometheus", "url": kr.source_url})
    lines.extend(_dump(header, 0))
    lines.append("objectives:")
    taken: set[str] = set()
    services: dict[str, list] = {}
    for kr in result.key_results:
        services.setdefault(kr.service, []).append(kr)
    objective_ids: set[str] = set()
    for service, key_results in services.items():
        objective_id = _unique(slug(service.lower(), "service"), objective_ids)
        lines.extend(_dump([{"id": objective_id, "title": f"{service}: service level objectives"}], 2))
        lines.append("    key_results:")
        for kr in key_results:
            body = dict(kr.key_result)
            wanted = body["id"]
            body["id"] = _unique(wanted, taken)
            lines.extend(_comment(note, 6) for note in kr.notes)
            if body["id"] != wanted:
                lines.append(_comment(f"id {wanted!r} was taken by another SLO: renamed {body['id']!r}", 6))
            lines.extend(_dump([body], 6))
    return "\n".join(lines) + "\n"


def _unique(wanted: str, taken: set[str]) -> str:
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}-{number}"
    taken.add(candidate)
    return candidate
