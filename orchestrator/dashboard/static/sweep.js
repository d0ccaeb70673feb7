// tickbus dashboard: parameter sweeps. The Sweeps list (live progress), a sweep's page (its heatmap
// or line of a metric over a pair of grid parameters, drawn here as SVG; the variants table, sortable,
// with robustness and out-of-sample columns; live while it runs), and the New run form's sweep mode
// (a range or a value per parameter, a live count of the variants, the CLI's checks).
"use strict";
(() => {
  const { $, $$, esc, fmt, api, send } = tb;
  const sweepUrl = (key) => `/api/sweeps/${encodeURIComponent(key)}`;
  const LIVE = ["queued", "starting", "running"];
  const POLL_MS = 1000, REFRESH_MS = 2000, COUNT_AFTER_MS = 250;
  const SVG = "http://www.w3.org/2000/svg";
  const INT_METRICS = ["fills", "round_trips"];
  const LESS_IS_BETTER = ["max_drawdown", "max_drawdown_pct"];
  const PCT_METRICS = ["win_rate", "exposure", "max_drawdown_pct"];  // fractions, shown as the report shows them
  const show = (metric, v) => (v == null ? "—" : INT_METRICS.includes(metric) ? fmt.int(v)
    : PCT_METRICS.includes(metric) ? `${fmt.num(100 * v, 1)}%` : fmt.num(v, Math.abs(v) >= 1000 ? 0 : 2));
  const started = (ns) => (ns ? new Date(Number(ns) / 1e6).toISOString().slice(0, 19).replace("T", " ") : "");

  const bindCancel = (root) => tb.bindPost(root, "button.cancel", {
    verb: "cancel", busy: "Cancelling…", refused: "not cancelled", url: (key) => `${sweepUrl(key)}/cancel` });
  const bindResume = (root) => tb.bindPost(root, "button.resume", {
    verb: "resume", busy: "Resuming…", refused: "not resumed", url: (key) => `${sweepUrl(key)}/resume`,
    then: async (key) => {
      for (let i = 0; i < 100; i++) {  // until its worker has restarted it (at most 20 s)
        const r = await api(sweepUrl(key));
        if (r.ok && LIVE.includes(r.body.status)) break;
        await new Promise((done) => setTimeout(done, 200));
      }
      location.reload();
    } });

  const progressBar = (s) => {
    if (!s.variants) return "";
    const pct = Math.round(100 * (s.completed + s.failed) / s.variants);
    return `<div class="progress"><div class="bar" style="width:${pct}%"></div></div><span class="muted">${pct}%</span>`;
  };

  // --- the Sweeps list: reloaded when the set of sweeps or a status changes, counts updated live ---
  function sweepsPage() {
    tb.showKeptNotices();
    const table = $("#sweeps");
    bindCancel(table);
    $$("td[data-ns]", table).forEach((td) => (td.textContent = started(td.dataset.ns)));
    const signature = (list) => list.map((s) => `${s.key}:${s.status}`).join("|");
    const shown = $$("tr[data-key]", table).map((tr) => `${tr.dataset.key}:${$("[data-field=status]", tr).textContent}`).join("|");
    async function poll() {
      const { ok, body } = await api("/api/sweeps");
      if (ok) {
        if (signature(body.sweeps) !== shown) return location.reload();
        for (const s of body.sweeps) {
          const tr = table.querySelector(`tr[data-key="${CSS.escape(s.key)}"]`);
          if (!tr) continue;
          $("[data-field=completed]", tr).textContent = fmt.int(s.completed);
          $("[data-field=failed]", tr).textContent = fmt.int(s.failed);
          $("[data-field=variants]", tr).textContent = s.variants == null ? "" : fmt.int(s.variants);
          $("[data-field=progress]", tr).innerHTML = progressBar(s);
          $("[data-field=wall]", tr).textContent = s.wall_time_s == null ? "" : `${fmt.num(s.wall_time_s, 1)} s`;
        }
      }
      setTimeout(poll, POLL_MS);
    }
    $$("tr[data-key]", table).forEach((tr) => {
      const n = (f) => Number(($(`[data-field=${f}]`, tr).textContent || "0").replace(/,/g, ""));
      if (n("variants")) $("[data-field=progress]", tr).innerHTML = progressBar({ completed: n("completed"), failed: n("failed"), variants: n("variants") });
    });
    poll();
  }

  // --- colours: red (worst) through pale to green (best), by the metric's direction ---
  function colour(t) {
    const lerp = (a, b, u) => Math.round(a + (b - a) * u);
    const [lo, mid, hi] = [[198, 40, 40], [245, 245, 240], [46, 125, 50]];
    const [a, b, u] = t < 0.5 ? [lo, mid, t * 2] : [mid, hi, (t - 0.5) * 2];
    return `rgb(${lerp(a[0], b[0], u)},${lerp(a[1], b[1], u)},${lerp(a[2], b[2], u)})`;
  }
  function scale(values, metric) {
    const finite = values.filter((v) => v != null && Number.isFinite(v));
    const lo = Math.min(...finite), hi = Math.max(...finite);
    const flip = LESS_IS_BETTER.includes(metric);
    return (v) => {
      if (v == null) return "#eceff1";
      let t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      if (lo < 0 && hi > 0 && !flip) t = v < 0 ? 0.5 - 0.5 * (v / lo) : 0.5 + 0.5 * (v / hi);  // 0 is the pale middle
      return colour(flip ? 1 - t : t);
    };
  }
  const el = (name, attrs, text) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  };
  const goTo = (runId) => runId && (location.href = `/runs/${encodeURIComponent(runId)}`);

  // a heatmap: columns x, rows y (the first y value at the bottom, as on a chart)
  function drawHeatmap(box, hm, labels, peaks) {
    const width = Math.max(480, box.clientWidth || 900);
    const left = 90, top = 12, bottom = 56, right = 12;
    const cw = Math.max(14, Math.min(72, Math.floor((width - left - right) / hm.xs.length)));
    const ch = Math.max(14, Math.min(40, Math.floor(520 / hm.ys.length)));
    const svg = el("svg", { width: left + cw * hm.xs.length + right, height: top + ch * hm.ys.length + bottom, role: "img",
      "aria-label": `${labels[hm.metric]} over ${hm.x} and ${hm.y}` });
    const paint = scale(hm.values.flat(), hm.metric);
    const textual = cw >= 40 && ch >= 16;
    hm.ys.forEach((yv, r) => {
      const y = top + ch * (hm.ys.length - 1 - r);
      svg.appendChild(el("text", { x: left - 6, y: y + ch / 2 + 4, "text-anchor": "end", class: "tick" }, String(yv)));
      hm.xs.forEach((xv, c) => {
        const cell = hm.cells[r][c];
        const x = left + cw * c;
        const rect = el("rect", { x, y, width: cw - 1, height: ch - 1, fill: paint(cell.value), class: cell.run_id ? "cell link" : "cell",
          "data-x": String(xv), "data-y": String(yv), "data-value": cell.value == null ? "" : String(cell.value),
          "data-run-id": cell.run_id || "", "data-variants": cell.variants.join(",") });
        const peak = cell.run_id && peaks.has(cell.run_id);
        if (peak) rect.classList.add("peak");
        rect.appendChild(el("title", {}, `${hm.x}=${xv} ${hm.y}=${yv}: ${labels[hm.metric]} ${show(hm.metric, cell.value)}` +
          (cell.variants.length > 1 ? ` (${hm.how} of ${cell.variants.length} variants)` : "") + (peak ? " · isolated peak" : "") +
          (cell.run_id ? " · click: its run" : "")));
        rect.onclick = () => goTo(cell.run_id);
        svg.appendChild(rect);
        if (textual && cell.value != null) {
          svg.appendChild(el("text", { x: x + cw / 2, y: y + ch / 2 + 4, "text-anchor": "middle", class: "value" }, show(hm.metric, cell.value) + (peak ? "▲" : "")));
        }
      });
    });
    hm.xs.forEach((xv, c) => svg.appendChild(el("text", { x: left + cw * c + cw / 2, y: top + ch * hm.ys.length + 16, "text-anchor": "middle", class: "tick" }, String(xv))));
    svg.appendChild(el("text", { x: left + (cw * hm.xs.length) / 2, y: top + ch * hm.ys.length + 40, "text-anchor": "middle", class: "axis" }, hm.x));
    svg.appendChild(el("text", { x: 14, y: top + (ch * hm.ys.length) / 2, "text-anchor": "middle", class: "axis",
      transform: `rotate(-90 14 ${top + (ch * hm.ys.length) / 2})` }, hm.y));
    box.replaceChildren(svg);
    Object.assign(box.dataset, { kind: "heatmap", cells: String(hm.xs.length * hm.ys.length), x: hm.x, y: hm.y, metric: hm.metric });
  }

  // a line over one parameter: its points clickable, like the heatmap's cells
  function drawLine(box, ln, labels, peaks) {
    const width = Math.max(480, Math.min(1000, box.clientWidth || 900)), height = 280;
    const left = 70, top = 14, bottom = 46, right = 20;
    const svg = el("svg", { width, height, role: "img", "aria-label": `${labels[ln.metric]} over ${ln.param}` });
    const vals = ln.values.filter((v) => v != null);
    const lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
    const px = (i) => left + (ln.xs.length > 1 ? (i * (width - left - right)) / (ln.xs.length - 1) : (width - left - right) / 2);
    const py = (v) => top + (hi > lo ? ((hi - v) * (height - top - bottom)) / (hi - lo) : (height - top - bottom) / 2);
    svg.appendChild(el("line", { x1: left, x2: width - right, y1: py(0), y2: py(0), class: "zero" }));
    [lo, hi].forEach((v) => svg.appendChild(el("text", { x: left - 6, y: py(v) + 4, "text-anchor": "end", class: "tick" }, show(ln.metric, v))));
    const pts = ln.values.map((v, i) => (v == null ? null : `${px(i)},${py(v)}`)).filter(Boolean);
    svg.appendChild(el("polyline", { points: pts.join(" "), class: "line" }));
    ln.cells.forEach((cell, i) => {
      const every = Math.ceil(ln.xs.length / 20);
      if (i % every === 0) svg.appendChild(el("text", { x: px(i), y: height - bottom + 16, "text-anchor": "middle", class: "tick" }, String(ln.xs[i])));
      if (cell.value == null) return;
      const dot = el("circle", { cx: px(i), cy: py(cell.value), r: 4, class: `point${cell.run_id ? " link" : ""}${peaks.has(cell.run_id) ? " peak" : ""}`,
        "data-x": String(ln.xs[i]), "data-value": String(cell.value), "data-run-id": cell.run_id || "" });
      dot.appendChild(el("title", {}, `${ln.param}=${ln.xs[i]}: ${labels[ln.metric]} ${show(ln.metric, cell.value)}`));
      dot.onclick = () => goTo(cell.run_id);
      svg.appendChild(dot);
    });
    svg.appendChild(el("text", { x: left + (width - left - right) / 2, y: height - 8, "text-anchor": "middle", class: "axis" }, ln.param));
    box.replaceChildren(svg);
    Object.assign(box.dataset, { kind: "line", cells: String(ln.xs.length), x: ln.param, y: "", metric: ln.metric });
  }

  // --- one sweep's page ---
  function sweepPage() {
    tb.showKeptNotices();
    const root = $("#sweep");
    const key = root.dataset.key, sweepId = root.dataset.sweepId;
    // a variant's run id is the sweep id and _vN: the link shows vN, the full id on hover
    const link = (id) => `<a href="/runs/${encodeURIComponent(id)}" title="${esc(id)}">${esc(id.startsWith(`${sweepId}_`) ? id.slice(sweepId.length + 1) : id)}</a>`;
    const labels = JSON.parse($("#metric-labels").textContent);
    let status = root.dataset.status, done = null, lastRefresh = 0, sortBy = null, sortDir = 1, table = null, peaks = new Set();
    bindCancel(root);
    bindResume(root);
    $$("[data-ns]", root).forEach((e) => (e.textContent = started(e.dataset.ns)));

    function fillAxes(axes) {
      const names = Object.keys(axes);
      for (const [id, pick] of [["#axis-x", names[0]], ["#axis-y", names[1] || names[0]]]) {
        const s = $(id);
        if (s.options.length === names.length) continue;
        s.innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(n)} (${axes[n].length})</option>`).join("");
        s.value = pick || "";
      }
      $("#axis-y").closest("label").hidden = names.length < 2;
    }
    async function loadSurface() {
      const q = new URLSearchParams({ metric: $("#metric").value, how: $("#how").value });
      if ($("#axis-x").value) q.set("x", $("#axis-x").value);
      if ($("#axis-y").value && Object.keys(table ? table.axes : {}).length > 1) q.set("y", $("#axis-y").value);
      const { ok, body } = await api(`${sweepUrl(key)}/surface?${q}`);
      if (!ok) return ($("#surface-note").textContent = body.error || "");
      fillAxes(body.axes);
      const box = $("#heatmap");
      if (body.heatmap) drawHeatmap(box, body.heatmap, labels, peaks);
      else if (body.line) drawLine(box, body.line, labels, peaks);
      else {
        box.replaceChildren();
        box.dataset.kind = "none";
      }
      const part = body.heatmap || body.line;
      $("#surface-note").textContent = !part ? "No parameter varies: nothing to draw." :
        `Each ${body.heatmap ? "cell" : "point"} shows ${body.how === "best" ? "the best" : "the median"} ${labels[body.metric]} ` +
        `of the variants with those values${Object.keys(body.axes).length > (body.heatmap ? 2 : 1) ? " (whatever the other parameters)" : ""}; ` +
        "click one to open its run. ▲ marks an isolated peak: a top-decile variant whose grid neighbours are ordinary.";
    }

    const columns = () => {
      const cols = [["variant", "#", (r) => r.variant], ...table.params.map((p) => [`param:${p}`, p, (r) => r.params[p]])];
      cols.push(["status", "status", (r) => r.status]);
      for (const m of ["net_pnl", "sharpe", "sortino", "max_drawdown", "fills", "win_rate", "exposure"]) cols.push([m, labels[m], (r) => r[m]]);
      if (!["net_pnl", "sharpe", "sortino", "max_drawdown", "fills", "win_rate", "exposure"].includes(table.metric)) cols.push([table.metric, labels[table.metric], (r) => r[table.metric]]);
      cols.push(["neighbour_median", `neighbours' ${labels[table.metric]}`, (r) => r.neighbour_median]);
      if (table.has_oos) {
        cols.push(["oos_net_pnl", "OOS net PnL", (r) => r.oos && r.oos.net_pnl], ["oos_sharpe", "OOS Sharpe", (r) => r.oos && r.oos.sharpe],
          ["oos_max_drawdown", "OOS max drawdown", (r) => r.oos && r.oos.max_drawdown], ["oos_run", "OOS run", (r) => r.oos && r.oos.run_id]);
      }
      cols.push(["run_id", "run", (r) => r.run_id || r.error]);
      return cols;
    };
    function renderTable() {
      const cols = columns();
      const rows = [...table.variants];
      if (sortBy) {
        const get = (cols.find((c) => c[0] === sortBy) || cols[0])[2];
        rows.sort((a, b) => {
          const x = get(a), y = get(b);
          if (x == null || y == null) return (x == null) - (y == null);  // blanks last either way
          return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
        });
      }
      $("#variants thead").innerHTML = `<tr>${cols.map(([k, label]) => `<th data-sort="${esc(k)}" class="${k === sortBy ? (sortDir > 0 ? "asc" : "desc") : ""}">${esc(label)}</th>`).join("")}</tr>`;
      const cell = (k, r, v) => {
        if (k === "run_id") return r.run_id ? `<td class="nowrap">${link(r.run_id)}</td>` : `<td class="error-line">${esc(r.error || "")}</td>`;
        if (k === "oos_run") return `<td class="nowrap">${v ? link(v) : ""}</td>`;
        if (k === "status") return `<td><span class="status ${esc(v)}">${esc(v)}</span></td>`;
        if (k.startsWith("param:")) return `<td class="num">${esc(v)}</td>`;
        const metric = k.replace(/^oos_/, "").replace("neighbour_median", table.metric);
        const peak = k === table.metric && r.isolated_peak ? ' <span class="tag peak" title="isolated peak: its grid neighbours are ordinary">peak</span>' : "";
        return `<td class="num nowrap${typeof v === "number" && v < 0 ? " neg" : ""}">${k === "variant" ? v : show(metric, v)}${peak}</td>`;
      };
      $("#variants tbody").innerHTML = rows.map((r) => `<tr data-variant="${r.variant}" data-run-id="${esc(r.run_id || "")}">${cols.map(([k, , get]) => cell(k, r, get(r))).join("")}</tr>`).join("");
      $$("#variants th[data-sort]").forEach((th) => {
        th.onclick = () => {
          sortDir = sortBy === th.dataset.sort ? -sortDir : (th.dataset.sort === "variant" || th.dataset.sort.startsWith("param:") ? 1 : -1);
          sortBy = th.dataset.sort;
          renderTable();
        };
      });
      const n = table.variants.length, peaked = table.variants.filter((r) => r.isolated_peak).length;
      const rho = table.rank_correlation;
      $("#variants-note").textContent = `${fmt.int(n)} variants, ranked by ${labels[table.metric]}` +
        (peaked ? ` · ${fmt.int(peaked)} isolated peak${peaked === 1 ? "" : "s"}` : "") +
        (table.has_oos ? ` · OOS: the held-out period; rank correlation of ${labels[table.metric]} in and out of sample ` +
          (rho == null ? "— (too few pairs)" : fmt.num(rho, 2)) : "") + " · click a heading to sort";
      $("#variants-note").dataset.rankCorrelation = rho == null ? "" : String(rho);
      renderWindows();
      $("#variants").dataset.rows = String(n);
    }
    function renderWindows() {
      const windows = table.walk_forward || [];
      $("#walk-forward-section").hidden = !windows.length;
      if (!windows.length) return;
      const m = table.metric, params = (p) => (p ? Object.entries(p.params).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(" ") : "—");
      const run = (p) => (p && p.run_id ? link(p.run_id) : "");
      $("#walk-forward thead").innerHTML = `<tr><th>window</th><th>from (UTC)</th><th>to (UTC)</th><th>its best</th><th>${esc(labels[m])} in it</th>` +
        `<th>previous window's best here</th><th>${esc(labels[m])} here (out of sample)</th><th>run</th></tr>`;
      $("#walk-forward tbody").innerHTML = windows.map((w) => `<tr data-window="${w.window}"><td class="num">${w.window}</td><td class="nowrap">${started(w.start_ns)}</td>` +
        `<td class="nowrap">${started(w.end_ns)}</td><td>${params(w.best)}</td><td class="num">${show(m, w.best && w.best[m])}</td>` +
        `<td>${params(w.out_of_sample)}</td><td class="num">${show(m, w.out_of_sample && w.out_of_sample[m])}</td><td class="nowrap">${run(w.out_of_sample)}</td></tr>`).join("");
    }
    async function loadTable() {
      const { ok, body } = await api(`${sweepUrl(key)}?metric=${encodeURIComponent($("#metric").value)}`);
      if (!ok || !body.table) return;
      table = body.table;
      peaks = new Set(table.variants.filter((r) => r.isolated_peak && r.run_id).map((r) => r.run_id));
      renderTable();
    }
    async function refresh() {
      lastRefresh = Date.now();
      await loadTable();
      await loadSurface();
    }
    for (const id of ["#metric", "#how"]) $(id).onchange = refresh;
    for (const id of ["#axis-x", "#axis-y"]) $(id).onchange = loadSurface;

    async function poll() {
      const { ok, body } = await api(sweepUrl(key));
      if (ok) {
        if (body.status !== status || (body.sweep_id && !root.dataset.sweepId)) {
          const url = `/sweeps/${encodeURIComponent(body.key)}`;
          return location.pathname === url ? location.reload() : location.replace(url);
        }
        const now = body.completed + body.failed;
        if (body.variants) {
          $("#progress-bar") && ($("#progress-bar").style.width = `${Math.round((100 * now) / body.variants)}%`);
          if ($("#progress-text")) $("#progress-text").textContent = `${fmt.int(now)} of ${fmt.int(body.variants)} variants done (${fmt.int(body.failed)} failed) · ${fmt.seconds(body.wall_time_s)}`;
          $("#counts").textContent = `${fmt.int(body.completed)} completed, ${fmt.int(body.failed)} failed of ${fmt.int(body.variants)} variants`;
        }
        if (now !== done && root.dataset.sweepId && Date.now() - lastRefresh >= REFRESH_MS) {
          done = now;
          await refresh();
        }
      }
      if (LIVE.includes(status)) setTimeout(poll, POLL_MS);
    }
    if (root.dataset.sweepId) refresh();
    if (LIVE.includes(status)) poll();
  }

  // --- the New run form's sweep mode: a value, a range or a list per parameter; the live count ---
  function sweepForm(form, collect, showErrors) {
    const modeInputs = $$("input[name=mode]", form);
    const isSweep = () => (modeInputs.find((i) => i.checked) || {}).value === "sweep";
    const picked = () => $$("fieldset.strategy", form).filter((fs) => $(".pick", fs).checked);
    function sync() {
      const on = isSweep();
      form.classList.toggle("sweeping", on);
      $$(".sweep-only", form).forEach((e) => (e.hidden = !on));
      $$(".run-only", form).forEach((e) => (e.hidden = on));
      $$("label.param", form).forEach((l) => {
        const how = $("select.vary", l);
        const mode = on && how ? how.value : "value";
        $$("[data-vary]", l).forEach((e) => (e.hidden = e.dataset.vary !== mode));
      });
      $("#launch-button").textContent = on ? "Launch sweep" : "Launch run";
      count();
    }
    // the payload: the run form's, and per strategy its grid (parameter -> "A:B:STEP" or "V1,V2,...")
    function payload() {
      const p = collect();
      p.strategies = picked().map((fs) => {
        const params = {}, grid = {};
        for (const l of $$("label.param", fs)) {
          const value = $("[data-vary=value] [name], [data-vary=value][name]", l);
          const how = $("select.vary", l);
          const name = l.dataset.param;
          if (how && how.value === "range") {
            const [lo, hi, step] = ["min", "max", "step"].map((k) => $(`[data-part=${k}]`, l).value.trim());
            grid[name] = step ? `${lo}:${hi}:${step}` : `${lo}:${hi}`;
          } else if (how && how.value === "list") {
            grid[name] = $("[data-part=list]", l).value.trim();
          } else if (value) {
            params[name] = value.dataset.kind === "bool" ? value.checked : value.value;
          }
        }
        return { key: fs.dataset.key, params, grid };
      });
      for (const k of ["where", "random", "seed", "workers", "scheduler", "record", "name", "sort", "max_failures", "holdout", "top", "walk_forward", "search", "trials"]) {
        const input = $(`[name=sweep_${k}]`, form);
        if (input && input.value.trim() !== "") p[k] = input.value.trim();
      }
      if (p.scheduler) delete p.workers;  // the cluster's workers run the variants
      const multi = $("[name=sweep_multi_process]", form);
      if (multi && multi.checked) p.multi_process = true;
      return p;
    }
    let timer = null, asked = 0;
    function count() {
      clearTimeout(timer);
      if (!isSweep()) return;
      timer = setTimeout(async () => {
        const n = ++asked;
        const { ok, body } = await send("POST", "/api/sweeps/count", payload());
        if (n !== asked) return;  // a newer count is on its way
        const out = $("#variant-count");
        clear();
        if (!ok) return (out.textContent = body.error || "the dashboard is not answering");
        if (body.variants != null) {
          const axes = Object.entries(body.axes).map(([k, v]) => `${k} ${fmt.int(v)}`).join(" × ");
          out.textContent = `${fmt.int(body.variants)} variant${body.variants === 1 ? "" : "s"}` +
            (body.variants !== body.grid_size ? ` (of ${fmt.int(body.grid_size)} grid points: ${axes})` : axes ? ` (${axes})` : "") +
            (body.out_of_sample ? `, then the top ${fmt.int(body.out_of_sample)} again on the held-out data` : "") +
            (body.walk_forward ? `, and each again on ${fmt.int(body.walk_forward)} walk-forward windows` : "");
          out.dataset.variants = String(body.variants);
        } else {
          out.textContent = "no variants yet: see the messages next to the inputs";
          out.dataset.variants = "";
          showErrors(body.errors);
        }
      }, COUNT_AFTER_MS);
    }
    const clear = () => $$("[data-error-for]", form).forEach((e) => (e.textContent = ""));
    modeInputs.forEach((i) => (i.onchange = sync));
    $$("select.vary", form).forEach((s) => (s.onchange = sync));
    form.addEventListener("input", () => count());
    form.addEventListener("change", () => count());
    if (location.hash === "#sweep") modeInputs.forEach((i) => (i.checked = i.value === "sweep"));
    sync();
    return { isSweep, payload };
  }

  Object.assign(tb, { sweepsPage, sweepPage, sweepForm, drawHeatmap, drawLine });
})();
