// flowbot playground: the page is a chat platform. It keeps each
// column's context, as Userlike does, and sends it back with each event to
// POST api/turn, where flowtest.Exchange (runtime/turn.Run) plays it. No
// flow logic runs here: this file only draws what the server answers.
"use strict";

const CHANNELS = ["web", "whatsapp_business", "facebook", "sms", "telegram", "threema", "custom"];
const TITLES = { web: "Web", whatsapp_business: "WhatsApp", facebook: "Facebook", sms: "SMS", telegram: "Telegram", threema: "Threema", custom: "Custom" };
const $ = (sel) => document.querySelector(sel);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const S = {
  file: "", info: null, etag: "", now: "", start: {},
  focus: 0,
  cols: [], // {ch, ctx, intents: [event], events: [event], last: response, trace: [], calls: [], errors: [], states: []}
  viz: null,
};

function newCol(ch) {
  return { ch, ctx: null, intents: [], events: [], last: null, trace: [], calls: [], errors: [], states: [] };
}

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({ error: "the server answered " + r.status }));
  if (!r.ok) throw new Error(j.error || "the server answered " + r.status);
  return j;
}

function setStatus(text, kind) {
  const s = $("#status");
  s.textContent = text;
  s.className = kind || "";
}

// ---- set-up the page sends with every turn ----

function parseLines(text, sep) {
  const out = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const i = t.indexOf(sep);
    if (i > 0) out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

function setup() {
  return { file: S.file, env: parseLines($("#env").value, "="), mocks: $("#mocks").value, now: S.now, start: S.start };
}

// ---- columns ----

function buildColumns() {
  const root = $("#columns");
  root.innerHTML = "";
  S.cols.forEach((col, i) => {
    const c = el("div", "phone ch-" + col.ch);
    c.dataset.channel = col.ch;
    const head = el("div", "phone-head");
    const pick = el("select", "phone-channel");
    pick.title = "Change this column's channel: its conversation is played again there";
    for (const ch of CHANNELS) {
      const o = el("option", "", TITLES[ch]);
      o.value = ch;
      o.selected = ch === col.ch;
      pick.append(o);
    }
    pick.onchange = () => changeChannel(i, pick.value);
    const badge = el("span", "badge");
    head.append(pick, badge);
    head.onclick = (e) => { if (e.target !== pick) setFocus(i); };
    const msgs = el("div", "msgs");
    const form = el("form", "col-composer");
    const input = el("input");
    input.placeholder = "Type on " + TITLES[col.ch] + " only";
    input.autocomplete = "off";
    form.append(input, el("button", "", "Send"));
    form.onsubmit = (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      play({ name: "message", text }, [i]);
    };
    c.append(head, msgs, form);
    col.view = { root: c, msgs, badge };
    root.append(c);
  });
  const f = $("#focus");
  f.innerHTML = "";
  S.cols.forEach((col, i) => {
    const o = el("option", "", TITLES[col.ch]);
    o.value = i;
    o.selected = i === S.focus;
    f.append(o);
  });
  markFocus();
}

function markFocus() {
  S.cols.forEach((col, i) => col.view && col.view.root.classList.toggle("focused", i === S.focus));
  $("#focus").value = S.focus;
}

function setFocus(i) {
  S.focus = i;
  markFocus();
  drawPanels();
}

function scrollDown(col) {
  col.view.msgs.scrollTop = col.view.msgs.scrollHeight;
}

// ---- formatting per channel ----

function inlineMarkdown(s) {
  // s is escaped already
  return s
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")
    .replace(/__([^_]+)__/g, "<b>$1</b>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<i>$2</i>")
    .replace(/(^|\W)_([^_\s][^_]*)_(?=\W|$)/g, "$1<i>$2</i>")
    .replace(/~~([^~]+)~~/g, "<s>$1</s>")
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<span class="link" title="$2">$1</span>');
}

// Web shows markdown_v1 in full.
function markdownHTML(text) {
  const lines = esc(text).split("\n");
  let html = "", list = "";
  for (const line of lines) {
    const ul = line.match(/^\s*[-*+]\s+(.*)$/), ol = line.match(/^\s*\d+[.)]\s+(.*)$/);
    const kind = ul ? "ul" : ol ? "ol" : "";
    if (list && kind !== list) { html += "</" + list + ">"; list = ""; }
    if (kind) {
      if (!list) { html += "<" + kind + ">"; list = kind; }
      html += "<li>" + inlineMarkdown((ul || ol)[1]) + "</li>";
      continue;
    }
    const h = line.match(/^#{1,6}\s+(.*)$/);
    if (h) { html += "<b>" + inlineMarkdown(h[1]) + "</b><br>"; continue; }
    const q = line.match(/^&gt;\s?(.*)$/);
    if (q) { html += "<blockquote>" + inlineMarkdown(q[1]) + "</blockquote>"; continue; }
    html += inlineMarkdown(line) + "<br>";
  }
  if (list) html += "</" + list + ">";
  return html.replace(/(<br>)+$/, "");
}

// WhatsApp, Facebook, Telegram and Threema get the app's own syntax
// (converted by the server): *bold*, _italic_, ~strike~, `code`.
function nativeHTML(text) {
  return esc(text)
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=[\s).,!?:;]|$)/gm, "$1<b>$2</b>")
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,!?:;]|$)/gm, "$1<i>$2</i>")
    .replace(/(^|[\s(])~([^~\n]+)~(?=[\s).,!?:;]|$)/gm, "$1<s>$2</s>")
    .replace(/\n/g, "<br>");
}

function textHTML(ch, body, format) {
  if (format === "markdown_v1" && ch === "web") return markdownHTML(body);
  if (["whatsapp_business", "facebook", "telegram", "threema"].includes(ch)) return nativeHTML(body);
  return esc(body).replace(/\n/g, "<br>");
}

function bubble(col, who, html, extra) {
  const b = el("div", "msg " + who + (extra ? " " + extra : ""));
  b.innerHTML = html;
  col.view.msgs.append(b);
  return b;
}

function optionButton(cls, label, id, note) {
  const b = el("button", cls, label);
  b.type = "button";
  b.dataset.option = id;
  if (note) b.title = note;
  b.onclick = () => play({ name: "click", pick: id }, null);
  return b;
}

function mediaBox(p) {
  // Never loaded: no request leaves the machine.
  const box = el("div", "media");
  box.append(el("div", "media-icon", p.type || "file"), el("div", "media-link", p.link));
  box.title = p.type + " (not loaded in the playground)";
  return box;
}

// renderPacket draws one packet as the column's channel shows it.
function renderPacket(col, p) {
  const ch = col.ch, pl = p.payload || {};
  if (ch === "facebook") {
    // Messenger removes quick replies once another message arrives.
    col.view.msgs.querySelectorAll('[data-form="fb-quick"] .options').forEach((o) => { o.hidden = true; });
  }
  const body = (t) => textHTML(ch, t || "", pl.text_format);
  switch (p.name) {
    case "message":
      bubble(col, "bot", body(pl.body)).dataset.packet = "message";
      return;
    case "media": {
      const b = bubble(col, "bot", "");
      b.dataset.packet = "media";
      b.append(mediaBox(pl));
      if (pl.caption) b.append(el("div", "caption", pl.caption));
      return;
    }
    case "buttons": {
      const b = bubble(col, "bot", body(pl.body));
      b.dataset.packet = "buttons";
      const row = el("div", "url-buttons");
      for (const u of pl.buttons || []) {
        const a = el("span", "url-button", u.label + " ↗");
        a.title = u.url + " (not opened in the playground)";
        row.append(a);
      }
      b.append(row);
      return;
    }
    case "navigate":
      bubble(col, "system", "opens " + esc(pl.url)).dataset.packet = "navigate";
      return;
    case "delay":
      if (pl.seconds > 0) bubble(col, "system", "typing… " + esc(pl.seconds) + " s").dataset.packet = "delay";
      return;
    case "bubbles": case "button_template": case "list_template": case "carousel":
      renderChoice(col, p.name, pl);
      return;
  }
  const b = bubble(col, "system action", "⚙ <b>" + esc(p.name) + "</b> " + esc(JSON.stringify(pl)));
  b.dataset.packet = p.name;
}

function renderChoice(col, name, pl) {
  const ch = col.ch;
  const text = (t) => textHTML(ch, t || "", "");
  const b = bubble(col, "bot choice", "");
  b.dataset.packet = name;
  const form = {
    web: { bubbles: "bubbles", button_template: "card", list_template: "list", carousel: "carousel" },
    whatsapp_business: { button_template: "wa-buttons", list_template: "wa-list" },
    facebook: { button_template: "fb-template", bubbles: "fb-quick" },
  }[ch]?.[name] || "card";
  b.dataset.form = form;
  if (pl.header) b.append(el("div", "header", pl.header));
  const bodyEl = el("div", "body");
  bodyEl.innerHTML = text(pl.body);
  b.append(bodyEl);
  if (pl.footer) b.append(el("div", "footer", pl.footer));
  const opts = pl.options || [];
  if (form === "wa-list") {
    const open = el("button", "wa-list-button", "☰ " + (pl.button || "Options"));
    open.type = "button";
    if (!pl.button) open.title = "The flow gives no button text; WhatsApp shows the platform's default";
    const sheet = el("div", "wa-sheet");
    sheet.hidden = true;
    sheet.append(el("div", "wa-sheet-title", pl.button || "Options"));
    for (const o of opts) {
      const row = optionButton("wa-row", "", o.id);
      row.append(el("span", "row-title", o.label));
      if (o.description) row.append(el("span", "row-desc", o.description));
      sheet.append(row);
    }
    open.onclick = () => { sheet.hidden = !sheet.hidden; };
    sheet.addEventListener("click", () => { sheet.hidden = true; });
    b.append(open, sheet);
    return;
  }
  if (form === "carousel") {
    const strip = el("div", "carousel");
    for (const o of opts) {
      const card = el("div", "card");
      if (o.image) card.append(mediaBox({ type: "image", link: o.image }));
      card.append(el("b", "", o.label));
      if (o.description) card.append(el("div", "row-desc", o.description));
      card.append(optionButton("opt", "Choose", o.id));
      strip.append(card);
    }
    b.append(strip);
    return;
  }
  const row = el("div", "options " + form);
  for (const o of opts) {
    const btn = optionButton("opt", o.label, o.id, o.description);
    if (form === "list" && o.description) btn.append(el("span", "row-desc", o.description));
    row.append(btn);
  }
  b.append(row);
}

// what the contact did, as the column's channel shows it
function renderContact(col, ev) {
  let html, who = "contact";
  switch (ev.name) {
    case "start": html = "the contact opens the chat"; who = "system"; break;
    case "message": html = esc(ev.text); break;
    case "click": html = '<span class="tag">tap</span> ' + esc(labelOf(col, ev.click)); break;
    case "media": html = '<span class="tag">file</span> ' + esc(ev.media); break;
    case "location": html = '<span class="tag">location</span> ' + esc(ev.location.Latitude + ", " + ev.location.Longitude); break;
    default: html = "event <b>" + esc(ev.name) + "</b>"; who = "system";
  }
  bubble(col, who, html).dataset.event = ev.name;
}

function labelOf(col, id) {
  const buttons = col.view.msgs.querySelectorAll("[data-option]");
  for (let i = buttons.length - 1; i >= 0; i--) {
    if (buttons[i].dataset.option === id) return buttons[i].querySelector(".row-title")?.textContent || buttons[i].textContent;
  }
  return id;
}

// ---- playing ----

let queue = Promise.resolve();

// play sends one event to the given columns (all when null), each with
// its own context, one column after the other.
function play(ev, which) {
  queue = queue.then(() => playNow(ev, which)).catch((e) => setStatus(e.message, "error"));
  return queue;
}

async function playNow(ev, which) {
  const idx = which || S.cols.map((_, i) => i);
  for (const i of idx) await playOn(S.cols[i], ev);
  drawPanels();
}

async function playOn(col, ev) {
  const r = await api("api/turn", { ...setup(), channel: col.ch, context: col.ctx, event: ev });
  col.last = r;
  if (r.failed) {
    bubble(col, "system failed", "⚠ " + esc(r.failed));
    col.calls.push(...r.calls);
    col.errors.push({ text: r.failed });
    scrollDown(col);
    return;
  }
  col.intents.push(ev);
  col.events.push(r.event);
  col.ctx = r.context;
  renderContact(col, r.event);
  if (r.recovery) bubble(col, "system", "the context was " + esc(r.recovery) + " (the flow changed under the conversation)");
  for (const p of r.packets) renderPacket(col, p);
  col.trace.push(...r.trace);
  col.calls.push(...r.calls);
  col.errors.push(...r.errors);
  col.states.push(r.state);
  col.view.badge.textContent = r.state + (r.done ? " (done)" : "");
  col.view.root.dataset.state = r.state;
  scrollDown(col);
}

function resetCol(col) {
  Object.assign(col, newCol(col.ch), { view: col.view });
  col.view.msgs.innerHTML = "";
  col.view.badge.textContent = S.start.state || "";
  col.view.root.dataset.state = S.start.state || "";
}

// replay plays each column's contact moves again (after an edit of the
// flow, or on another channel).
async function replay(cols) {
  for (const col of cols) {
    const intents = col.intents;
    resetCol(col);
    if (S.start.state) bubble(col, "system", "starts in state <b>" + esc(S.start.state) + "</b>");
    for (const ev of intents) {
      await playOn(col, ev);
      if (col.last && col.last.failed) break;
    }
  }
  drawPanels();
}

function restart() {
  S.now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  queue = queue.then(async () => {
    for (const col of S.cols) {
      resetCol(col);
      if (S.start.state) bubble(col, "system", "starts in state <b>" + esc(S.start.state) + "</b> — say something");
    }
    drawPanels();
  });
  if (!S.start.state) play({ name: "start" }, null);
  return queue;
}

// changeChannel shows a column on another channel: the contact's moves of
// every column are played again (the views are rebuilt).
function changeChannel(i, ch) {
  S.cols[i].ch = ch;
  buildColumns();
  queue = queue.then(() => replay(S.cols));
}

// ---- panels ----

function drawPanels() {
  const col = S.cols[S.focus];
  const r = col && col.last;
  const vars = $("#vars");
  vars.innerHTML = "";
  const v = (r && r.vars) || S.start.vars || {};
  const keys = Object.keys(v).sort();
  if (!keys.length) vars.textContent = "none yet";
  const t = el("table");
  for (const k of keys) {
    const tr = el("tr");
    tr.append(el("th", "", k), el("td", "", v[k]));
    t.append(tr);
  }
  vars.append(t);

  const cx = $("#context");
  const bytes = (r && r.context_bytes) || 0, max = (r && r.context_max) || 10240;
  cx.innerHTML = "";
  const meter = el("div", "meter");
  const fill = el("div", "fill");
  fill.style.width = Math.min(100, (100 * bytes) / max) + "%";
  meter.append(fill);
  cx.append(el("div", "", bytes + " of " + max + " bytes (" + ((100 * bytes) / max).toFixed(1) + " %)"), meter);
  if (r && r.context) cx.append(el("pre", "ctx", JSON.stringify(r.context)));

  const tr = $("#trace");
  tr.innerHTML = "";
  for (const x of col ? col.trace : []) tr.append(el("li", "", fromOf(x) + " —" + (x.Trigger || "") + "→ " + x.To));

  const er = $("#errors");
  er.innerHTML = "";
  for (const e of col ? col.errors : []) {
    const li = el("li", "error", e.line ? e.file + ":" + e.line + ":" + e.column + " — " + e.text : e.text);
    er.append(li);
  }
  if (!er.children.length) er.append(el("li", "none", "none"));

  const calls = $("#calls");
  calls.innerHTML = "";
  for (const c of col ? col.calls : []) calls.append(callView(c));
  if (!calls.children.length) calls.textContent = "none yet";

  $("#state-now").textContent = col ? TITLES[col.ch] + ": " + ((r && r.state) || S.start.state || "not started") : "";
  highlight();
}

function callView(c) {
  const d = el("details", "call " + c.answered_by);
  d.open = true;
  const what = c.kind === "llm" ? "llm (" + c.state + ")" : c.method + " " + c.url;
  const sum = el("summary", "", what + " → " + (c.error ? "error: " + c.error : c.status) + " [" + c.answered_by + (c.async ? ", async" : "") + "]");
  d.append(sum);
  const req = c.kind === "llm" ? JSON.stringify(c.llm, null, 1) : (c.headers || []).map((h) => h[0] + ": " + h[1]).join("\n") + (c.body ? "\n\n" + c.body : "");
  if (req.trim()) d.append(el("div", "label", "request"), el("pre", "", req));
  if (c.response) d.append(el("div", "label", "response"), el("pre", "", c.response));
  if (c.answered_by === "none") {
    const b = el("button", "", "Add a mock for this request");
    b.type = "button";
    b.onclick = () => {
      const m = c.kind === "llm" ? '- llm: ""\n  reply: "…"\n' : "- url: " + c.url + "\n  json: {status: shipped}\n";
      const ta = $("#mocks");
      ta.value = (ta.value.trim() ? ta.value.trimEnd() + "\n" : "") + m;
      ta.focus();
    };
    d.append(b);
  }
  return d;
}

// ---- graph ----

async function drawGraph() {
  const g = $("#graph");
  if (!S.info || !S.info.dot) { g.textContent = "no graph: the flow has errors"; return; }
  try {
    if (!S.viz) S.viz = await Viz.instance();
    const svg = S.viz.renderSVGElement(S.info.dot);
    g.innerHTML = "";
    g.append(svg);
  } catch (e) {
    g.textContent = "cannot draw the graph: " + e.message;
  }
  highlight();
}

// fromOf names a transition's origin as the graph does: "(start)" for a
// new conversation.
const fromOf = (x) => (!x.From || x.From === "(new)" ? "(start)" : x.From);

function highlight() {
  const svg = $("#graph svg");
  if (!svg) return;
  const col = S.cols[S.focus];
  const state = (col && col.last && !col.last.failed && col.last.state) || (col && col.states.length ? col.states[col.states.length - 1] : S.start.state);
  const visited = new Set(), taken = new Set();
  for (const x of col ? col.trace : []) {
    visited.add(fromOf(x));
    visited.add(x.To);
    taken.add(fromOf(x) + "->" + x.To);
  }
  svg.querySelectorAll("g.node").forEach((n) => {
    const name = n.querySelector("title").textContent;
    n.classList.toggle("visited", visited.has(name));
    n.classList.toggle("current", name === state);
  });
  svg.querySelectorAll("g.edge").forEach((e) => {
    e.classList.toggle("taken", taken.has(e.querySelector("title").textContent));
  });
}

// ---- flow ----

async function loadFlow(file, keep) {
  S.file = file;
  const q = new URLSearchParams({ file });
  for (const [k, v] of Object.entries(parseLines($("#env").value, "="))) q.append("env", k + "=" + v);
  S.info = await api("api/flow?" + q);
  S.etag = S.info.etag;
  const probs = $("#problems");
  probs.innerHTML = "";
  for (const p of S.info.problems) probs.append(el("li", p.level, p.text));
  if (!S.info.problems.length) probs.append(el("li", "none", "no problems"));
  if (!keep) {
    const unset = (S.info.env || []).filter((e) => !e.set).map((e) => "# " + e.name + "=   (not set)");
    $("#env").value = unset.join("\n");
  }
  const ss = $("#start-state");
  const chosen = ss.value;
  ss.innerHTML = "";
  const first = el("option", "", "(the flow's start)");
  first.value = "";
  ss.append(first);
  for (const s of S.info.states || []) {
    const o = el("option", "", s);
    o.value = s;
    ss.append(o);
  }
  if ((S.info.states || []).includes(chosen)) ss.value = chosen;
  await drawGraph();
}

async function pollChanges() {
  if (!S.file) return;
  try {
    const r = await api("api/etag?" + new URLSearchParams({ file: S.file }));
    if (r.etag !== S.etag) {
      await loadFlow(S.file, true);
      setStatus("the flow file changed: reloaded and the conversation played again", "ok");
      queue = queue.then(() => replay(S.cols));
      await queue;
    }
  } catch (e) {
    setStatus(e.message, "error");
  }
}

async function save() {
  const channels = {};
  for (const col of S.cols) channels[col.ch] = col.events;
  setStatus("saving…");
  try {
    const r = await api("api/save", { ...setup(), channels });
    $("#saved-panel").hidden = false;
    $("#saved").textContent = (r.failures.length ? "flowbot test says:\n" + r.failures.join("\n") + "\n\n" : "") + (r.warnings || []).map((w) => "warning: " + w + "\n").join("") + r.yaml;
    const ok = r.failures.length === 0;
    $("#saved-status").textContent = (ok ? "✔ passes flowbot test: " : "✘ ") + r.passed + " passed, " + r.failures.length + " failed" + (r.written ? " — written to " + r.written : "");
    $("#saved-status").className = ok ? "ok" : "error";
    const a = $("#download");
    a.href = URL.createObjectURL(new Blob([r.yaml], { type: "text/yaml" }));
    a.download = r.file;
    a.textContent = "Download " + r.file;
    setStatus("saved " + r.file, ok ? "ok" : "error");
    $("#saved-panel").scrollIntoView();
  } catch (e) {
    setStatus(e.message, "error");
  }
}

// ---- wiring ----

async function main() {
  S.cols = ["web", "whatsapp_business", "facebook", "sms"].map(newCol);
  buildColumns();
  const { flows } = await api("api/flows");
  const sel = $("#flow");
  for (const f of flows) {
    const o = el("option", "", f.name ? f.name + " (" + f.file + ")" : f.file);
    o.value = f.file;
    sel.append(o);
  }
  const wanted = new URLSearchParams(location.search).get("flow");
  const pick = flows.find((f) => f.file === wanted || f.name === wanted) || flows[0];
  if (!pick) { setStatus("no flow files in the folder", "error"); return; }
  sel.value = pick.file;
  sel.onchange = async () => {
    S.start = {};
    $("#mocks").value = "";
    $("#saved-panel").hidden = true;
    setStatus("");
    await loadFlow(sel.value);
    restart();
  };
  $("#focus").onchange = (e) => setFocus(Number(e.target.value));
  let envEdit;
  $("#env").addEventListener("input", () => {
    // validate's problems depend on the environment
    clearTimeout(envEdit);
    envEdit = setTimeout(() => loadFlow(S.file, true).catch((e) => setStatus(e.message, "error")), 300);
  });
  $("#restart").onclick = () => restart();
  $("#save").onclick = () => save();
  $("#send-all").onsubmit = (e) => {
    e.preventDefault();
    const text = $("#say-all").value.trim();
    if (!text) return;
    $("#say-all").value = "";
    play({ name: "message", text }, null);
  };
  $("#event").onchange = (e) => { if (e.target.value) play({ name: e.target.value }, null); e.target.value = ""; };
  $("#media").onclick = () => { const u = prompt("URL of the file the contact sends"); if (u) play({ name: "media", media: u }, null); };
  $("#location").onclick = () => {
    const v = prompt("latitude,longitude", "52.52,13.40");
    const [la, lo] = (v || "").split(",").map(Number);
    if (v && !isNaN(la) && !isNaN(lo)) play({ name: "location", location: { Latitude: la, Longitude: lo } }, null);
  };
  $("#start-here").onclick = () => {
    S.start = { state: $("#start-state").value, vars: parseLines($("#start-vars").value, ":") };
    if (!S.start.state) S.start = {};
    restart();
  };
  await loadFlow(pick.file);
  await restart();
  setStatus("ready", "ok");
  document.body.dataset.ready = "1";
  setInterval(pollChanges, 1000);
}

main().catch((e) => setStatus(e.message, "error"));
