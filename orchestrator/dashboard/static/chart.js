// tickbus dashboard: the run page's Chart view. A symbol's bars split into segments (by bars, by
// calendar period, around each round trip, where conditions hold), drawn as candlesticks, OHLC bars
// or a close line with the fills and the strategies' indicators; each indicator's pane, placement,
// style, colour, width and visibility, and "fill between" bands, are saved per strategy set.
"use strict";
(() => {
  const { $, $$, esc, fmt, api, send, runUrl } = tb;
  const COLOR = { blue: "#2962ff", red: "#d32f2f", green: "#2e7d32", orange: "#ef6c00", purple: "#7b1fa2", cyan: "#0097a7",
    magenta: "#c2185b", teal: "#00796b", black: "#212121", gold: "#c49000" };
  const COLOR_NAMES = Object.keys(COLOR);
  const WIDTH = { thin: 1, normal: 2, thick: 3, extra_thick: 4 };
  const PRICE_PANE_PX = 380, PANE_PX = 140, AXIS_PX = 30;
  const MARKER_TEXT_MAX = 40;  // fill labels only when this few fills are in view (else they overlap)
  const SAVE_AFTER_MS = 400;
  const rgba = (hex, a) => `rgba(${parseInt(hex.slice(1, 3), 16)},${parseInt(hex.slice(3, 5), 16)},${parseInt(hex.slice(5, 7), 16)},${a})`;
  const opts = JSON.parse($("#chart-options").textContent);
  const option = (values, labels = {}) => values.map((v) => `<option value="${esc(v)}">${esc(labels[v] || v.replace("_", " "))}</option>`).join("");

  // "fill between": a custom series painting the area between two values per bar
  class BandRenderer {
    update(data, options) {
      this.data = data;
      this.options = options;
    }
    draw(target, toY) {
      const d = this.data;
      if (!d || !d.visibleRange || !d.bars.length) return;
      target.useBitmapCoordinateSpace(({ context: ctx, horizontalPixelRatio: hr, verticalPixelRatio: vr }) => {
        const bars = d.bars.slice(d.visibleRange.from, d.visibleRange.to);
        let run = [];
        const flush = () => {
          if (run.length > 1) {
            ctx.beginPath();
            run.forEach((b, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, b.x * hr, toY(b.originalData.upper) * vr));
            [...run].reverse().forEach((b) => ctx.lineTo(b.x * hr, toY(b.originalData.lower) * vr));
            ctx.closePath();
            ctx.fillStyle = this.options.color;
            ctx.fill();
          }
          run = [];
        };
        for (const b of bars) {
          const o = b.originalData;
          if (o.upper == null || o.lower == null) flush();
          else run.push(b);
        }
        flush();
      });
    }
  }
  class Band {
    constructor() {
      this.r = new BandRenderer();
    }
    renderer() { return this.r; }
    update(data, options) { this.r.update(data, options); }
    priceValueBuilder(row) { return [row.lower, row.upper, row.upper]; }
    isWhitespace(row) { return row.upper == null || row.lower == null; }
    defaultOptions() { return Object.assign({}, LightweightCharts.customSeriesDefaultOptions, { color: "rgba(41,98,255,0.15)" }); }
  }

  class ChartView {
    constructor(key) {
      this.key = key;
      this.symbols = [];
      this.segments = [];
      this.fields = {};
      this.data = null;
      this.settings = null;
      this.strategySet = "";
      this.el = $("#price-chart");
      $("#split-period").innerHTML = option([]);
      $("#symbol").onchange = () => this.loadSegments();
      $("#split-mode").onchange = () => {
        this.showSplitOptions();
        if ($("#split-mode").value !== "condition") this.loadSegments();
      };
      for (const id of ["#split-size", "#split-overlap", "#split-period", "#split-padding"]) $(id).onchange = () => this.loadSegments();
      $("#apply-condition").onclick = () => this.loadSegments();
      $("#add-condition").onclick = () => this.addCondition();
      $("#segment").onchange = () => this.loadPrice();
      $("#segment-prev").onclick = () => this.step(-1);
      $("#segment-next").onclick = () => this.step(1);
      $("#chart-type").onchange = () => {
        this.settings.chart_type = $("#chart-type").value;
        this.redraw();
        this.save();
      };
      $("#add-band").onclick = () => {
        const keys = (this.data ? this.data.indicators : []).map((i) => i.key);
        this.settings.fill_between.push({ upper: keys[0] || "", lower: keys[1] || keys[0] || "", color: "blue", alpha: 0.15 });
        this.renderBands();
        this.redraw();
        this.save();
      };
      this.showSplitOptions();
    }

    showSplitOptions() {
      const mode = $("#split-mode").value;
      $$(".split-opts").forEach((el) => (el.hidden = el.dataset.mode !== mode));
      if (mode === "condition" && !$$("#conditions .condition").length) this.addCondition();
    }

    async setSymbols(symbols, live) {
      const changed = symbols.join("|") !== this.symbols.join("|");
      if (changed) {
        const keep = $("#symbol").value;
        this.symbols = symbols;
        $("#symbol").innerHTML = symbols.map((s) => `<option>${esc(s)}</option>`).join("");
        if (symbols.includes(keep)) $("#symbol").value = keep;
      }
      if (!this.settings) {
        const { ok, body } = await api(`${runUrl(this.key)}/chart-settings`);
        this.strategySet = ok ? body.strategy_set : "";
        this.settings = (ok && body.settings) || { chart_type: "candlestick", indicators: {}, fill_between: [] };
        $("#chart-type").value = this.settings.chart_type;
        this.renderBands();
        return this.loadSegments();
      }
      if (live) return this.loadSegments(true);
    }

    query() {
      const q = new URLSearchParams({ symbol: $("#symbol").value, mode: $("#split-mode").value });
      const mode = q.get("mode");
      if (mode === "bars") {
        q.set("size", $("#split-size").value);
        q.set("overlap", $("#split-overlap").value);
      } else if (mode === "time") {
        q.set("period", $("#split-period").value || "day");
      } else if (mode === "trades") {
        q.set("padding", $("#split-padding").value);
      } else if (mode === "condition") {
        for (const row of $$("#conditions .condition")) {
          const right = $(".right", row).value === "" ? $(".value", row).value : $(".right", row).value;
          q.append("left", $(".left", row).value);
          q.append("op", $(".op", row).value);
          q.append("right", right);
        }
        q.set("gap", $("#split-gap").value);
        q.set("context", $("#split-context").value);
      }
      return q;
    }

    async loadSegments(live = false) {
      if (!$("#symbol").value) return;
      const index = live ? $("#segment").selectedIndex : 0;
      const { ok, status, body } = await api(`${runUrl(this.key)}/segments?${this.query()}`);
      $("#segment-error").textContent = ok ? "" : body.error || (status ? `the dashboard answered ${status}` : "");
      if (!ok) return;
      this.segments = body.segments;
      this.fields = body.fields;
      if (!$("#split-period").options.length) {
        $("#split-period").innerHTML = option(body.periods);
        $("#split-period").value = "day";
      }
      this.refreshConditionFields();
      $("#segment").innerHTML = body.segments.map((s) => `<option value="${s.n - 1}">${s.n}. ${esc(s.label)} · ${fmt.int(s.bars)} bars</option>`).join("");
      $("#segment").selectedIndex = Math.max(0, Math.min(index, body.segments.length - 1));
      $("#segment-count").textContent = body.total ? `${fmt.int(body.total)} segment${body.total === 1 ? "" : "s"}` +
        (body.total > body.segments.length ? ` (first ${fmt.int(body.segments.length)} listed)` : "") : "no segment: nothing matches";
      this.el.dataset.segments = String(body.total);
      return body.segments.length ? this.loadPrice(live) : this.clear();
    }

    step(delta) {
      const s = $("#segment");
      const i = s.selectedIndex + delta;
      if (i < 0 || i >= s.options.length) return;
      s.selectedIndex = i;
      this.loadPrice();
    }

    async loadPrice(keepRange = false) {
      const seg = this.segments[$("#segment").selectedIndex];
      if (!seg) return;
      const q = new URLSearchParams({ symbol: $("#symbol").value, start: seg.start_ns, end: seg.end_ns });
      if (seg.trade != null) q.set("trade", seg.trade);
      const { ok, body } = await api(`${runUrl(this.key)}/price?${q}`);
      if (!ok) return;
      this.data = body;
      this.segment = seg;
      this.renderSettings();
      this.renderBands();
      this.draw(keepRange);
    }

    clear() {
      if (this.chart) this.chart.remove();
      this.chart = null;
      this.data = null;
      $("#price-note").textContent = "";
    }

    // an indicator's display settings; a new one lands on price when it lives in price's range
    cfg(ind) {
      let c = this.settings.indicators[ind.key];
      if (!c) {
        const used = Object.values(this.settings.indicators).map((x) => x.panel);
        const n = Object.keys(this.settings.indicators).length;
        c = this.settings.indicators[ind.key] = {
          panel: ind.overlay ? 0 : Math.max(0, ...used) + 1, below_price: true, style: "line",
          color: COLOR_NAMES[n % COLOR_NAMES.length], width: "normal", visible: true,
        };
      }
      return c;
    }

    redraw() {
      if (this.data) this.draw(true);
    }

    draw(keepRange) {
      const data = this.data;
      const range = keepRange && this.chart ? this.chart.timeScale().getVisibleLogicalRange() : null;
      if (this.chart) this.chart.remove();
      const chart = (this.chart = tb.newChart(this.el));
      const shown = data.indicators.filter((ind) => this.cfg(ind).visible);
      // panes: indicator panels above the price pane, the price pane, panels below it, the trade's P&L
      const panels = new Map();
      for (const ind of shown) {
        const c = this.cfg(ind);
        if (c.panel > 0 && !panels.has(c.panel)) panels.set(c.panel, !c.below_price);
      }
      const sorted = [...panels.keys()].sort((a, b) => a - b);
      const paneOf = new Map();
      let next = 0;
      sorted.filter((p) => panels.get(p)).forEach((p) => paneOf.set(p, next++));
      const pricePane = next++;
      sorted.filter((p) => !panels.get(p)).forEach((p) => paneOf.set(p, next++));
      const pnlPane = data.pnl ? next++ : null;
      const paneFor = (ind) => (this.cfg(ind).panel > 0 ? paneOf.get(this.cfg(ind).panel) : pricePane);
      this.el.style.height = `${PRICE_PANE_PX + PANE_PX * (next - 1) + AXIS_PX}px`;

      const adds = [];  // [pane, order, add()]: made pane by pane, so every pane exists when used
      const type = this.settings.chart_type;
      let price = null;
      adds.push([pricePane, 1, () => {
        if (type === "line") {
          price = chart.addSeries(LightweightCharts.LineSeries, { color: "#1d2330", lineWidth: 2, title: data.symbol }, pricePane);
          price.setData(data.bars.map((b) => ({ time: b.time, value: b.close })));
        } else {
          const def = type === "ohlc" ? LightweightCharts.BarSeries : LightweightCharts.CandlestickSeries;
          price = chart.addSeries(def, { upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350" }, pricePane);
          price.setData(data.bars);
        }
      }]);
      const mark = this.segment && this.segment.mark;
      if (mark) {  // the condition's run or the trade, shaded behind the bars
        adds.push([pricePane, 0, () => {
          const s = chart.addSeries(LightweightCharts.HistogramSeries, { color: "rgba(255,193,7,0.18)", priceScaleId: "mark", lastValueVisible: false,
            priceLineVisible: false, autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 1 } }) }, pricePane);
          s.priceScale().applyOptions({ scaleMargins: { top: 0, bottom: 0 }, visible: false });
          s.setData(data.bars.map((b) => ({ time: b.time, value: b.time >= mark[0] && b.time <= mark[1] ? 1 : 0 })));
        }]);
      }
      const byKey = new Map(data.indicators.map((i) => [i.key, i]));
      for (const band of this.settings.fill_between) {
        const up = byKey.get(band.upper), lo = byKey.get(band.lower);
        if (!up || !lo) continue;
        adds.push([paneFor(up) ?? pricePane, 0.5, (pane) => {
          const lower = new Map(lo.points.map((p) => [p.time, p.value]));
          const s = chart.addCustomSeries(new Band(), { color: rgba(COLOR[band.color], band.alpha), lastValueVisible: false, priceLineVisible: false }, pane);
          s.setData(up.points.map((p) => (p.value != null && lower.get(p.time) != null ? { time: p.time, upper: p.value, lower: lower.get(p.time) } : { time: p.time })));
        }]);
      }
      for (const ind of shown) adds.push([paneFor(ind), 2, (pane) => this.addIndicator(chart, ind, pane)]);
      if (data.pnl) {
        adds.push([pnlPane, 1, () => {
          const s = chart.addSeries(LightweightCharts.BaselineSeries, { baseValue: { type: "price", price: 0 }, title: "trade P&L",
            topLineColor: "#2e7d32", topFillColor1: "rgba(46,125,50,0.25)", topFillColor2: "rgba(46,125,50,0.05)",
            bottomLineColor: "#c62828", bottomFillColor1: "rgba(198,40,40,0.05)", bottomFillColor2: "rgba(198,40,40,0.25)" }, pnlPane);
          s.setData(data.pnl.points);
          for (const [title, value, color] of [["best", data.pnl.best, "#2e7d32"], ["worst", data.pnl.worst, "#c62828"]]) {
            s.createPriceLine({ price: value, color, title, lineStyle: LightweightCharts.LineStyle.Dashed, lineWidth: 1 });
          }
        }]);
      }
      adds.sort((a, b) => a[0] - b[0] || a[1] - b[1]).forEach(([pane, , add]) => add(pane));
      const panes = chart.panes();
      panes.forEach((p, i) => p.setStretchFactor(i === pricePane ? PRICE_PANE_PX / PANE_PX : 1));
      this.markFills(price);
      if (range) chart.timeScale().setVisibleLogicalRange(range);
      else chart.timeScale().fitContent();
      Object.assign(this.el.dataset, { bars: String(data.bars.length), panes: String(panes.length), chartType: type,
        segment: this.segment ? this.segment.label : "", pricePane: String(pricePane) });
      const strategies = [...new Set(data.fills.map((f) => f.strategy))];
      const legend = strategies.length > 1 ? ` Fill markers: ${strategies.map((s, i) => `${i + 1} = ${s}`).join(", ")}.` : "";
      $("#price-note").textContent = `${fmt.int(data.bars.length)} bars${data.bucket > 1 ? ` (each merges ${fmt.int(data.bucket)} recorded bars)` : ""}, ` +
        `${fmt.int(data.fills.reduce((n, f) => n + f.fills, 0))} fills (B buy, S sell; labelled when few are in view), ` +
        `${fmt.int(shown.length)} of ${fmt.int(data.indicators.length)} indicator series shown.${legend}`;
    }

    addIndicator(chart, ind, pane) {
      const c = this.cfg(ind);
      const color = COLOR[c.color], width = WIDTH[c.width];
      const common = { title: ind.label, priceLineVisible: false, lastValueVisible: false };
      const points = ind.points;
      if (c.style === "histogram") {
        chart.addSeries(LightweightCharts.HistogramSeries, Object.assign(common, { color: rgba(color, 0.6) }), pane).setData(points);
      } else if (c.style === "background") {  // shade the pane where the value is set (non-zero)
        const s = chart.addSeries(LightweightCharts.HistogramSeries, Object.assign(common, { color: rgba(color, 0.15), priceScaleId: `bg-${ind.key}`,
          autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 1 } }) }), pane);
        s.priceScale().applyOptions({ scaleMargins: { top: 0, bottom: 0 }, visible: false });
        s.setData(points.map((p) => ({ time: p.time, value: p.value ? 1 : 0 })));
      } else {
        const style = { line: 0, dotted: 1, dashed: 2 }[c.style] ?? 0;
        chart.addSeries(LightweightCharts.LineSeries, Object.assign(common, {
          color, lineWidth: width, lineStyle: style, lineVisible: c.style !== "dots",
          pointMarkersVisible: c.style === "dots", pointMarkersRadius: width + 1,
        }), pane).setData(points);
      }
    }

    // one marker per bar, strategy and side; labels only while few are in view, so they never pile up
    markFills(series) {
      const fills = [...this.data.fills].sort((a, b) => a.time - b.time);
      const strategies = [...new Set(fills.map((f) => f.strategy))];
      const times = this.data.bars.map((b) => b.time);
      const make = (text) => fills.map((f) => ({
        time: f.time, position: f.side === "BUY" ? "belowBar" : "aboveBar", shape: f.side === "BUY" ? "arrowUp" : "arrowDown",
        color: f.side === "BUY" ? "#1565c0" : "#e65100",
        text: text ? `${strategies.length > 1 ? `${strategies.indexOf(f.strategy) + 1}:` : ""}${f.side === "BUY" ? "B" : "S"} ` +
          (Number.isInteger(f.quantity) ? fmt.int(f.quantity) : fmt.num(f.quantity, 2)) : "",
      }));
      const markers = LightweightCharts.createSeriesMarkers(series, make(false));
      const label = () => {
        const r = this.chart.timeScale().getVisibleLogicalRange();
        if (!r) return;
        const lo = times[Math.max(0, Math.floor(r.from))], hi = times[Math.min(times.length - 1, Math.ceil(r.to))];
        const inView = fills.filter((f) => f.time >= lo && f.time <= hi).length;
        const on = inView <= MARKER_TEXT_MAX;
        if (this.el.dataset.markerText === String(on)) return;
        this.el.dataset.markerText = String(on);
        markers.setMarkers(make(on));
      };
      this.el.dataset.markerText = "";
      this.chart.timeScale().subscribeVisibleLogicalRangeChange(label);
      label();
    }

    // --- display settings: one row per indicator, bands; every change redraws and is saved ---
    renderSettings() {
      const body = $("#indicator-settings tbody");
      body.innerHTML = this.data.indicators.map((ind) => {
        const c = this.cfg(ind);
        const select = (name, values, labels) => `<select data-set="${name}">${option(values, labels)}</select>`;
        return `<tr data-key="${esc(ind.key)}"><td>${esc(ind.label)}</td><td><input type="checkbox" data-set="visible" ${c.visible ? "checked" : ""}></td>` +
          `<td><input type="number" data-set="panel" min="0" max="20" value="${c.panel}" title="0: the price pane; the same number: the same pane"></td>` +
          `<td>${select("below_price", ["true", "false"], { true: "below price", false: "above price" })}</td>` +
          `<td>${select("style", opts.styles)}</td><td>${select("color", opts.colors)}</td><td>${select("width", opts.widths)}</td></tr>`;
      }).join("") || '<tr><td colspan="7" class="muted">no indicators recorded for this symbol</td></tr>';
      for (const tr of $$("tr[data-key]", body)) {
        const c = this.settings.indicators[tr.dataset.key];
        $$("[data-set]", tr).forEach((input) => {
          const name = input.dataset.set;
          if (input.tagName === "SELECT") input.value = String(c[name]);
          input.onchange = () => {
            c[name] = name === "visible" ? input.checked : name === "panel" ? Math.max(0, Math.min(20, parseInt(input.value, 10) || 0))
              : name === "below_price" ? input.value === "true" : input.value;
            this.redraw();
            this.save();
          };
        });
      }
    }

    renderBands() {
      const keys = (this.data ? this.data.indicators : []).map((i) => i.key);
      const labels = Object.fromEntries((this.data ? this.data.indicators : []).map((i) => [i.key, i.label]));
      $("#bands").innerHTML = this.settings.fill_between.map((b, i) => `<div class="band" data-index="${i}">between
        <select data-set="upper">${option(keys, labels)}</select> and <select data-set="lower">${option(keys, labels)}</select>
        <select data-set="color">${option(opts.colors)}</select>
        opacity <input type="number" data-set="alpha" min="0" max="1" step="0.05" value="${b.alpha}">
        <button type="button" class="link remove">remove</button></div>`).join("");
      for (const div of $$("#bands .band")) {
        const band = this.settings.fill_between[Number(div.dataset.index)];
        $$("[data-set]", div).forEach((input) => {
          if (input.tagName === "SELECT") input.value = band[input.dataset.set];
          input.onchange = () => {
            band[input.dataset.set] = input.dataset.set === "alpha" ? Math.max(0, Math.min(1, Number(input.value) || 0)) : input.value;
            this.redraw();
            this.save();
          };
        });
        $(".remove", div).onclick = () => {
          this.settings.fill_between.splice(Number(div.dataset.index), 1);
          this.renderBands();
          this.redraw();
          this.save();
        };
      }
    }

    save() {
      clearTimeout(this.saving);
      $("#settings-status").textContent = "saving…";
      this.saving = setTimeout(async () => {
        const { ok, body } = await send("PUT", `${runUrl(this.key)}/chart-settings`, this.settings);
        $("#settings-status").textContent = ok ? `saved for ${body.strategy_set}` : `not saved: ${body.error || "the dashboard is not answering"}`;
      }, SAVE_AFTER_MS);
    }

    // --- conditions: field op field-or-number rows, all of which must hold ---
    addCondition() {
      const row = document.createElement("div");
      row.className = "condition";
      row.innerHTML = `<select class="left"></select> <select class="op">${option(opts.operators)}</select>
        <select class="right"></select> <input type="number" class="value" step="any" value="0">
        <button type="button" class="link remove">remove</button>`;
      $(".right", row).onchange = () => ($(".value", row).hidden = $(".right", row).value !== "");
      $(".remove", row).onclick = () => row.remove();
      $("#conditions").appendChild(row);
      this.refreshConditionFields();
    }

    refreshConditionFields() {
      const keys = Object.keys(this.fields);
      for (const row of $$("#conditions .condition")) {
        for (const [cls, extra] of [["left", ""], ["right", '<option value="">a number:</option>']]) {
          const s = $(`.${cls}`, row);
          const keep = s.value;
          s.innerHTML = extra + option(keys, this.fields);
          const fallback = cls === "left" ? "close" : keys.find((k) => k.includes("|")) || "";  // close vs the first indicator
          s.value = keep !== undefined && s.dataset.set === "1" && (keys.includes(keep) || keep === "") ? keep : fallback;
          s.dataset.set = "1";
        }
        $(".value", row).hidden = $(".right", row).value !== "";
      }
    }
  }

  tb.ChartView = ChartView;
})();
