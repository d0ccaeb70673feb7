"""The dashboard's Starlette app: server-rendered pages, a JSON API, and the static assets.

Blocking work (SQLite, analysis, the bus's control socket, validating a launch) runs in the
thread pool; the job manager is only touched from the event loop, so it needs no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
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
from orchestrator.dashboard.catalog import StrategyCatalog
from orchestrator.dashboard.jobs import Job, JobManager
from orchestrator.dashboard.secmaster import SecmasterOffer
from recorder import runsdb
from recorder.analysis import UnknownRunError

HERE = Path(__file__).parent
TICK_S = 0.25


@dataclass(frozen=True)
class Config:
    runs_db: Path
    secmaster: Path
    strategies_dir: Path | None = None
    max_concurrent: int = 2
    state_dir: Path | None = None  # default: RUNS_DB.dashboard/ next to the runs database

    @property
    def state(self) -> Path:
        return self.state_dir or self.runs_db.with_name(self.runs_db.name + ".dashboard")


class Dashboard:
    """Everything the routes share."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.catalog = StrategyCatalog(config.strategies_dir)
        self.offer = SecmasterOffer(config.secmaster)
        self.jobs = JobManager(config.state, config.runs_db, config.max_concurrent)
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
                 "wall_time_s": None, "strategies": [job.label], "symbols": job.settings.get("symbols") or [], "error": None}
        e["job_id"] = job.job_id if job else None
        e["orchestrator_pid"] = job.pid if job else None
        if job is not None and job.error and not e.get("error"):
            e["error"] = job.error
        e["cancellable"] = job is not None and job.state != "done" and e["status"] in ("queued", "starting", "running")
        e["key"] = e.get("run_id") or e["job_id"]
        return e

    def list_entries(self) -> list[dict[str, Any]]:
        with self.db() as conn:
            rows = rundata.list_runs(conn)
        jobs = list(self.jobs.jobs.values())  # a snapshot: the event loop may add one meanwhile
        by_run = {j.run_id: j for j in jobs if j.run_id}
        entries = [self.entry(r, by_run.get(r["run_id"])) for r in rows]
        seen = {r["run_id"] for r in rows}
        pending = [j for j in jobs if not (j.run_id and j.run_id in seen)]
        pending.sort(key=lambda j: j.created, reverse=True)
        return [self.entry(None, j) for j in pending if j.state != "done" or not j.run_id] + entries

    def detail(self, key: str) -> dict[str, Any] | None:
        job = self.jobs.find(key)
        run_id = job.run_id if job else key
        with self.db() as conn:
            try:
                info = rundata.detail(conn, run_id) if run_id else None
            except UnknownRunError:
                info = None
            if info is None and job is None:
                return None
            e = self.entry(rundata.run_row(info) if info else None, job)
            e["error_text"] = (info.error if info else None) or (job.error if job else None)
            e["config"] = info.config if info else {"settings": job.settings if job else {}}
            if e["status"] in ("running", "starting"):
                run_dir = job.run_dir if job else None
                e["bus"] = rundata.bus_stats(run_dir)
                e["progress"] = rundata.progress(run_dir)
                if info is not None and e["progress"] is None:
                    e["recorded_bars"] = rundata.recorded_bars(conn, info.run_id)
            elif info is not None and info.status in rundata.FINAL:
                try:
                    with self.lock:
                        a = self.analyses.get(conn, info)
                    e["results"] = rundata.results(a)
                except Exception as exc:  # noqa: BLE001 - show the run and why its figures are missing
                    e["results_error"] = f"{type(exc).__name__}: {exc}"
        return e


# --- routes ---------------------------------------------------------------------------------


def _dash(request: Request) -> Dashboard:
    return request.app.state.dashboard  # type: ignore[no-any-return]


def _render(request: Request, name: str, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context)


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
                   max_concurrent=d.config.max_concurrent)


def _not_json(request: Request) -> Response | None:
    """POSTs must say JSON: a browser sends that cross-site only after a CORS preflight, which this
    server never grants, so another web page cannot launch or cancel runs through the user."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse({"error": "send Content-Type: application/json"}, status_code=415)
    return None


async def api_launch(request: Request) -> Response:
    d = _dash(request)
    if (refused := _not_json(request)) is not None:
        return refused
    try:
        payload = await request.json()
    except ValueError:
        return JSONResponse({"errors": {"fields": {}, "params": {}, "form": "the request is not JSON"}}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"errors": {"fields": {}, "params": {}, "form": "expected a JSON object"}}, status_code=400)
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
        p = None
        if job is not None and e["status"] == "running":
            p = rundata.progress(job.run_dir)
        e["progress"] = p.get("fraction") if p else None
    return JSONResponse({"runs": entries, "max_concurrent": d.config.max_concurrent})


async def runs_page(request: Request) -> Response:
    d = _dash(request)
    entries = await run_in_threadpool(d.list_entries)
    return _render(request, "runs.html", runs=entries, recovered=d.jobs.recovered, max_concurrent=d.config.max_concurrent)


async def api_run(request: Request) -> Response:
    e = await run_in_threadpool(_dash(request).detail, request.path_params["key"])
    if e is None:
        return JSONResponse({"error": f"no run or job {request.path_params['key']!r}"}, status_code=404)
    return JSONResponse(e)


async def run_page(request: Request) -> Response:
    e = await run_in_threadpool(_dash(request).detail, request.path_params["key"])
    if e is None:
        return _render(request, "missing.html", key=request.path_params["key"])
    return _render(request, "run.html", run=e)


async def api_cancel(request: Request) -> Response:
    d = _dash(request)
    if (refused := _not_json(request)) is not None:
        return refused
    job = d.jobs.find(request.path_params["key"])
    if job is None:
        return JSONResponse({"error": "only runs launched by this dashboard can be cancelled here"}, status_code=404)
    entry = await run_in_threadpool(d.detail, request.path_params["key"])
    if entry is not None and entry["status"] in rundata.FINAL:
        return JSONResponse({"error": f"the run has already ended ({entry['status']})", "status": entry["status"]}, status_code=409)
    if not d.jobs.cancel(job):
        return JSONResponse({"error": f"the run has already ended ({job.status})", "status": job.status}, status_code=409)
    return JSONResponse({"key": job.run_id or job.job_id, "status": job.status, "cancel_requested": True}, status_code=202)


def _series(d: Dashboard, run_id: str, symbol: str | None) -> dict[str, Any] | None:
    with d.db() as conn:
        try:
            info = rundata.detail(conn, run_id)
        except UnknownRunError:
            return None
        if symbol is not None:
            return rundata.price(conn, info.run_id, symbol)
        with d.lock:
            a = d.analyses.get(conn, info)
        return rundata.equity(a)


async def api_equity(request: Request) -> Response:
    d = _dash(request)
    job = d.jobs.find(request.path_params["key"])
    data = await run_in_threadpool(_series, d, (job.run_id if job else None) or request.path_params["key"], None)
    return JSONResponse(data) if data is not None else JSONResponse({"error": "no such run"}, status_code=404)


async def api_price(request: Request) -> Response:
    d = _dash(request)
    symbol = request.query_params.get("symbol", "")
    job = d.jobs.find(request.path_params["key"])
    data = await run_in_threadpool(_series, d, (job.run_id if job else None) or request.path_params["key"], symbol)
    return JSONResponse(data) if data is not None else JSONResponse({"error": "no such run"}, status_code=404)


def create_app(config: Config) -> Starlette:
    """The ASGI app; start-up recovers the previous session's runs, shutdown cancels this one's."""
    dashboard = Dashboard(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(dashboard.jobs.recover)

        async def ticker() -> None:
            while True:
                dashboard.jobs.tick()
                await asyncio.sleep(TICK_S)

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            task.cancel()
            dashboard.jobs.shutdown()

    app = Starlette(
        routes=[
            Route("/", index), Route("/health", health), Route("/new", new_run), Route("/runs", runs_page),
            Route("/runs/{key}", run_page),
            Route("/api/strategies", api_strategies), Route("/api/secmaster", api_secmaster),
            Route("/api/runs", api_runs, methods=["GET"]), Route("/api/runs", api_launch, methods=["POST"]),
            Route("/api/runs/{key}", api_run), Route("/api/runs/{key}/cancel", api_cancel, methods=["POST"]),
            Route("/api/runs/{key}/equity", api_equity), Route("/api/runs/{key}/price", api_price),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        # only our own names: a DNS-rebinding page cannot talk to the dashboard either
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])],
        lifespan=lifespan,
    )
    app.state.dashboard = dashboard
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.globals["vendor_version"] = "5.2.1"
    return app
