"""The dashboard's sweep routes: the Sweeps page, a sweep's page, and their JSON API (list,
launch, live variant count, one sweep with its variants table, its heatmap, cancel).

A sweep is named by its sweep id, or by its job id until the sweep row exists (as runs are).
Launching checks the request as `tickbus sweep` would (sweeplaunch.py) and queues a sweep job;
one sweep runs at a time, on `--max-concurrent` local worker processes unless the form says how many.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.dashboard import sweepdata, sweeplaunch
from orchestrator.dashboard.app import Dashboard, _cancel_job, _dash, _error, _json_object, _not_json, _render
from recorder.analysis.sweep_surface import HOWS

DEFAULT_METRIC = "sharpe"


def _list(d: Dashboard) -> list[dict[str, Any]]:
    with d.db() as conn:
        return sweepdata.list_entries(conn, list(d.sweeps.jobs.values()))


def _detail(d: Dashboard, key: str) -> dict[str, Any] | None:
    job = d.sweeps.find(key)
    with d.db() as conn:
        info = sweepdata.find(conn, key, job)
        if info is None and job is None:
            return None
        return sweepdata.entry(info, job)


def _with_info(d: Dashboard, key: str, work: Any) -> Any:
    """`work(conn, info)` for the sweep `key` names; None when runs.db has no such sweep (yet)."""
    job = d.sweeps.find(key)
    with d.db() as conn:
        info = sweepdata.find(conn, key, job)
        return None if info is None else work(conn, info)


async def sweeps_page(request: Request) -> Response:
    d = _dash(request)
    return _render(request, "sweeps.html", sweeps=await run_in_threadpool(_list, d))


async def sweep_page(request: Request) -> Response:
    d = _dash(request)
    e = await run_in_threadpool(_detail, d, request.path_params["key"])
    if e is None:
        return _render(request, "missing.html", key=request.path_params["key"], what="sweep")
    return _render(request, "sweep.html", sweep=e, metrics=sweepdata.METRICS, hows=HOWS, default_metric=DEFAULT_METRIC)


async def api_sweeps(request: Request) -> Response:
    d = _dash(request)
    return JSONResponse({"sweeps": await run_in_threadpool(_list, d)})


async def api_sweep(request: Request) -> Response:
    """One sweep: its row (status, progress, spec) and, with ?metric=, its variants table."""
    d = _dash(request)
    key = request.path_params["key"]
    e = await run_in_threadpool(_detail, d, key)
    if e is None:
        return _error(f"no sweep or sweep job {key!r}", 404)
    metric = request.query_params.get("metric")
    if metric and e.get("sweep_id"):
        try:
            e["table"] = await run_in_threadpool(_with_info, d, key, lambda conn, info: sweepdata.table(conn, info, metric))
        except ValueError as exc:
            return _error(str(exc), 422)
    return JSONResponse(e)


async def api_surface(request: Request) -> Response:
    d = _dash(request)
    q = request.query_params
    metric, how = q.get("metric") or DEFAULT_METRIC, q.get("how") or "best"
    try:
        data = await run_in_threadpool(_with_info, d, request.path_params["key"], lambda conn, info: sweepdata.surface(
            conn, info, metric, how, q.get("x") or None, q.get("y") or None))
    except ValueError as exc:
        return _error(str(exc), 422)
    return JSONResponse(data) if data is not None else _error("no such sweep (yet)", 404)


async def api_count(request: Request) -> Response:
    """The New run form's live count: how many variants the grid as filled in has, or why none."""
    d = _dash(request)
    payload, refused = await _json_object(request)
    if refused is not None:
        return refused
    return JSONResponse(await run_in_threadpool(sweeplaunch.count, payload, d.catalog))


async def api_launch(request: Request) -> Response:
    d = _dash(request)
    payload, refused = await _json_object(request, form=True)
    if refused is not None:
        return refused
    if not payload.get("scheduler"):  # else the Dask cluster's workers run the variants
        payload.setdefault("workers", d.config.max_concurrent)
    offer = await run_in_threadpool(d.offer.get)
    ok, errors = await run_in_threadpool(sweeplaunch.check, payload, d.catalog, offer, d.config.secmaster, d.config.runs_db)
    if ok is None:
        return JSONResponse({"errors": errors.to_dict()}, status_code=422)
    job = d.sweeps.submit(ok.settings, ok.label)
    return JSONResponse({"key": job.job_id, "job_id": job.job_id, "status": job.status, "variants": ok.variants,
                         "url": f"/sweeps/{job.job_id}"}, status_code=202)


async def api_cancel(request: Request) -> Response:
    d = _dash(request)
    return await _cancel_job(request, d.sweeps, lambda key: _detail(d, key), sweepdata.FINAL, "sweep")


async def api_resume(request: Request) -> Response:
    """Run the variants of a sweep not yet recorded (cancelled, failed or abandoned), as
    `tickbus sweep resume` does, on this dashboard's workers."""
    d = _dash(request)
    if (refused := _not_json(request)) is not None:
        return refused
    d.sweeps.tick()  # a job whose worker has just exited is seen done
    entry = await run_in_threadpool(_detail, d, request.path_params["key"])
    if entry is None or not entry.get("sweep_id"):
        return _error("no such sweep in the runs database", 404)
    if entry["status"] in sweepdata.LIVE:
        return _error(f"sweep {entry['sweep_id']} is {entry['status']}: nothing to resume yet", 409)
    if not entry.get("pending"):
        return _error(f"sweep {entry['sweep_id']} has no variant left to run ({entry['status']})", 409)
    job = d.sweeps.find(entry["sweep_id"])
    if job is not None and job.state != "done":
        return _error(f"sweep {entry['sweep_id']} is already {job.status} here", 409)
    settings = {"resume": entry["sweep_id"], "runs_db": str(d.config.runs_db), "workers": d.config.max_concurrent}
    job = d.sweeps.submit(settings, str(entry["name"]))
    job.run_id = entry["sweep_id"]
    job.save()
    return JSONResponse({"key": entry["sweep_id"], "job_id": job.job_id, "status": job.status,
                         "pending": entry["pending"], "url": f"/sweeps/{entry['sweep_id']}"}, status_code=202)


ROUTES = [
    Route("/sweeps", sweeps_page), Route("/sweeps/{key:path}", sweep_page),
    Route("/api/sweeps", api_sweeps, methods=["GET"]), Route("/api/sweeps", api_launch, methods=["POST"]),
    Route("/api/sweeps/count", api_count, methods=["POST"]),
    Route("/api/sweeps/{key:path}/surface", api_surface), Route("/api/sweeps/{key:path}/cancel", api_cancel, methods=["POST"]),
    Route("/api/sweeps/{key:path}/resume", api_resume, methods=["POST"]),
    Route("/api/sweeps/{key:path}", api_sweep),
]
