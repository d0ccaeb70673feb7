"""The dashboard's Starlette app: server-rendered pages, a JSON API, and the static assets.

Blocking work (SQLite, analysis, the bus's control socket, validating a launch) runs in the
thread pool; the job manager is only touched from the event loop, so it needs no locks. Run ids
may contain '/' (onesecondtrader puts strategy names in them), so run routes take the rest of the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from orchestrator.dashboard import launch, rundata
from orchestrator.dashboard.catalog import StrategyCatalog, label
from orchestrator.dashboard.jobs import Job, JobManager
from orchestrator.dashboard.presets import CHART_TYPES, COLORS, STYLES, WIDTHS, PresetError, Presets, strategy_set
from orchestrator.dashboard.secmaster import SecmasterOffer
from orchestrator.dashboard.sweeplaunch import SweepJobs
from recorder import runsdb
from recorder.analysis import UnknownRunError
from recorder.analysis.catalog import RunInfo
from recorder.analysis.segments import OPERATORS, SegmentError

HERE = Path(__file__).parent
TICK_S = 0.25
LIVE = ("queued", "starting", "running")


@dataclass(frozen=True)
class Config:
    runs_db: Path
    secmaster: Path
    strategies_dir: Path | None = None
    max_concurrent: int = 2
    state_dir: Path | None = None  # default: RUNS_DB.dashboard/ next to the runs database
    presets_db: Path | None = None  # default: presets.db next to the runs database (onesecondtrader's file name)

    @property
    def state(self) -> Path:
        return self.state_dir or self.runs_db.with_name(self.runs_db.name + ".dashboard")

    @property
    def presets(self) -> Path:
        return self.presets_db or self.runs_db.with_name("presets.db")


class Dashboard:
    """Everything the routes share."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.catalog = StrategyCatalog(config.strategies_dir)
        self.offer = SecmasterOffer(config.secmaster)
        self.jobs = JobManager(config.state, config.runs_db, config.max_concurrent)
        self.sweeps = SweepJobs(config.state, config.runs_db, 1)  # one sweep at a time: it has its own workers
        self.presets = Presets(config.presets)
        self.analyses = rundata.Analyses()
        self.lock = threading.Lock()  # the analysis cache, from pool threads

    @contextlib.contextmanager
    def db(self) -> Any:
        conn = runsdb.connect(self.config.runs_db)
        try:
            yield conn
        finally:
            conn.close()

    # --- runs as the pages see them: this dashboard's jobs merged with runs.db -----------------

    def entry(self, row: dict[str, Any] | None, job: Job | None) -> dict[str, Any]:
        """One run for the pages: its runs.db row when there is one, else what the job knows."""
        if row is not None:
            e = dict(row)
        else:
            assert job is not None
            e = {"run_id": job.run_id, "name": job.label, "status": job.status, "started": None, "ended": None,
                 "ts_start": int(job.created * 1e9), "wall_time_s": None, "strategies": job.label.split(", "),
                 "symbols": job.settings.get("symbols") or [], "error": None, "seed": False}
        e["job_id"] = job.job_id if job else None
        e["orchestrator_pid"] = job.pid if job else None
        if job is not None and job.error and not e.get("error"):
            e["error"] = job.error
        e["notice"] = job.cancel_note if job else None
        e["cancellable"] = job is not None and job.state != "done" and e["status"] in LIVE
        e["key"] = e.get("run_id") or e["job_id"]
        return e

    def list_entries(self) -> list[dict[str, Any]]:
        """Every run and job, newest first (a job not yet in runs.db by when it was submitted)."""
        with self.db() as conn:
            rows = rundata.list_runs(conn)
        jobs = list(self.jobs.jobs.values())  # a snapshot: the event loop may add one meanwhile
        by_run = {j.run_id: j for j in jobs if j.run_id}
        entries = [self.entry(r, by_run.get(r["run_id"])) for r in rows]
        seen = {r["run_id"] for r in rows}
        entries += [self.entry(None, j) for j in jobs if not (j.run_id and j.run_id in seen) and (j.state != "done" or not j.run_id)]
        entries.sort(key=lambda e: e["ts_start"], reverse=True)
        return entries

    def info(self, conn: Any, key: str) -> tuple[RunInfo | None, Job | None]:
        job = self.jobs.find(key)
        run_id = job.run_id if job else key
        try:
            return (rundata.detail(conn, run_id) if run_id else None), job
        except UnknownRunError:
            return None, job

    def view(self, conn: Any, info: RunInfo) -> rundata.RunView:
        with self.lock:
            return self.analyses.get(conn, info)

    def detail(self, key: str, *, results: str = "always") -> dict[str, Any] | None:
        """A run for the pages and the API; `results` ("always", "final" or "never") says when
        to add its figures (analysing a running run again on every status poll would be waste)."""
        with self.db() as conn:
            info, job = self.info(conn, key)
            if info is None and job is None:
                return None
            e = self.entry(rundata.run_row(info) if info else None, job)
            e["error_text"] = (info.error if info else None) or (job.error if job else None)
            e["config"] = info.config if info else {"settings": job.settings if job else {}}
            e["configuration"] = rundata.configuration(info) if info else []
            if e["status"] in ("running", "starting"):
                run_dir = job.run_dir if job else None
                e["bus"] = rundata.bus_stats(run_dir)
                e["progress"] = rundata.progress(run_dir)
                if info is not None and job is None:
                    e["recorded_bars"] = rundata.recorded_bars(conn, info.run_id)
            if info is not None and (results == "always" or (results == "final" and info.status in rundata.FINAL)):
                try:
                    e["results"] = rundata.results(self.view(conn, info).analysis)
                except Exception as exc:  # noqa: BLE001 - show the run and why its figures are missing
                    e["results_error"] = f"{type(exc).__name__}: {exc}"
        return e


# --- routes ---------------------------------------------------------------------------------


def _dash(request: Request) -> Dashboard:
    return request.app.state.dashboard  # type: ignore[no-any-return]


def _render(request: Request, name: str, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context)


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def index(request: Request) -> Response:
    return RedirectResponse("/runs", status_code=303)


def _strategies(d: Dashboard) -> dict[str, Any]:
    entries, problems = d.catalog.scan()
    return {"strategies": [e.to_dict() for e in entries], "problems": [{"file": p.file, "error": p.error} for p in problems]}


async def api_strategies(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_strategies, _dash(request)))


async def api_secmaster(request: Request) -> Response:
    offer = await run_in_threadpool(_dash(request).offer.get)
    return JSONResponse({"error": offer.error, "datasets": [d.to_dict() for d in offer.datasets]})


async def new_run(request: Request) -> Response:
    d = _dash(request)
    strategies = await run_in_threadpool(d.catalog.scan)
    offer = await run_in_threadpool(d.offer.get)
    return _render(request, "new.html", strategies=strategies[0], problems=strategies[1], offer=offer,
                   datasets=[ds.to_dict() for ds in offer.datasets], max_concurrent=d.config.max_concurrent)


def _not_json(request: Request) -> Response | None:
    """Writes must say JSON: a browser sends that cross-site only after a CORS preflight, which
    this server never grants, so another web page cannot launch, cancel or delete through the user."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error("send Content-Type: application/json", 415)
    return None


async def _json_body(request: Request) -> tuple[Any, Response | None]:
    if (refused := _not_json(request)) is not None:
        return None, refused
    try:
        return await request.json(), None
    except ValueError:
        return None, _error("the request is not JSON", 400)


async def _json_object(request: Request, form: bool = False) -> tuple[dict[str, Any], Response | None]:
    """The request's JSON object, or the response refusing it; `form`: a launch form's refusal,
    in the shape its errors take (`{"errors": {..., "form": ...}}`)."""
    payload, refused = await _json_body(request)
    if refused is None and not isinstance(payload, dict):
        message = "expected a JSON object"
        refused = (JSONResponse({"errors": {"fields": {}, "params": {}, "form": message}}, status_code=400) if form
                   else _error(message, 400))
    return (payload if refused is None else {}), refused


async def api_launch(request: Request) -> Response:
    d = _dash(request)
    payload, refused = await _json_object(request, form=True)
    if refused is not None:
        return refused
    offer = await run_in_threadpool(d.offer.get)
    ok, errors = await run_in_threadpool(launch.check, payload, d.catalog, offer, d.config.secmaster, d.config.runs_db)
    if ok is None:
        return JSONResponse({"errors": errors.to_dict()}, status_code=422)
    job = d.jobs.submit(ok.settings, ok.label)
    return JSONResponse({"key": job.job_id, "job_id": job.job_id, "status": job.status, "url": f"/runs/{job.job_id}"}, status_code=202)


async def api_runs(request: Request) -> Response:
    d = _dash(request)
    entries = await run_in_threadpool(d.list_entries)
    for e in entries:
        job = d.jobs.find(e["job_id"]) if e.get("job_id") else None
        p = rundata.progress(job.run_dir) if job is not None and e["status"] == "running" else None
        e["progress"] = p.get("fraction") if p else None
    return JSONResponse({"runs": entries, "max_concurrent": d.config.max_concurrent})


def _delete_rows(d: Dashboard, run_ids: list[str]) -> int:
    with d.db() as conn:
        deleted = runsdb.delete_runs(conn, run_ids)
    with d.lock:
        for run_id in run_ids:
            d.analyses.forget(run_id)
    return deleted


def _statuses(d: Dashboard, keys: list[str]) -> dict[str, tuple[str, str] | None]:
    """key -> (run id, status in runs.db), or None for a key runs.db does not know."""
    out: dict[str, tuple[str, str] | None] = {}
    with d.db() as conn:
        for key in keys:
            info, _ = d.info(conn, key)
            out[key] = (info.run_id, info.status) if info is not None else None
    return out


async def api_delete(request: Request) -> Response:
    """DELETE /api/runs {"run_ids": [...]} (onesecondtrader's request): runs this dashboard is running
    are cancelled and deleted once they end; finished runs are deleted at once; a run running
    elsewhere is left alone."""
    d = _dash(request)
    payload, refused = await _json_body(request)
    if refused is not None:
        return refused
    keys = payload.get("run_ids") if isinstance(payload, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return _error('expected {"run_ids": [RUN_ID, ...]}', 400)
    statuses = await run_in_threadpool(_statuses, d, keys)
    deleted: list[str] = []
    pending: list[str] = []
    problems: dict[str, str] = {}
    rows: list[str] = []
    for key in keys:
        job, known = d.jobs.find(key), statuses[key]
        ended = known is not None and known[1] in rundata.FINAL
        if job is not None:
            (deleted if d.jobs.delete(job, ended=ended) else pending).append(key)
        elif known is None:
            problems[key] = "no such run"
        elif not ended:
            problems[key] = "still running, and not started by this dashboard: stop it first (Ctrl-C where it runs)"
        else:
            deleted.append(key)
            rows.append(known[0])
    rows += d.jobs.to_delete
    d.jobs.to_delete = []
    await run_in_threadpool(_delete_rows, d, rows)
    return JSONResponse({"deleted": deleted, "pending": pending, "refused": problems})


async def runs_page(request: Request) -> Response:
    d = _dash(request)
    entries = await run_in_threadpool(d.list_entries)
    return _render(request, "runs.html", runs=entries, recovered=d.jobs.recovered, max_concurrent=d.config.max_concurrent)


async def api_run(request: Request) -> Response:
    when = "always" if request.query_params.get("results") == "1" else "final"
    e = await run_in_threadpool(_dash(request).detail, request.path_params["key"], results=when)
    if e is None:
        return _error(f"no run or job {request.path_params['key']!r}", 404)
    return JSONResponse(e)


#: What the run page's chart controls offer (the server checks saved settings against the same lists).
CHART_CHOICES = {"chart_types": CHART_TYPES, "styles": STYLES, "colors": COLORS, "widths": WIDTHS, "operators": list(OPERATORS)}


async def run_page(request: Request) -> Response:
    d = _dash(request)
    e = await run_in_threadpool(d.detail, request.path_params["key"])
    if e is None:
        return _render(request, "missing.html", key=request.path_params["key"])
    return _render(request, "run.html", run=e, **CHART_CHOICES)


async def run_results(request: Request) -> Response:
    """The results part of a run page (statistics, per symbol, round trips), re-fetched while it runs."""
    e = await run_in_threadpool(_dash(request).detail, request.path_params["key"])
    if e is None:
        return Response("no such run", status_code=404)
    return _render(request, "_results.html", run=e)


async def _cancel_job(request: Request, jobs: JobManager, detail: Callable[[str], dict[str, Any] | None],
                      final: Any, noun: str) -> Response:
    """Cancel the job of a run or sweep this dashboard launched; 409 once it has ended (as
    runs.db says: its process may still be on its way out)."""
    if (refused := _not_json(request)) is not None:
        return refused
    key = request.path_params["key"]
    job = jobs.find(key)
    if job is None:
        return _error(f"only {noun}s launched by this dashboard can be cancelled here", 404)
    entry = await run_in_threadpool(detail, key)
    status = entry["status"] if entry is not None and entry["status"] in final else None
    if status is None and not jobs.cancel(job):
        status = job.status
    if status is not None:
        return JSONResponse({"error": f"too late to cancel: the {noun} has already ended ({status})", "status": status},
                            status_code=409)
    return JSONResponse({"key": job.run_id or job.job_id, "status": job.status, "cancel_requested": True}, status_code=202)


async def api_cancel(request: Request) -> Response:
    d = _dash(request)
    return await _cancel_job(request, d.jobs, lambda key: d.detail(key, results="never"), rundata.FINAL, "run")


def _for_run(request: Request, work: Callable[[Dashboard, Any, RunInfo], Any]) -> Any:
    """`work(dashboard, conn, info)` for the run the path names; None when there is none."""
    d = _dash(request)
    with d.db() as conn:
        info, _ = d.info(conn, request.path_params["key"])
        return None if info is None else work(d, conn, info)


async def _run_json(request: Request, work: Callable[[Dashboard, Any, RunInfo], Any]) -> Response:
    try:
        data = await run_in_threadpool(_for_run, request, work)
    except (SegmentError, PresetError) as exc:
        return _error(str(exc), 422)
    return JSONResponse(data) if data is not None else _error("no such run", 404)


def _ns(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    return int(raw) if raw not in (None, "") and raw.lstrip("-").isdigit() else None


async def api_equity(request: Request) -> Response:
    return await _run_json(request, lambda d, conn, info: rundata.equity(d.view(conn, info).analysis))


async def api_price(request: Request) -> Response:
    q = request.query_params
    return await _run_json(request, lambda d, conn, info: rundata.price(
        conn, d.view(conn, info), q.get("symbol", ""), _ns(request, "start"), _ns(request, "end"), _ns(request, "trade")))


async def api_performance(request: Request) -> Response:
    return await _run_json(request, lambda d, conn, info: rundata.performance(d.view(conn, info), request.query_params.get("symbol") or None))


async def api_segments(request: Request) -> Response:
    q = request.query_params
    return await _run_json(request, lambda d, conn, info: rundata.segments(d.view(conn, info), conn, q.get("symbol", ""), q))


async def api_chart_settings(request: Request) -> Response:
    """GET: the display settings of the run's strategy set (null: none saved); PUT: save them."""
    if request.method == "GET":
        return await _run_json(request, lambda d, conn, info: {
            "strategy_set": strategy_set(info.strategy_ids), "settings": d.presets.chart_settings(strategy_set(info.strategy_ids))})
    payload, refused = await _json_body(request)
    if refused is not None:
        return refused
    return await _run_json(request, lambda d, conn, info: {
        "strategy_set": strategy_set(info.strategy_ids), "settings": d.presets.save_chart_settings(strategy_set(info.strategy_ids), payload)})


async def api_presets(request: Request) -> Response:
    d = _dash(request)
    if request.method == "GET":
        return JSONResponse({"presets": await run_in_threadpool(d.presets.symbol_presets)})
    payload, refused = await _json_object(request)
    if refused is not None:
        return refused
    try:
        stored = await run_in_threadpool(d.presets.save_symbol_preset, payload)
    except PresetError as exc:
        return _error(str(exc), 422)
    return JSONResponse({"status": "saved", "preset": stored})


async def api_preset_delete(request: Request) -> Response:
    d = _dash(request)
    if (refused := _not_json(request)) is not None:
        return refused
    name = request.path_params["name"]
    if not await run_in_threadpool(d.presets.delete_symbol_preset, name):
        return _error(f"no preset {name!r}", 404)
    return JSONResponse({"status": "deleted", "name": name})


def create_app(config: Config) -> Starlette:
    """The ASGI app; start-up recovers the previous session's runs, shutdown cancels this one's."""
    dashboard = Dashboard(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(dashboard.jobs.recover)
        await run_in_threadpool(dashboard.sweeps.recover)

        async def ticker() -> None:
            while True:
                dashboard.jobs.tick()
                dashboard.sweeps.tick()
                if dashboard.jobs.to_delete:  # runs deleted while they ran, now ended
                    rows, dashboard.jobs.to_delete = dashboard.jobs.to_delete, []
                    await run_in_threadpool(_delete_rows, dashboard, rows)
                await asyncio.sleep(TICK_S)

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            task.cancel()
            for jobs in (dashboard.sweeps, dashboard.jobs):
                jobs.shutdown()

    from orchestrator.dashboard import sweeps  # its routes use this module's helpers

    run = "/api/runs/{key:path}"
    app = Starlette(
        routes=[
            Route("/", index), Route("/health", health), Route("/new", new_run), Route("/runs", runs_page),
            Route("/runs/{key:path}/results", run_results), Route("/runs/{key:path}", run_page),
            Route("/api/strategies", api_strategies), Route("/api/secmaster", api_secmaster),
            Route("/api/presets", api_presets, methods=["GET", "POST"]),
            Route("/api/presets/{name:path}", api_preset_delete, methods=["DELETE"]),
            Route("/api/runs", api_runs, methods=["GET"]), Route("/api/runs", api_launch, methods=["POST"]),
            Route("/api/runs", api_delete, methods=["DELETE"]),
            Route(f"{run}/cancel", api_cancel, methods=["POST"]), Route(f"{run}/equity", api_equity),
            Route(f"{run}/price", api_price), Route(f"{run}/performance", api_performance),
            Route(f"{run}/segments", api_segments), Route(f"{run}/chart-settings", api_chart_settings, methods=["GET", "PUT"]),
            Route(run, api_run), *sweeps.ROUTES,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        # only our own names: a DNS-rebinding page cannot talk to the dashboard either
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])],
        lifespan=lifespan,
    )
    app.state.dashboard = dashboard
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    env = app.state.templates.env
    env.globals["vendor_version"] = "5.2.1"
    env.filters["label"] = label
    env.globals["sweep_metrics"] = sweeps.sweepdata.METRICS
    return app
