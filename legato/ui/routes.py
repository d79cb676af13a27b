"""The pages and the small JSON endpoint the live view polls.

=====================================  ==============================================
``GET /runs``                          flow runs: filters, search, paging (``partial=1``: the table only)
``GET /runs/{id}``                     one run: header, graph, timeline, task runs, logs, extensions
``GET /runs/{id}/part/{name}``         one section of it, for the live view to swap in
``GET /runs/{id}/status``              JSON: state, counts, a version that changes with the data
``GET /runs/{id}/tasks/{task_run}``    one task run: attempts, error and traceback, its logs
``GET /flows``                         per flow: recent states, durations, P50/P95, failure rate
=====================================  ==============================================

Handlers are plain (synchronous) functions: Starlette runs them in its thread
pool, so a slow read of a big run never blocks the event loop.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from legato.history.errors import AmbiguousRunId, RunNotFound
from legato.history.query import flow_names, log_page, recent_runs_by_flow, search_runs
from legato.ui import extensions, formatting
from legato.ui.app import render
from legato.ui.layout import layout_graph, layout_timeline
from legato.ui.runview import RunView
from legato.ui.stats import CHART_HEIGHT, CHART_WIDTH, flow_stats

RUNS_PER_PAGE = 50
TASKS_PER_PAGE = 50
LOGS_PER_PAGE = 200
SINCE = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
PARTS = ("header", "graph", "timeline", "tasks", "logs")


def home(request: Request) -> Response:
    return RedirectResponse("/runs", status_code=303)


def runs(request: Request) -> Response:
    query = request.query_params
    state = _choice(query.get("state"), formatting.STATE_TYPES)
    since = _choice(query.get("since"), tuple(SINCE))
    page = _page_number(query.get("page"))
    text = (query.get("q") or "").strip()[:100] or None
    found = search_runs(
        status=state, flow=query.get("flow") or None, text=text,
        since=time.time() - SINCE[since] if since else None,
        limit=RUNS_PER_PAGE, offset=(page - 1) * RUNS_PER_PAGE, db=_db(request),
    )  # fmt: skip
    context = {
        "page_title": "Runs", "runs": found.runs, "total": found.total, "page": page,
        "pages": max((found.total + RUNS_PER_PAGE - 1) // RUNS_PER_PAGE, 1),
        "flows": flow_names(db=_db(request)), "state": state or "", "since": since or "",
        "flow": query.get("flow") or "", "q": text or "", "since_choices": tuple(SINCE),
        "live": any(run.state_type == "RUNNING" for run in found.runs),
    }  # fmt: skip
    template = "_runs_table.html" if query.get("partial") else "runs.html"
    return render(request, template, **context)


def run(request: Request) -> Response:
    view = _view(request)
    if isinstance(view, Response):
        return view
    return render(request, "run.html", **_run_context(request, view), sections=_sections(request, view))


def run_part(request: Request) -> Response:
    name = request.path_params["part"]
    if name not in PARTS:
        return _not_found(request, f"no section {name!r}")
    view = _view(request)
    if isinstance(view, Response):
        return view
    return render(request, f"_{name}.html", **_run_context(request, view))


def run_status(request: Request) -> Response:
    view = _view(request)
    if isinstance(view, Response):
        return JSONResponse({"error": "not found"}, status_code=404)
    run_record = view.run
    logs = log_page(run_record.id, limit=1, db=_db(request)).total
    return JSONResponse({
        "id": run_record.id, "state_type": run_record.state_type, "state_name": run_record.state_name,
        "running": run_record.state_type == "RUNNING", "duration": formatting.run_duration(run_record),
        "finished": len(view.tasks), "failed": sum(view.counts_by_type().get(k, 0) for k in ("FAILED", "CRASHED")),
        "counts": dict(view.counts_by_name()), "logs": logs,
        "version": f"{'-'.join(map(str, view.version))}-{logs}",
    })  # fmt: skip


def task_run(request: Request) -> Response:
    view = _view(request)
    if isinstance(view, Response):
        return view
    record = view.task_run(request.path_params["task_run_id"])
    if record is None:
        return _not_found(request, "no such task run in this flow run")
    upstream, downstream = view.neighbours(record.id)
    logs = log_page(view.run.id, task_run_id=record.id, limit=LOGS_PER_PAGE, db=_db(request))
    return render(
        request, "task.html", page_title=record.name, run=view.run, task=record,
        upstream=upstream, downstream=downstream, logs=logs,
    )  # fmt: skip


def flows(request: Request) -> Response:
    recent = recent_runs_by_flow(per_flow=100, db=_db(request))
    cards = [flow_stats(name, records) for name, records in recent.items()]
    return render(
        request, "flows.html", page_title="Flows", flows=cards, chart_width=CHART_WIDTH, chart_height=CHART_HEIGHT
    )


# -- helpers ----------------------------------------------------------------------


def _run_context(request: Request, view: RunView) -> dict[str, Any]:
    query = request.query_params
    state = _choice(query.get("tstate"), formatting.STATE_TYPES)
    task = query.get("task") or None
    text = (query.get("tq") or "").strip()[:100] or None
    tpage = _page_number(query.get("tpage"))
    level = _choice(query.get("level"), formatting.LEVELS)
    lpage = _page_number(query.get("lpage"))
    levels = formatting.LEVELS[formatting.LEVELS.index(level):] if level else None
    page = view.page(state=state, task=task, text=text, offset=(tpage - 1) * TASKS_PER_PAGE, limit=TASKS_PER_PAGE)
    logs = log_page(view.run.id, levels=levels, limit=LOGS_PER_PAGE, offset=(lpage - 1) * LOGS_PER_PAGE, db=_db(request))
    graph = view.graph()
    return {
        "page_title": f"{view.run.flow_name} · {view.run.name}", "run": view.run, "view": view,
        "graph": layout_graph(graph), "node_count": len(graph.nodes), "timeline": layout_timeline(view.timeline()),
        "tasks": page, "tstate": state or "", "task": task or "", "tq": text or "", "tpage": tpage,
        "tpages": max((page.total + TASKS_PER_PAGE - 1) // TASKS_PER_PAGE, 1),
        "task_names": view.task_names()[:500], "logs": logs, "level": level or "", "lpage": lpage,
        "lpages": max((logs.total + LOGS_PER_PAGE - 1) // LOGS_PER_PAGE, 1),
        "task_label": view.task_label, "errors": view.errors(), "counts": view.counts_by_name(), "by_type": view.counts_by_type(),
    }  # fmt: skip


def _sections(request: Request, view: RunView) -> list[tuple[str, Any]]:
    rendered = []
    for section in extensions.run_sections():
        content = section.render(request, view.run)
        if content is not None:
            rendered.append((section.title, content))
    return rendered


def _view(request: Request) -> RunView | Response:
    try:
        return request.app.state.cache.get(request.path_params["run_id"])
    except (RunNotFound, AmbiguousRunId) as exc:
        return _not_found(request, str(exc))


def _not_found(request: Request, message: str) -> Response:
    return render(request, "error.html", status_code=404, page_title="Not found", message=message)


def _db(request: Request) -> Any:
    return request.app.state.db


def _choice(value: str | None, choices: tuple[str, ...]) -> str | None:
    if not value:
        return None
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    return None


def _page_number(value: str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


ROUTES = [
    Route("/", home),
    Route("/runs", runs),
    Route("/runs/{run_id}", run),
    Route("/runs/{run_id}/part/{part}", run_part),
    Route("/runs/{run_id}/status", run_status),
    Route("/runs/{run_id}/tasks/{task_run_id}", task_run),
    Route("/flows", flows),
]

__all__ = ["ROUTES"]
