// tickbus dashboard: the little JavaScript the server-rendered pages need (forms, polling, charts).
"use strict";
const tb = (() => {
  const FINAL = ["completed", "failed", "cancelled"];
  const COLORS = ["#2962ff", "#e65100", "#2e7d32", "#8e24aa", "#00838f", "#c62828", "#6d4c41", "#546e7a"];
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
  const runUrl = (key) => `/api/runs/${encodeURIComponent(key)}`;
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  async function api(url, opts) {
    const r = await fetch(url, opts);
    const body = await r.json().catch(() => ({}));
    return { ok: r.ok, status: r.status, body };
  }

  function bindCancel(root) {
    $$("button.cancel", root).forEach((b) => {
      b.onclick = async () => {
        b.disabled = true;
        b.textContent = "Cancelling…";
        const { ok, body } = await api(`${runUrl(b.dataset.key)}/cancel`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
        if (!ok) b.textContent = body.error || "cannot cancel";
      };
    });
  }

  function progressBar(fraction) {
    const pct = Math.round((fraction || 0) * 100);
    return `<div class="progress"><div class="bar" style="width:${pct}%"></div></div><span class="muted">${pct}%</span>`;
  }

  // --- runs list: statuses and progress, reloaded when the set of runs or a status changes ---
  function runsPage() {
    const table = $("#runs");
    bindCancel(table);
    const signature = (runs) => runs.map((r) => `${r.key}:${r.status}`).join("|");
    const shown = $$("tr[data-key]", table).map((tr) => `${tr.dataset.key}:${$("[data-field=status]", tr).textContent}`).join("|");
    async function poll() {
      const { ok, body } = await api("/api/runs").catch(() => ({ ok: false }));
      if (ok) {
        if (signature(body.runs) !== shown) return location.reload();
        for (const r of body.runs) {
          const tr = table.querySelector(`tr[data-key="${CSS.escape(r.key)}"]`);
          if (tr && r.progress != null) $("[data-field=progress]", tr).innerHTML = progressBar(r.progress);
        }
      }
      setTimeout(poll, 1000);
    }
    poll();
  }

  // --- new run: the generated form, posted as JSON; errors shown next to their inputs ---
  function newRunPage() {
    const form = $("#launch");
    const dataset = $("select[name=dataset]", form);
    const pickDataset = () => {
      $$(".symbols", form).forEach((d) => (d.hidden = d.dataset.dataset !== dataset.value));
      const opt = dataset.selectedOptions[0];
      if (!opt) return;
      for (const name of ["start", "end"]) {
        const input = $(`input[name=${name}]`, form);
        input.min = opt.dataset.first;
        input.max = opt.dataset.last;
        input.value = name === "start" ? opt.dataset.first : opt.dataset.last;
      }
    };
    if (dataset) dataset.onchange = pickDataset;
    $$(".symbols button[data-select]", form).forEach((b) => {
      b.onclick = () => $$("input[name=symbol]", b.closest(".symbols")).forEach((c) => (c.checked = b.dataset.select === "all"));
    });
    const sync = (fs) => fs.classList.toggle("off", !$(".pick", fs).checked);
    $$("fieldset.strategy", form).forEach((fs) => {
      sync(fs);
      $(".pick", fs).onchange = () => sync(fs);
    });

    form.onsubmit = async (ev) => {
      ev.preventDefault();
      $$("[data-error-for]", form).forEach((e) => (e.textContent = ""));
      const strategies = $$("fieldset.strategy", form).filter((fs) => $(".pick", fs).checked).map((fs) => {
        const params = {};
        $$(".params [name]", fs).forEach((i) => (params[i.name] = i.dataset.kind === "bool" ? i.checked : i.value));
        return { key: fs.dataset.key, params };
      });
      const visible = $$(".symbols", form).find((d) => !d.hidden);
      const payload = {
        strategies,
        dataset: dataset ? dataset.value : "",
        symbols: visible ? $$("input[name=symbol]:checked", visible).map((c) => c.value) : [],
        start: $("input[name=start]", form).value,
        end: $("input[name=end]", form).value,
        commission_per_unit: $("input[name=commission_per_unit]", form).value,
      };
      const button = $("#launch-button");
      button.disabled = true;
      const { ok, status, body } = await api("/api/runs", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
      }).catch(() => ({ ok: false, body: {} }));
      button.disabled = false;
      if (ok) return (location.href = body.url);
      const errors = body.errors || { fields: {}, params: {}, form: `the dashboard answered ${status}` };
      for (const [field, msg] of Object.entries(errors.fields || {})) {
        const el = $$(`[data-error-for="${field}"]`, form).find((e) => !e.closest("fieldset.strategy"));
        if (el) el.textContent = msg;
      }
      for (const [key, fields] of Object.entries(errors.params || {})) {
        const fs = form.querySelector(`fieldset.strategy[data-key="${CSS.escape(key)}"]`);
        for (const [name, msg] of Object.entries(fields)) {
          const el = fs && fs.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
          if (el) el.textContent = msg;
        }
      }
      if (errors.form) $(".form-error", form).textContent = errors.form;
    };
  }

  // --- one run: live progress and bus stats while it runs; charts when it is done ---
  function busTable(bus) {
    const b = bus.barrier || {};
    const cells = ["name", "pid", "delivered", "acknowledged", "pending", "published", "heartbeat_age_s"];
    const rows = bus.members.map((m) => `<tr>${cells.map((k) => `<td>${esc(m[k])}</td>`).join("")}</tr>`).join("");
    const topics = bus.topics.map((t) => `${esc(t.topic)} ${esc(t.messages)}`).join(" · ");
    return `<p>uptime ${bus.uptime_s} s · ${bus.messages} messages · barrier rounds ${b.rounds ?? 0}, p50 ${b.p50_us ?? 0} µs, ` +
      `p99 ${b.p99_us ?? 0} µs, max ${b.max_us ?? 0} µs · dropped ${bus.dropped} · malformed ${bus.malformed}` +
      `${bus.failed ? ` · <span class="error">failed: ${esc(bus.failed)}</span>` : ""}</p>` +
      `<table class="stats"><thead><tr><th>member</th><th>pid</th><th>delivered</th><th>acknowledged</th><th>pending</th>` +
      `<th>published</th><th>heartbeat age s</th></tr></thead><tbody>${rows}</tbody></table><p class="muted">topics: ${topics}</p>`;
  }

  function follow(key) {
    async function poll() {
      const { ok, body } = await api(runUrl(key)).catch(() => ({ ok: false }));
      if (ok) {
        $("#status").textContent = body.status;
        $("#status").className = `status ${body.status}`;
        if (FINAL.includes(body.status)) return location.replace(`/runs/${encodeURIComponent(body.run_id || key)}`);
        const p = body.progress;
        if (p && p.fraction != null) {
          $("#progress-bar").style.width = `${Math.round(p.fraction * 100)}%`;
          const bars = p.bars_total ? `${p.bars_sent} of ${p.bars_total} bars · ` : "";
          $("#progress-text").textContent = `${Math.round(p.fraction * 100)}% · ${bars}${body.wall_time_s ?? 0} s`;
        } else if (body.recorded_bars != null) {
          $("#progress-text").textContent = `${body.recorded_bars} bars recorded (not started by this dashboard: no progress file)`;
        } else if (body.status === "running") {
          $("#progress-text").textContent = "running: its processes are joining the bus";
        }
        if (body.bus) $("#bus").innerHTML = busTable(body.bus);
      }
      setTimeout(poll, 1000);
    }
    poll();
  }

  function newChart(el, extra) {
    return LightweightCharts.createChart(el, Object.assign({
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#333", fontFamily: "system-ui, sans-serif", fontSize: 11 },
      grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
      rightPriceScale: { borderVisible: false },
    }, extra || {}));
  }

  const values = (points) => points.filter((p) => p.value !== null && p.value !== undefined);

  async function drawEquity(key) {
    const { ok, body } = await api(`${runUrl(key)}/equity`);
    if (!ok) return;
    const eq = newChart($("#equity-chart"));
    const dd = newChart($("#drawdown-chart"));
    let points = 0;
    body.curves.forEach((c, i) => {
      const color = COLORS[i % COLORS.length];
      const line = eq.addSeries(LightweightCharts.LineSeries, { color, lineWidth: i ? 1 : 2, title: c.name });
      line.setData(values(c.equity));
      points += c.equity.length;
      const opts = { lineColor: i ? color : "#c62828", topColor: "rgba(198,40,40,0.05)", bottomColor: "rgba(198,40,40,0.35)", lineWidth: i ? 1 : 2, title: c.name, invertFilledArea: true };
      dd.addSeries(i ? LightweightCharts.LineSeries : LightweightCharts.AreaSeries, i ? { color, lineWidth: 1, title: c.name } : opts).setData(values(c.drawdown));
    });
    eq.timeScale().fitContent();
    dd.timeScale().fitContent();
    $("#equity-chart").dataset.points = String(points);
  }

  let priceChart = null;
  async function drawPrice(key, symbol) {
    const { ok, body } = await api(`${runUrl(key)}/price?symbol=${encodeURIComponent(symbol)}`);
    if (!ok) return;
    if (priceChart) priceChart.remove();
    const el = $("#price-chart");
    priceChart = newChart(el);
    const candles = priceChart.addSeries(LightweightCharts.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350",
    });
    candles.setData(body.bars);
    let pane = 0;
    body.indicators.forEach((ind, i) => {
      const target = ind.overlay ? 0 : ++pane;
      priceChart.addSeries(LightweightCharts.LineSeries, {
        color: COLORS[i % COLORS.length], lineWidth: 1, title: `${ind.strategy} ${ind.name}`, priceLineVisible: false, lastValueVisible: false,
      }, target).setData(ind.points);
    });
    const strategies = [...new Set(body.fills.map((f) => f.strategy))];
    LightweightCharts.createSeriesMarkers(candles, body.fills.map((f) => ({
      time: f.time, position: f.side === "BUY" ? "belowBar" : "aboveBar", shape: f.side === "BUY" ? "arrowUp" : "arrowDown",
      color: f.side === "BUY" ? "#1565c0" : "#e65100",
      text: `${strategies.length > 1 ? strategies.indexOf(f.strategy) + 1 + ":" : ""}${f.side === "BUY" ? "B" : "S"} ${f.quantity}`,
    })));
    const panes = priceChart.panes();
    panes.forEach((p, i) => p.setHeight(i === 0 ? 360 : 110));
    el.style.height = `${360 + 110 * (panes.length - 1) + 30}px`;
    priceChart.timeScale().fitContent();
    const legend = strategies.length > 1 ? ` Markers: ${strategies.map((s, i) => `${i + 1} = ${s}`).join(", ")}.` : "";
    $("#price-note").textContent = `${body.bars.length} bars${body.bucket > 1 ? ` (each merges ${body.bucket} recorded bars)` : ""}, ` +
      `${body.fills.length} fills (B buy, S sell), ${body.indicators.length} indicator series.${legend}`;
  }

  function runPage() {
    const root = $("#run");
    const key = root.dataset.key;
    bindCancel(root);
    if (!FINAL.includes(root.dataset.status)) follow(key);
    if ($("#equity-chart")) drawEquity(key);
    const symbol = $("#symbol");
    if (symbol) {
      symbol.onchange = () => drawPrice(key, symbol.value);
      drawPrice(key, symbol.value);
    }
  }

  return { runsPage, newRunPage, runPage };
})();
