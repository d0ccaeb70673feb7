// tickbus dashboard: one run's page. While the run runs: its progress and the bus's stats, and its
// results (statistics, equity, performance, chart) refreshed as they are recorded; then the final page.
"use strict";
(() => {
  const { $, $$, esc, fmt, api, runUrl, FINAL } = tb;
  const LIVE_RESULTS_MS = 3000;
  const GREEN = "#2e7d32", RED = "#c62828", BLUE = "#2962ff";
  const PALETTE = [BLUE, "#e65100", GREEN, "#8e24aa", "#00838f", RED, "#6d4c41", "#546e7a"];  // one per strategy curve

  const base = {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#333", fontFamily: "system-ui, sans-serif", fontSize: 11 },
    grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
    rightPriceScale: { borderVisible: false },
    localization: { priceFormatter: (p) => fmt.num(p, Math.abs(p) >= 1000 ? 0 : 2) },
  };
  tb.newChart = (el, extra) => LightweightCharts.createChart(el, Object.assign({}, base,
    { timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false } }, extra || {}));
  // x = round trip number (a numeric horizontal scale instead of time)
  const tripChart = (el) => LightweightCharts.createOptionsChart(el, Object.assign({}, base, {
    timeScale: { borderVisible: false, tickMarkFormatter: (n) => `#${n}` },
    localization: { priceFormatter: base.localization.priceFormatter, timeFormatter: (n) => `trip #${n}` },
  }));
  const values = (points) => points.filter((p) => p.value !== null && p.value !== undefined);

  function busTable(bus) {
    const b = bus.barrier || {};
    const num = (k) => (v) => (typeof v === "number" ? (k === "heartbeat_age_s" ? fmt.num(v, 2) : fmt.int(v)) : esc(v));
    const cells = ["name", "pid", "delivered", "acknowledged", "pending", "published", "heartbeat_age_s"];
    const rows = bus.members.map((m) => `<tr>${cells.map((k) => `<td>${k === "name" || k === "pid" ? esc(m[k]) : num(k)(m[k])}</td>`).join("")}</tr>`).join("");
    const topics = bus.topics.map((t) => `${esc(t.topic)} ${fmt.int(t.messages)}`).join(" · ");
    return `<p>up ${fmt.seconds(bus.uptime_s)} · ${fmt.int(bus.messages)} messages · ${fmt.int(b.rounds ?? 0)} barrier rounds, ` +
      `p50 ${fmt.us(b.p50_us ?? 0)}, p99 ${fmt.us(b.p99_us ?? 0)}, max ${fmt.us(b.max_us ?? 0)} · dropped ${fmt.int(bus.dropped)} · ` +
      `malformed ${fmt.int(bus.malformed)}${bus.failed ? ` · <span class="error">failed: ${esc(bus.failed)}</span>` : ""}</p>` +
      `<table class="stats"><thead><tr><th>member</th><th>pid</th><th>delivered</th><th>acknowledged</th><th>pending</th>` +
      `<th>published</th><th>heartbeat age (s)</th></tr></thead><tbody>${rows}</tbody></table><p class="muted">topics: ${topics}</p>`;
  }

  // --- equity and drawdown: made once; a refresh replaces the data, the user's zoom stays ---
  class EquityView {
    constructor(key) {
      this.key = key;
      this.series = new Map();
    }
    async update() {
      const { ok, body } = await api(`${runUrl(this.key)}/equity`);
      if (!ok || !body.curves.length) return;
      const first = !this.eq;
      if (first) {
        this.eq = tb.newChart($("#equity-chart"));
        this.dd = tb.newChart($("#drawdown-chart"));
      }
      let points = 0;
      body.curves.forEach((c, i) => {
        let s = this.series.get(c.name);
        if (!s) {
          const color = PALETTE[i % PALETTE.length];
          s = {
            eq: this.eq.addSeries(LightweightCharts.LineSeries, { color, lineWidth: i ? 1 : 2, title: c.name }),
            dd: i ? this.dd.addSeries(LightweightCharts.LineSeries, { color, lineWidth: 1, title: c.name })
              : this.dd.addSeries(LightweightCharts.AreaSeries, { lineColor: RED, topColor: "rgba(198,40,40,0.05)", bottomColor: "rgba(198,40,40,0.35)", lineWidth: 2, title: c.name, invertFilledArea: true }),
          };
          this.series.set(c.name, s);
        }
        s.eq.setData(values(c.equity));
        s.dd.setData(values(c.drawdown));
        points += c.equity.length;
      });
      if (first) {
        this.eq.timeScale().fitContent();
        this.dd.timeScale().fitContent();
      }
      $("#equity-chart").dataset.points = String(points);
    }
  }

  // --- performance: the PnL summary per round trip and each trip's journey ---
  class PerformanceView {
    constructor(key) {
      this.key = key;
      $("#perf-symbol").onchange = () => this.update();
    }
    setSymbols(symbols) {
      const select = $("#perf-symbol");
      const keep = select.value;
      select.innerHTML = '<option value="">all symbols</option>' + symbols.map((s) => `<option>${esc(s)}</option>`).join("");
      select.value = symbols.includes(keep) ? keep : "";
    }
    async update() {
      const symbol = $("#perf-symbol").value;
      const { ok, body } = await api(`${runUrl(this.key)}/performance${symbol ? `?symbol=${encodeURIComponent(symbol)}` : ""}`);
      if (!ok) return;
      const s = body.summary;
      $("#perf-summary").innerHTML = `${fmt.int(s.trips)} round trips · gross ${fmt.signed(s.gross)} · net ${fmt.signed(s.net)} · ` +
        `${fmt.int(s.winners)} winners (average ${fmt.signed(s.avg_winner)}) · ${fmt.int(s.losers)} losers (average ${fmt.signed(s.avg_loser)})`;
      if (!this.pnl) {
        this.pnl = tripChart($("#pnl-chart"));
        this.gross = this.pnl.addSeries(LightweightCharts.LineSeries, { color: GREEN, lineWidth: 2, title: "cumulative gross", pointMarkersVisible: true });
        this.net = this.pnl.addSeries(LightweightCharts.LineSeries, { color: BLUE, lineWidth: 2, title: "cumulative net", pointMarkersVisible: true });
        this.drawdown = this.pnl.addSeries(LightweightCharts.HistogramSeries, { color: "rgba(198,40,40,0.5)", title: "trip drawdown", priceLineVisible: false });
        this.journey = tripChart($("#journey-chart"));
        this.best = this.journey.addSeries(LightweightCharts.HistogramSeries, { title: "best", priceLineVisible: false, lastValueVisible: false });
        this.worst = this.journey.addSeries(LightweightCharts.HistogramSeries, { title: "worst", priceLineVisible: false, lastValueVisible: false });
        this.exit = this.journey.addSeries(LightweightCharts.LineSeries, { color: "#111", lineVisible: false, pointMarkersVisible: true, pointMarkersRadius: 3, title: "exit", priceLineVisible: false, lastValueVisible: false });
      }
      const trips = body.trips;
      this.gross.setData(trips.map((t, i) => ({ time: t.n, value: body.cumulative_gross[i] })));
      this.net.setData(trips.map((t, i) => ({ time: t.n, value: body.cumulative_net[i] })));
      this.drawdown.setData(trips.map((t) => ({ time: t.n, value: -t.drawdown })));
      const tint = (t, a) => (t.net > 0 ? `rgba(46,125,50,${a})` : `rgba(198,40,40,${a})`);
      this.best.setData(trips.map((t) => ({ time: t.n, value: t.best, color: tint(t, 0.55) })));
      this.worst.setData(trips.map((t) => ({ time: t.n, value: t.worst, color: tint(t, 0.55) })));
      this.exit.setData(trips.map((t) => ({ time: t.n, value: t.gross })));
      (this.lines || []).forEach((l) => this.exit.removePriceLine(l));
      this.lines = [["average winner exit", s.avg_winner_exit, GREEN], ["average loser exit", s.avg_loser_exit, RED]]
        .filter(([, v]) => v != null)
        .map(([title, price, color]) => this.exit.createPriceLine({ price, color, title, lineStyle: LightweightCharts.LineStyle.Dashed, lineWidth: 1 }));
      this.pnl.timeScale().fitContent();
      this.journey.timeScale().fitContent();
      $("#journey-chart").dataset.trips = String(trips.length);
    }
  }

  // --- while the run runs: status, progress and bus every second; results every few seconds ---
  function follow(key, refreshResults) {
    let lastResults = 0;
    async function poll() {
      const { ok, body } = await api(runUrl(key));
      if (ok) {
        $("#status").textContent = body.status;
        $("#status").className = `status ${body.status}`;
        if (FINAL.includes(body.status)) return location.replace(`/runs/${encodeURIComponent(body.run_id || key)}`);
        const p = body.progress;
        if (p && p.fraction != null) {
          $("#progress-bar").style.width = `${Math.round(p.fraction * 100)}%`;
          const bars = p.bars_total ? `${fmt.int(p.bars_sent)} of ${fmt.int(p.bars_total)} bars · ` : "";
          $("#progress-text").textContent = `${Math.round(p.fraction * 100)}% · ${bars}${fmt.seconds(body.wall_time_s ?? 0)}`;
        } else if (body.recorded_bars != null) {
          $("#progress-text").textContent = `${fmt.int(body.recorded_bars)} bars recorded so far (started outside this dashboard, so its progress is not known here)`;
        } else if (body.status === "running" || body.status === "starting") {
          $("#progress-text").textContent = "starting: its processes are joining the bus";
        }
        if (body.bus) $("#bus").innerHTML = busTable(body.bus);
        if (body.run_id && Date.now() - lastResults > LIVE_RESULTS_MS) {
          lastResults = Date.now();
          refreshResults(body.run_id);
        }
      }
      setTimeout(poll, 1000);
    }
    poll();
  }

  tb.runPage = function runPage() {
    tb.showKeptNotices();
    const root = $("#run");
    const key = root.dataset.key;
    tb.bindCancel(root);
    $$("button.delete", root).forEach((b) => {
      b.onclick = async () => {
        const body = await tb.deleteRuns([b.dataset.key]);
        if (body && body.deleted.length) location.href = "/runs";
        else if (body && body.pending.length) b.textContent = "Deleting once it has stopped…";
      };
    });
    const equity = new EquityView(key);
    const perf = new PerformanceView(key);
    const chart = (tb.view = new tb.ChartView(key));
    let busy = false;
    // what the results say decides which sections show; the charts follow the recorded data
    async function showResults(live) {
      const stats = $("#statistics");
      const symbols = stats ? JSON.parse(stats.dataset.symbols) : [];
      $("#equity-section").hidden = !(stats && Number(stats.dataset.bars));
      $("#performance").hidden = !(stats && Number(stats.dataset.trips));
      $("#chart-section").hidden = !symbols.length;
      const work = [];
      if (!$("#equity-section").hidden) work.push(equity.update());
      if (!$("#performance").hidden) {
        perf.setSymbols(symbols);
        work.push(perf.update());
      }
      if (symbols.length) work.push(chart.setSymbols(symbols, live));
      await Promise.all(work);
    }
    async function refreshResults(runId) {
      if (busy) return;
      busy = true;
      try {
        const r = await fetch(`/runs/${encodeURIComponent(runId)}/results`).catch(() => null);
        if (r && r.ok) {
          const fresh = document.createElement("div");
          fresh.innerHTML = await r.text();
          $("#results").replaceChildren($("[data-part=stats]", fresh));
          $("#tables").replaceChildren($("[data-part=tables]", fresh));
          await showResults(true);
        }
      } finally {
        busy = false;
      }
    }
    showResults(false);
    if (!FINAL.includes(root.dataset.status)) follow(key, refreshResults);
  };
})();
