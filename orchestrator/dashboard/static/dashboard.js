// tickbus dashboard: what every page shares (requests, notices, formats) and the runs and new-run pages.
"use strict";
const tb = (() => {
  const FINAL = ["completed", "failed", "cancelled"];
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
  const runUrl = (key) => `/api/runs/${encodeURIComponent(key)}`;
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const JSON_HEADERS = { "Content-Type": "application/json" };

  // --- numbers as people read them: separators, units ---
  const fmt = {
    int: (n) => (n == null ? "—" : Math.round(Number(n)).toLocaleString("en-US")),
    num: (n, digits = 2) => (n == null ? "—"
      : Number(n).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).replace(/^-(?=[0.,]*$)/, "")),
    signed: (n) => (n == null ? "—" : (n > 0 ? "+" : "") + fmt.num(n)),
    // a latency in microseconds: µs below 1 ms, ms below 1 s, else s
    us: (us) => {
      if (us == null) return "—";
      if (us >= 1e6) return `${fmt.num(us / 1e6, 2)} s`;
      if (us >= 1e3) return `${fmt.num(us / 1e3, 1)} ms`;
      return `${fmt.int(us)} µs`;
    },
    seconds: (s) => (s == null ? "—" : s < 60 ? `${fmt.num(s, 1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`),
  };

  // --- the server: every request says whether it answers; a banner says when it does not ---
  let downSince = null;
  function serverAnswered(yes) {
    const banner = $("#offline");
    if (!banner) return;
    if (yes) {
      downSince = null;
      banner.hidden = true;
      return;
    }
    downSince = downSince || new Date();
    banner.hidden = false;
    banner.textContent = `The dashboard server is not answering (since ${downSince.toLocaleTimeString()}): ` +
      "what this page shows may be out of date. Retrying…";
  }

  async function api(url, opts) {
    let r;
    try {
      r = await fetch(url, opts);
    } catch (err) {
      serverAnswered(false);
      return { ok: false, status: 0, body: {}, offline: true };
    }
    serverAnswered(true);
    const body = await r.json().catch(() => ({}));
    return { ok: r.ok, status: r.status, body };
  }

  const send = (method, url, data) => api(url, { method, headers: JSON_HEADERS, body: JSON.stringify(data ?? {}) });

  // --- notices: shown at the top; `keep` ones survive the page reloading itself ---
  function notice(text, kind = "info", keep = false) {
    if (keep) {
      const kept = JSON.parse(sessionStorage.getItem("tb-notices") || "[]");
      kept.push({ text, kind });
      sessionStorage.setItem("tb-notices", JSON.stringify(kept));
    }
    const box = $("#notices");
    if (!box) return;
    const div = document.createElement("div");
    div.className = `notice ${kind}`;
    div.innerHTML = `${esc(text)} <button type="button" class="link dismiss">dismiss</button>`;
    $(".dismiss", div).onclick = () => {
      div.remove();
      const kept = JSON.parse(sessionStorage.getItem("tb-notices") || "[]").filter((n) => n.text !== text);
      sessionStorage.setItem("tb-notices", JSON.stringify(kept));
    };
    box.appendChild(div);
  }
  function showKeptNotices() {
    for (const n of JSON.parse(sessionStorage.getItem("tb-notices") || "[]")) notice(n.text, n.kind);
  }

  // Buttons (`selector`) that POST to url(their data-key): disabled while it goes, saying `busy`;
  // a refusal is said on the button (`refused`) and in a notice; `then(key)` follows success.
  function bindPost(root, selector, { verb, busy, refused, url, then }) {
    $$(selector, root).forEach((b) => {
      b.onclick = async () => {
        b.disabled = true;
        b.textContent = busy;
        const { ok, body } = await send("POST", url(b.dataset.key));
        if (ok) return then && then(b.dataset.key);
        b.textContent = refused;
        notice(`${b.dataset.key}: ${body.error || `could not ${verb}`}`, "warn", true);
      };
    });
  }
  const bindCancel = (root) => bindPost(root, "button.cancel", {
    verb: "cancel", busy: "Cancelling…", refused: "not cancelled", url: (key) => `${runUrl(key)}/cancel` });

  async function deleteRuns(keys) {
    const what = keys.length === 1 ? `run ${keys[0]}` : `${keys.length} runs`;
    if (!confirm(`Delete ${what} and everything recorded for ${keys.length === 1 ? "it" : "them"}? A run still going is cancelled first.`)) return null;
    const { ok, body } = await send("DELETE", "/api/runs", { run_ids: keys });
    if (!ok) {
      notice(`Not deleted: ${body.error || "the dashboard refused"}`, "warn", true);
      return null;
    }
    if (body.pending.length) notice(`Cancelling ${body.pending.join(", ")}: deleted once it has stopped.`, "info", true);
    for (const [key, why] of Object.entries(body.refused)) notice(`${key} not deleted: ${why}`, "warn", true);
    return body;
  }

  function progressBar(fraction) {
    const pct = Math.round((fraction || 0) * 100);
    return `<div class="progress"><div class="bar" style="width:${pct}%"></div></div><span class="muted">${pct}%</span>`;
  }

  // --- runs list: statuses and progress, reloaded when the set of runs or a status changes ---
  function runsPage() {
    showKeptNotices();
    const table = $("#runs");
    bindCancel(table);
    const boxes = $$("input.select", table);
    const picked = new Set(JSON.parse(sessionStorage.getItem("tb-selected") || "[]"));
    const button = $("#delete-selected");
    const sync = () => {
      const keys = boxes.filter((b) => b.checked).map((b) => b.value);
      sessionStorage.setItem("tb-selected", JSON.stringify(keys));
      button.disabled = !keys.length;
      $("#selected-count").textContent = keys.length ? `${keys.length} selected` : "";
      $("#select-all").checked = keys.length > 0 && keys.length === boxes.length;
    };
    boxes.forEach((b) => {
      b.checked = picked.has(b.value);
      b.onchange = sync;
    });
    $("#select-all").onchange = (ev) => {
      boxes.forEach((b) => (b.checked = ev.target.checked));
      sync();
    };
    button.onclick = async () => {
      const keys = boxes.filter((b) => b.checked).map((b) => b.value);
      if (await deleteRuns(keys)) {
        sessionStorage.removeItem("tb-selected");
        location.reload();
      }
    };
    sync();
    const signature = (runs) => runs.map((r) => `${r.key}:${r.status}`).join("|");
    const shown = $$("tr[data-key]", table).map((tr) => `${tr.dataset.key}:${$("[data-field=status]", tr).textContent}`).join("|");
    async function poll() {
      const { ok, body } = await api("/api/runs");
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

  // --- new run: dataset -> symbol type -> bar period -> symbols and dates; presets; the form as JSON ---
  const RTYPES = { SECOND: 32, MINUTE: 33, HOUR: 34, DAY: 35 };

  function newRunPage() {
    showKeptNotices();
    const form = $("#launch");
    const datasets = JSON.parse($("#offer").textContent);
    const field = (name) => $(`[name=${name}]`, form);
    const dataset = () => datasets.find((d) => d.key === field("dataset").value);
    const infos = () => {
      const d = dataset();
      return (d && d.coverage[field("symbol_type").value] || {})[field("bar_period").value] || [];
    };
    const checked = () => $$("#symbol-list input:checked").map((c) => c.value);

    function fill(select, values, labels = {}) {
      const keep = select.value;
      select.innerHTML = values.map((v) => `<option value="${esc(v)}">${esc(labels[v] || v)}</option>`).join("");
      if (values.includes(keep)) select.value = keep;
    }
    function dates() {  // the range the chosen symbols cover: the inputs' bounds, their values clamped into it
      const chosen = infos().filter((i) => checked().includes(i.symbol));
      const first = chosen.map((i) => i.first).sort()[0] || "";
      const last = chosen.map((i) => i.last).sort().slice(-1)[0] || "";
      for (const name of ["start", "end"]) {
        const input = field(name);
        const wasEdge = !input.value || input.value === input.dataset.edge;
        input.min = first;
        input.max = last;
        if (wasEdge || (input.value && (input.value < first || input.value > last))) input.value = name === "start" ? first : last;
        input.dataset.edge = input.value;
      }
      $("#coverage").textContent = chosen.length ? `the chosen symbols' data: ${first} … ${last}` : "";
    }
    function symbols(select = null) {
      const list = infos();
      const want = select || new Set(list.map((i) => i.symbol));
      $("#symbol-list").innerHTML = list.map((i) =>
        `<label class="sym"><input type="checkbox" name="symbol" value="${esc(i.symbol)}" ${want.has(i.symbol) ? "checked" : ""}> ` +
        `${esc(i.symbol)} <span class="muted">${esc(i.first)} … ${esc(i.last)}</span></label>`).join("") ||
        '<span class="muted">no symbols of this type and period</span>';
      $$("#symbol-list input").forEach((c) => (c.onchange = dates));
      filterSymbols();
      dates();
    }
    function periods() {
      const d = dataset();
      fill(field("bar_period"), d ? Object.keys(d.coverage[field("symbol_type").value] || {}) : []);
    }
    function types() {
      const d = dataset();
      fill(field("symbol_type"), d ? d.symbol_types : []);
    }
    const filterSymbols = () => {
      const text = $("#symbol-filter").value.toLowerCase();
      $$("#symbol-list label").forEach((l) => (l.hidden = !!text && !l.textContent.toLowerCase().includes(text)));
    };
    $("#symbol-filter").oninput = filterSymbols;
    field("dataset").onchange = () => { types(); periods(); symbols(); };
    field("symbol_type").onchange = () => { periods(); symbols(); };
    field("bar_period").onchange = () => symbols(new Set(checked()));
    $$("#symbols button[data-select]").forEach((b) => {
      b.onclick = () => {
        $$("#symbol-list label:not([hidden]) input").forEach((c) => (c.checked = b.dataset.select === "all"));
        dates();
      };
    });
    types(); periods(); symbols();

    // presets: onesecondtrader's symbol_presets in presets.db (publisher id, rtype, symbol type, symbols)
    let presets = [];
    const status = (text) => ($("#preset-status").textContent = text);
    async function loadPresets(select) {
      const { ok, body } = await api("/api/presets");
      if (!ok) return;
      presets = body.presets;
      fill($("#preset"), ["", ...presets.map((p) => p.name)], { "": "(none)" });
      $("#preset").value = select ?? "";
    }
    $("#preset").onchange = () => {
      const p = presets.find((x) => x.name === $("#preset").value);
      if (!p) return;
      const d = datasets.find((x) => x.publisher_id === p.publisher_id) || datasets.find((x) => x.publisher === p.publisher_name);
      const period = Object.keys(RTYPES).find((k) => RTYPES[k] === p.rtype);
      if (!d) return status(`preset ${p.name}: its dataset (${p.publisher_name}, id ${p.publisher_id}) is not in this secmaster`);
      field("dataset").value = d.key;
      types();
      field("symbol_type").value = p.symbol_type;
      periods();
      if (period) field("bar_period").value = period;
      symbols(new Set(p.symbols));
      const missing = p.symbols.filter((s) => !checked().includes(s));
      status(`loaded ${p.name}: ${fmt.int(p.symbols.length - missing.length)} symbols` + (missing.length ? `; not in this data: ${missing.join(", ")}` : ""));
    };
    $("#preset-save").onclick = async () => {
      const name = $("#preset-name").value.trim() || $("#preset").value;
      const d = dataset();
      if (!name) return status("give the preset a name");
      if (!d || !checked().length) return status("choose a dataset and at least one symbol first");
      const { ok, body } = await send("POST", "/api/presets", {
        name, publisher_name: d.publisher, publisher_id: d.publisher_id, rtype: RTYPES[field("bar_period").value],
        symbol_type: field("symbol_type").value, symbols: checked(),
      });
      if (!ok) return status(body.error || "not saved");
      $("#preset-name").value = "";
      await loadPresets(name);
      status(`saved ${name}`);
    };
    $("#preset-delete").onclick = async () => {
      const name = $("#preset").value;
      if (!name) return status("choose the preset to delete");
      if (!confirm(`Delete the preset ${name}?`)) return;
      const { ok, body } = await send("DELETE", `/api/presets/${encodeURIComponent(name)}`);
      if (!ok) return status(body.error || "not deleted");
      await loadPresets();
      status(`deleted ${name}`);
    };
    loadPresets();

    const sync = (fs) => fs.classList.toggle("off", !$(".pick", fs).checked);
    $$("fieldset.strategy", form).forEach((fs) => {
      sync(fs);
      $(".pick", fs).onchange = () => sync(fs);
    });

    const collect = () => ({
      strategies: $$("fieldset.strategy", form).filter((fs) => $(".pick", fs).checked).map((fs) => {
        const params = {};
        $$(".params [name]", fs).forEach((i) => (params[i.name] = i.dataset.kind === "bool" ? i.checked : i.value));
        return { key: fs.dataset.key, params };
      }),
      dataset: field("dataset").value, symbol_type: field("symbol_type").value, bar_period: field("bar_period").value,
      symbols: checked(), start: field("start").value, end: field("end").value,
      commission_per_unit: field("commission_per_unit").value,
    });
    const sweep = tb.sweepForm && $("input[name=mode]", form) ? tb.sweepForm(form, collect, showErrors) : null;

    form.onsubmit = async (ev) => {
      ev.preventDefault();
      $$("[data-error-for]", form).forEach((e) => (e.textContent = ""));
      const sweeping = sweep && sweep.isSweep();
      const button = $("#launch-button");
      button.disabled = true;
      const { ok, status: code, body } = await send("POST", sweeping ? "/api/sweeps" : "/api/runs", sweeping ? sweep.payload() : collect());
      button.disabled = false;
      if (ok) return (location.href = body.url);
      showErrors(body.errors || { fields: {}, params: {}, form: code ? `the dashboard answered ${code}` : "the dashboard server is not answering" });
    };

    // each message next to its input: fields, a strategy's parameters, the rest for the whole form
    function showErrors(errors) {
      for (const [name, msg] of Object.entries(errors.fields || {})) {
        const el = $$(`[data-error-for="${name}"]`, form).find((e) => !e.closest("fieldset.strategy"));
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
    }
  }

  return { FINAL, $, $$, esc, fmt, api, send, runUrl, notice, showKeptNotices, bindPost, bindCancel, deleteRuns, runsPage, newRunPage };
})();
