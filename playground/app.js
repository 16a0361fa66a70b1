// appset playground: edits an ApplicationSet and shows what `/v1/render` (or `/v1/diff`) answers,
// as you type. No dependencies, no build step; the server embeds this file as is.
"use strict";

const $ = (id) => document.getElementById(id);
// Short: a request in flight is aborted when a newer one starts, and an answer that is not the
// newest is dropped, so typing never shows an older state after a newer one.
const DEBOUNCE_MS = 25;

// ---- small helpers -----------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 2200);
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(what + " copied");
  } catch {
    toast("Could not reach the clipboard");
  }
}

// ---- YAML: highlighting, printing, and where a field path is -----------------------------------

const KEY = /^((?:- +)*)("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)(\s*:)(?=\s|$)/;

function highlightValue(text) {
  // A whole value that is a number, boolean or null; else templates ({{ }}, {% %}), quoted
  // strings and the comment at the end.
  const lit = /^(\s*)(true|false|null|~|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(\s*(?:#.*)?)$/i.exec(text);
  if (lit) return escapeHtml(lit[1]) + `<span class="n">${lit[2]}</span>` + (lit[3].trim() ? `<span class="c">${escapeHtml(lit[3])}</span>` : lit[3]);
  let out = "";
  const re = /(\{\{.*?\}\}|\{%.*?%\})|((?:^|\s)#.*$)|("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')/g;
  let last = 0;
  for (let m; (m = re.exec(text)); ) {
    out += escapeHtml(text.slice(last, m.index));
    const [all, tpl, comment, str] = m;
    if (tpl) out += `<span class="t">${escapeHtml(tpl)}</span>`;
    else if (comment) return out + `<span class="c">${escapeHtml(all)}</span>`;
    else if (str) out += `<span class="s">${highlightTemplates(str)}</span>`;
    last = m.index + all.length;
  }
  return out + escapeHtml(text.slice(last));
}

function highlightTemplates(s) {
  return escapeHtml(s).replace(/(\{\{.*?\}\}|\{%.*?%\})/g, '<span class="t">$1</span>');
}

function highlightLine(line) {
  if (/^\s*#/.test(line)) return `<span class="c">${escapeHtml(line)}</span>`;
  if (/^(---|\.\.\.)\s*$/.test(line)) return `<span class="d">${escapeHtml(line)}</span>`;
  const indent = line.match(/^\s*/)[0];
  const rest = line.slice(indent.length);
  const m = rest.match(KEY);
  if (!m) {
    const dashes = rest.match(/^(?:- +)*/)[0];
    return escapeHtml(indent + dashes) + highlightValue(rest.slice(dashes.length));
  }
  const [all, dashes, key, colon] = m;
  return escapeHtml(indent + dashes) + `<span class="k">${highlightTemplates(key)}</span>` + escapeHtml(colon) + highlightValue(rest.slice(all.length));
}

/** Where each field path of a YAML document starts: a Map from "spec.generators[0].list" to its
 *  line (0-based). Reads block mappings and sequences by indentation (flow collections and block
 *  scalars count as values); only the first document. */
function fieldLines(text) {
  const lines = text.split("\n");
  const found = new Map();
  const stack = []; // {col, seg, dash, index}
  let scalarCol = -1; // inside a block scalar whose key is at this column
  let started = false;
  const path = () => stack.map((e) => e.seg).reduce((p, s) => (typeof s === "number" ? `${p}[${s}]` : p ? `${p}.${s}` : s), "");
  for (let no = 0; no < lines.length; no++) {
    const line = lines[no];
    const col = line.search(/\S/);
    if (col < 0) continue;
    if (scalarCol >= 0) {
      if (col > scalarCol) continue;
      scalarCol = -1;
    }
    if (line[col] === "#") continue;
    if (/^(---|\.\.\.)\s*$/.test(line.trimEnd()) && col === 0) {
      if (started) break;
      continue;
    }
    started = true;
    let c = col;
    let rest = line.slice(col);
    for (;;) {
      if (rest === "-" || rest.startsWith("- ")) {
        let index = 0;
        while (stack.length && (stack[stack.length - 1].col > c || (stack[stack.length - 1].col === c && stack[stack.length - 1].dash))) {
          const top = stack.pop();
          if (top.col === c && top.dash) index = top.index + 1;
        }
        stack.push({ col: c, seg: index, dash: true, index });
        if (!found.has(path())) found.set(path(), no);
        const after = rest.slice(1);
        const skip = after.length - after.trimStart().length;
        c += 1 + skip;
        rest = after.trimStart();
        if (!rest) break;
        continue;
      }
      const m = rest.match(/^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},][^#]*?)\s*:(?:\s+|$)/);
      if (!m) break;
      let key = m[1];
      if (/^["']/.test(key)) key = key.slice(1, -1);
      while (stack.length && stack[stack.length - 1].col >= c) stack.pop();
      stack.push({ col: c, seg: key, dash: false });
      if (!found.has(path())) found.set(path(), no);
      const value = rest.slice(m[0].length).trim();
      if (/^[|>][-+0-9]*\s*(#.*)?$/.test(value)) scalarCol = c;
      break;
    }
  }
  return found;
}

/** The line (0-based) of `field` in `text`: its own, or its nearest ancestor's that the text
 *  spells out in block style; null when not even the first segment is there. */
function lineOf(text, field) {
  if (!field) return null;
  const lines = fieldLines(text);
  let p = field;
  for (;;) {
    if (lines.has(p)) return lines.get(p);
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    if (cut <= 0) return null;
    p = p.slice(0, cut);
  }
}

function yamlScalar(v) {
  if (v === null) return "null";
  if (typeof v !== "string") return String(v);
  if (v === "" || /^[\s]|[\s]$|^[-?:,\[\]{}#&*!|>'"%@`]|: | #|^(true|false|null|yes|no|on|off|~|-?\d[\d._]*(e[-+]?\d+)?)$/i.test(v) || /[\n\t\\"]/.test(v))
    return JSON.stringify(v);
  return v;
}

const isBlock = (v) => v !== null && typeof v === "object" && Object.keys(v).length > 0;
const inline = (v) => (Array.isArray(v) ? "[]" : v !== null && typeof v === "object" ? "{}" : yamlScalar(v));

/** A YAML rendering of a JSON value: block style, two-space indentation, one line per scalar. */
function yaml(v, ind = "") {
  if (!isBlock(v)) return ind + inline(v) + "\n";
  let out = "";
  if (Array.isArray(v)) {
    for (const x of v) out += isBlock(x) ? ind + "- " + yaml(x, ind + "  ").slice(ind.length + 2) : `${ind}- ${inline(x)}\n`;
  } else {
    for (const [k, x] of Object.entries(v)) out += isBlock(x) ? `${ind}${yamlScalar(k)}:\n` + yaml(x, ind + "  ") : `${ind}${yamlScalar(k)}: ${inline(x)}\n`;
  }
  return out;
}

// ---- the editors -------------------------------------------------------------------------------

class Editor {
  constructor(root, onChange) {
    this.root = root;
    this.area = root.querySelector("textarea");
    this.pre = root.querySelector("pre");
    this.gutter = root.querySelector(".gutter");
    this.gutterInner = el("div", {});
    this.gutter.append(this.gutterInner);
    this.marks = new Map(); // line -> "bad" | "warned"
    this.escaped = false;
    this.area.addEventListener("input", () => {
      state.typedAt = performance.now();
      this.marks.clear();
      this.paint();
      onChange();
    });
    this.area.addEventListener("scroll", () => this.view());
    this.area.addEventListener("keydown", (e) => this.key(e));
  }
  get value() {
    return this.area.value;
  }
  set value(v) {
    this.area.value = v;
    this.marks.clear();
    this.paint();
  }
  key(e) {
    // Tab indents; Escape then Tab leaves the editor (keyboard users are never trapped).
    if (e.key === "Escape") {
      this.escaped = true;
      return;
    }
    if (e.key === "Tab" && !this.escaped && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      const { selectionStart: s, selectionEnd: t, value } = this.area;
      if (e.shiftKey) return;
      this.area.setRangeText("  ", s, t, "end");
      this.area.dispatchEvent(new Event("input"));
    }
    this.escaped = false;
  }
  mark(line, kind) {
    if (line === null || line === undefined) return;
    if (this.marks.get(line) !== "bad") this.marks.set(line, kind);
  }
  marksKey() {
    return this.marks.size ? JSON.stringify([...this.marks]) : "";
  }
  clearMarks() {
    if (!this.marks.size) return;
    this.marks.clear();
    this.paint();
  }
  /** Highlight and number the text. Only the lines in view are drawn (with a few around
   *  them), so a keystroke costs the same in a 10-line set and a 10,000-line one. */
  paint() {
    this.lines = this.area.value.split("\n");
    this.view();
  }
  view() {
    const lines = this.lines || [""];
    if (this.cache === undefined || this.cache.size > 20000) this.cache = new Map();
    const top = this.area.scrollTop;
    const height = this.area.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / 20) - 5);
    const last = Math.min(lines.length, Math.ceil((top + height) / 20) + 5);
    let html = "";
    let gutter = "";
    for (let i = first; i < last; i++) {
      let h = this.cache.get(lines[i]);
      if (h === undefined) {
        h = highlightLine(lines[i]);
        this.cache.set(lines[i], h);
      }
      const m = this.marks.get(i);
      const cls = m ? ` class="${m === "bad" ? "line-bad" : "line-warned"}"` : "";
      html += `<span${cls}>${h}</span>\n`;
      gutter += `<div${m ? ` class="${m}"` : ""}>${i + 1}</div>`;
    }
    this.pre.innerHTML = html;
    this.gutterInner.innerHTML = gutter;
    const y = 8 + first * 20 - top;
    this.pre.style.transform = `translate(${-this.area.scrollLeft}px, ${y}px)`;
    this.gutterInner.style.transform = `translateY(${y}px)`;
  }
  reveal(line) {
    const top = line * 20;
    if (top < this.area.scrollTop || top > this.area.scrollTop + this.area.clientHeight - 40) {
      this.area.scrollTop = Math.max(0, top - this.area.clientHeight / 3);
      this.view();
    }
  }
}

// ---- state, the URL fragment, requests ---------------------------------------------------------

const state = { mode: "render", view: "apps", seq: 0, controller: null, timer: null, last: null };
let editors;

async function encodeState() {
  const json = JSON.stringify({ m: state.mode, s: editors.set.value, i: editors.inputs.value, b: editors.before.value });
  const stream = new Blob([json]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function decodeState(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return JSON.parse(await new Response(stream).text());
}

async function saveFragment() {
  const z = await encodeState();
  history.replaceState(null, "", "#z=" + z);
}

function indentUnder(key, text) {
  const body = text
    .split("\n")
    .filter((l, i, all) => !(/^---\s*$/.test(l) && all.slice(0, i).every((x) => !x.trim() || x.trim().startsWith("#"))))
    .map((l) => (l ? "  " + l : l))
    .join("\n");
  return body.trim() ? `${key}:\n${body}\n` : "";
}

function renderBody() {
  const inputs = editors.inputs.value.trim() ? "\n---\n" + editors.inputs.value : "";
  return editors.set.value + inputs;
}

function schedule() {
  clearTimeout(state.timer);
  document.body.dataset.busy = "true";
  state.scheduled = true;
  $("result").classList.add("stale");
  // The first edit after a pause goes at once; edits while a request is in flight wait for the
  // typing to pause.
  if (state.controller) state.timer = setTimeout(run, DEBOUNCE_MS);
  else run();
}

/** Whether a view needs each Application's parameters and the generator tree, which the
 *  Applications list does not: the service then neither traces the generators nor sends them. */
const needsDetail = (view) => view === "params" || view === "tree";

async function run() {
  state.scheduled = false;
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const started = performance.now();
  const diff = state.mode === "diff";
  if (!editors.set.value.trim()) {
    show(seq, { empty: true });
    return;
  }
  const body = diff
    ? indentUnder("before", editors.before.value) + indentUnder("after", editors.set.value) + indentUnder("inputs", editors.inputs.value)
    : renderBody();
  const detail = needsDetail(state.view);
  const url = diff ? "/v1/diff" : detail ? "/v1/render?params=true&tree=true" : "/v1/render";
  let answer;
  const phases = { sent: performance.now() };
  try {
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/yaml", accept: "application/json" }, body, signal: controller.signal });
    phases.answered = performance.now();
    const json = await r.json().catch(() => ({ error: `the server answered ${r.status} without JSON`, reason: "BadAnswer" }));
    phases.parsed = performance.now();
    answer = r.ok ? { ok: json } : { error: json, status: r.status };
  } catch (e) {
    if (e.name === "AbortError") return;
    answer = { error: { error: "the server did not answer: " + e.message, reason: "Unreachable" } };
  }
  answer.ms = performance.now() - started;
  answer.phases = phases;
  answer.detail = detail;
  if (state.controller === controller) state.controller = null;
  show(seq, answer);
  saveFragment().catch(() => {});
}

// ---- showing an answer -------------------------------------------------------------------------

function show(seq, answer) {
  if (seq !== state.seq) return; // a newer request was sent: this answer is stale
  state.last = answer;
  // Busy while an edit newer than this answer waits for its request.
  document.body.dataset.busy = String(state.scheduled);
  $("result").classList.remove("stale");
  const marked = new Map(Object.values(editors).map((ed) => [ed, ed.marksKey()]));
  for (const ed of Object.values(editors)) ed.marks.clear();
  showError(answer.error);
  const warnings = (answer.ok && answer.ok.warnings) || [];
  showWarnings(warnings);
  if (answer.empty) {
    $("status").textContent = "Type an ApplicationSet, or choose an example.";
  } else if (answer.ok && state.mode === "render") {
    const n = answer.ok.applications.length;
    $("status").innerHTML = `<b>${n}</b> Application${n === 1 ? "" : "s"} <span class="muted">· rendered in ${Math.round(answer.ms)} ms</span>`;
    // Only the view on screen is built now; the others when their tab opens.
    state.built = new Set();
    buildView(state.view);
  } else if (answer.ok) {
    const d = answer.ok;
    $("status").innerHTML = `<b>${d.create.length}</b> to create, <b>${d.update.length}</b> to update, <b>${d.delete.length}</b> to delete, ${d.unchanged} unchanged <span class="muted">· ${Math.round(answer.ms)} ms</span>`;
    showDiff(d);
  } else {
    $("status").innerHTML = `<b>Error</b> <span class="muted">· the last good result is shown dimmed</span>`;
    $("result").classList.add("stale");
  }
  // An editor is redrawn only when its marks changed (its text was drawn as it was typed).
  for (const [ed, before] of marked) if (ed.marksKey() !== before) ed.paint();
  document.body.dataset.state = answer.error ? "error" : answer.ok ? "ok" : "empty";
  // From the last keystroke to this answer on screen, painted (the frame after the one that
  // laid it out): read by the browser test and the benchmark.
  // The phases (sent, answered, parsed, shown, first frame) are kept beside it for the benchmark.
  const typedAt = state.typedAt;
  if (typedAt !== undefined) {
    const phases = { ...answer.phases, shown: performance.now() };
    requestAnimationFrame(() => {
      phases.frame = performance.now();
      requestAnimationFrame(() => {
        if (seq !== state.seq) return;
        const since = {};
        for (const [k, t] of Object.entries(phases)) since[k] = +(t - typedAt).toFixed(1);
        document.body.dataset.phases = JSON.stringify(since);
        document.body.dataset.latency = (performance.now() - typedAt).toFixed(1);
      });
    });
  }
  document.body.dataset.seq = String(seq);
}

/** The editor and line a field path of an answer points at. */
function locate(field, message) {
  let editor = editors.set;
  let path = field || "";
  for (const [prefix, ed] of [["applicationSet", editors.set], ["after", editors.set], ["before", editors.before], ["inputs", editors.inputs]]) {
    if (path === prefix || path.startsWith(prefix + ".") || path.startsWith(prefix + "[")) {
      editor = ed;
      path = path.slice(prefix.length).replace(/^\./, "");
    }
  }
  let line = path ? lineOf(editor.value, path) : null;
  // A YAML syntax error names its line instead.
  const at = /line (\d+)/.exec(message || "");
  if (line === null && at) line = Number(at[1]) - 1;
  return { editor, line };
}

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    return;
  }
  const { editor, line } = locate(error.field, error.error);
  editor.mark(line, "bad");
  box.replaceChildren(
    document.createTextNode(error.error || "error"),
    el("span", { class: "where", text: [error.reason, error.field && `field ${error.field}`, line !== null && `line ${line + 1}`].filter(Boolean).join(" · ") }),
  );
  box.hidden = false;
  box.dataset.line = line === null ? "" : String(line + 1);
  if (line !== null) editor.reveal(line);
}

function showWarnings(warnings) {
  const list = $("warnings");
  list.replaceChildren();
  for (const w of warnings) {
    const field = /^([\w.\[\]-]+): /.exec(w);
    if (field) {
      const { editor, line } = locate(field[1], w);
      editor.mark(line, "warned");
    }
    list.append(el("li", { text: w }));
  }
  list.hidden = !warnings.length;
}

function destination(app) {
  const d = (app.spec && app.spec.destination) || {};
  return [d.server || d.name || "", d.namespace].filter(Boolean).join(" / ");
}

function source(app) {
  const s = (app.spec && (app.spec.source || (app.spec.sources && app.spec.sources[0]))) || {};
  const more = app.spec && app.spec.sources && app.spec.sources.length > 1 ? ` (+${app.spec.sources.length - 1})` : "";
  return [s.repoURL, s.path || s.chart, s.targetRevision].filter(Boolean).join(" · ") + more;
}

/** The four columns of an Application's row. */
function row(app) {
  return [(app.metadata && app.metadata.name) || "", (app.spec && app.spec.project) || "", destination(app), source(app)];
}

// ---- the Applications list: only the rows in view are in the page --------------------------------

/** The list's state: the Applications shown, their rows, which are open (and how tall), the
 *  height of a closed row (measured once), and the range of rows in the page now. */
const list = { apps: [], rows: [], open: new Map(), height: 0, range: null, ul: null, frame: 0, force: false };
const GAP = 6; // `.apps li` margin-bottom
const OVERSCAN = 300; // px drawn beyond each edge of the view

function showApplications(apps) {
  const view = $("view-apps");
  if (!apps.length) {
    view.replaceChildren(el("p", { class: "empty", text: "No Applications: the generators yielded no parameter sets (see the Generators tab)." }));
    list.ul = null;
    list.rows = [];
    return;
  }
  if (apps.length !== list.apps.length) list.open.clear();
  const before = list.ul && list.rows.length === apps.length ? list.rows : null;
  list.apps = apps;
  list.rows = apps.map(row);
  if (!list.ul) {
    list.ul = el("ul", { class: "apps" });
    list.ul.addEventListener("toggle", toggled, true);
    view.replaceChildren(el("div", { class: "head" }, el("span", { text: "name" }), el("span", { text: "project" }), el("span", { text: "destination" }), el("span", { text: "source" })), list.ul);
    list.range = null;
  }
  drawList({ before });
}

const rowHeight = (i) => list.open.get(i) || list.height;

function rowHtml(i) {
  const [name, project, dest, src] = list.rows[i];
  const open = list.open.has(i);
  return `<li><details data-i="${i}"${open ? " open" : ""}><summary><span class="name">${escapeHtml(name)}</span><span class="muted">${escapeHtml(project)}</span>` +
    `<span>${escapeHtml(dest)}</span><span class="muted">${escapeHtml(src)}</span></summary>${open ? `<pre>${escapeHtml(yaml(list.apps[i]))}</pre>` : ""}</details></li>`;
}

/** Put the rows in view (and OVERSCAN around them) in the page, with padding standing for the
 *  others, so a keystroke costs the same for 10 Applications and 10,000. For a new answer,
 *  `before` (the rows as drawn, when the list kept its length) lets an unchanged range change
 *  only the cells that differ, which keeps focus and selection where they are; a scroll that
 *  keeps the range changes nothing; `force` draws the range again. */
function drawList({ before = null, force = false } = {}) {
  const ul = list.ul;
  const view = $("view-apps");
  if (!ul || view.hidden) return;
  const n = list.rows.length;
  if (!list.height) {
    ul.innerHTML = rowHtml(0);
    list.height = ul.firstElementChild.getBoundingClientRect().height + GAP || 40;
    list.range = null;
  }
  const top = view.scrollTop - ul.offsetTop - OVERSCAN;
  const bottom = view.scrollTop - ul.offsetTop + view.clientHeight + OVERSCAN;
  let first = 0;
  let y = 0;
  while (first < n && y + rowHeight(first) <= top) y += rowHeight(first++);
  const padTop = y;
  let last = first;
  while (last < n && y < bottom) y += rowHeight(last++);
  let padBottom = 0;
  for (let i = last; i < n; i++) padBottom += rowHeight(i);
  ul.style.paddingTop = padTop + "px";
  ul.style.paddingBottom = padBottom + "px";
  const same = !force && list.range && list.range[0] === first && list.range[1] === last;
  if (same && !before) return;
  if (same) {
    const items = ul.children;
    for (let i = first; i < last; i++) {
      const was = before[i];
      const now = list.rows[i];
      const spans = items[i - first].querySelector("summary").children;
      for (let c = 0; c < 4; c++) if (was[c] !== now[c]) spans[c].textContent = now[c];
      // An open row's YAML may have changed in a field the row does not show.
      const pre = list.open.has(i) && items[i - first].querySelector("pre");
      if (pre) pre.textContent = yaml(list.apps[i]);
    }
    return;
  }
  const focused = ul.contains(document.activeElement) && document.activeElement.closest("details");
  const keep = focused ? Number(focused.dataset.i) : -1;
  let html = "";
  for (let i = first; i < last; i++) html += rowHtml(i);
  ul.innerHTML = html;
  list.range = [first, last];
  if (keep >= first && keep < last) ul.children[keep - first].querySelector("summary").focus({ preventScroll: true });
}

/** A row opened or closed: its YAML is built when it opens, and its height kept for the layout. */
function toggled(e) {
  const d = e.target;
  const i = Number(d.dataset.i);
  if (d.open) {
    if (!d.querySelector("pre")) d.append(el("pre", { text: yaml(list.apps[i]) }));
    const h = d.parentElement.getBoundingClientRect().height + GAP;
    if (list.open.get(i) === h) return;
    list.open.set(i, h);
  } else {
    if (!list.open.has(i)) return;
    list.open.delete(i);
    const pre = d.querySelector("pre");
    if (pre) pre.remove();
  }
  drawListSoon(true);
}

/** Draw the list in the next frame, once however often it is asked: after a scroll or a resize,
 *  or (`force`) after a row opened or closed. */
function drawListSoon(force = false) {
  list.force = list.force || force;
  if (!list.frame) list.frame = requestAnimationFrame(() => {
    const force = list.force;
    list.frame = 0;
    list.force = false;
    drawList({ force });
  });
}

function flatten(value, prefix, out) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value)) {
    out[prefix] = JSON.stringify(value);
  } else {
    out[prefix] = value === null ? "null" : String(value);
  }
  return out;
}

/** The generators (leaves of the tree) that yield each parameter, per top-level generator:
 *  the Applications come in the order of `spec.generators`, each entry's share its `count`. */
function provenance(tree) {
  const leaves = (n) => (n.children && n.children.length ? n.children.flatMap(leaves) : [n]);
  return (tree || []).map((root) => ({ count: root.count, leaves: leaves(root) }));
}

function suppliers(roots, row, column) {
  let r = row;
  for (const root of roots) {
    if (r < root.count) {
      return root.leaves.filter((l) => (l.keys || []).some((k) => k === column || column.startsWith(k + ".")));
    }
    r -= root.count;
  }
  return [];
}

const leafName = (l) => l.kind + (l.detail ? " " + l.detail : "");

function showParameters(apps, params, tree) {
  const view = $("view-params");
  if (!params.length) {
    view.replaceChildren(el("p", { class: "empty", text: "No parameter sets." }));
    return;
  }
  const rows = params.map((p) => flatten(p, "", {}));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].sort();
  const roots = provenance(tree);
  // Which generator supplied each column: named in its header, every cell's path in its title.
  const from = {};
  const cells = rows.map((_, i) => {
    const out = {};
    for (const c of columns) {
      const s = suppliers(roots, i, c);
      out[c] = s.map((l) => l.path).join(", ");
      for (const l of s) (from[c] ||= new Set()).add(leafName(l));
    }
    return out;
  });
  const head = el("tr", {}, el("th", { text: "Application" }), ...columns.map((c) => el("th", {}, c, from[c] ? el("small", { text: "from " + [...from[c]].join(", ") }) : null)));
  const body = rows.map((r, i) => el("tr", {}, el("td", { text: (apps[i] && apps[i].metadata && apps[i].metadata.name) || `#${i + 1}` }), ...columns.map((c) => el("td", { text: r[c] ?? "", title: cells[i][c] || undefined }))));
  view.replaceChildren(el("table", { class: "params" }, el("thead", {}, head), el("tbody", {}, ...body)));
}

// The generator tree, drawn: one box per generator with its count, matrix and merge as the
// boxes their children hang from.
function treeLabel(node) {
  const name = node.kind + (node.detail ? ` ${node.detail}` : "");
  const sub = [];
  if (node.kind === "matrix" && node.children && node.children.length) {
    const factors = node.children.map((c) => (c.runs > 1 ? `(${c.count} over ${c.runs} runs)` : String(c.count)));
    sub.push(factors.join(" × ") + ` = ${node.generated}`);
  }
  if (node.kind === "merge" && node.mergeKeys) sub.push(`on ${node.mergeKeys.join(", ")}`);
  if (node.selector) sub.push(`selector: ${node.generated} → ${node.count}`);
  if (node.keys && node.keys.length) {
    const more = node.keys.length > 4 ? ` +${node.keys.length - 4} more` : "";
    sub.push("yields " + node.keys.slice(0, 4).join(", ") + more);
  }
  if (!node.runs) sub.push("not run");
  else if (node.runs > 1) sub.push(`ran ${node.runs}×, once per earlier set`);
  return { name, sub: sub.join(" · ") };
}

function showTree(tree) {
  const view = $("view-tree");
  if (!tree || !tree.length) {
    view.replaceChildren(el("p", { class: "empty", text: "No generator tree in the answer." }));
    return;
  }
  const W = 300, H = 46, GX = 36, GY = 14;
  let y = 0;
  const boxes = [];
  const edges = [];
  function place(node, depth) {
    const me = { node, x: depth * GX + 8, y: y };
    boxes.push(me);
    y += H + GY;
    for (const child of node.children || []) {
      const c = place(child, depth + 1);
      edges.push([me, c]);
    }
    return me;
  }
  const roots = tree.map((n) => place(n, 0));
  const total = tree.reduce((s, n) => s + n.count, 0);
  const height = y + 30;
  const width = Math.max(...boxes.map((b) => b.x)) + W + 20;
  const drawing = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "generator tree" });
  for (const [a, b] of edges) drawing.append(svg("path", { d: `M${a.x + 12} ${a.y + H} V${b.y + H / 2} H${b.x}` }));
  for (const b of boxes) {
    const { name, sub } = treeLabel(b.node);
    const combine = b.node.kind === "matrix" || b.node.kind === "merge";
    const g = svg("g", { class: "node" + (combine ? " combine" : ""), transform: `translate(${b.x},${b.y})` });
    g.append(
      svg("title", { text: b.node.path }),
      svg("rect", { width: W, height: H }),
      svg("text", { x: 10, y: 19, text: name }),
      svg("text", { x: W - 10, y: 19, "text-anchor": "end", class: "count", text: String(b.node.count) }),
      svg("text", { x: 10, y: 36, class: "sub", text: sub || b.node.path }),
    );
    drawing.append(g);
  }
  drawing.append(svg("text", { x: 8, y: height - 8, class: "sub", fill: "currentColor", text: `${roots.length > 1 ? roots.map((r) => r.node.count).join(" + ") + " = " : ""}${total} parameter set${total === 1 ? "" : "s"}` }));
  view.replaceChildren(el("div", { class: "tree" }, drawing));
}

function showDiff(d) {
  const view = $("view-diff");
  const parts = [];
  const section = (title, items) => items.length && parts.push(el("h3", { text: `${title} (${items.length})` }), ...items);
  section("Created", d.create.map((n) => el("div", { class: "create apps" }, el("code", { text: "+ " + n }))));
  section("Updated", d.update.map((u) => {
    const rows = u.changes.map((c) => el("tr", {}, el("td", { text: c.path }), el("td", { class: "old", text: c.before === undefined ? "—" : JSON.stringify(c.before) }), el("td", { class: "new", text: c.after === undefined ? "—" : JSON.stringify(c.after) })));
    return el("details", { class: "update", open: true }, el("summary", {}, el("code", { text: "~ " + u.name })), el("table", {}, ...rows));
  }));
  section("Deleted", d.delete.map((n) => el("div", { class: "delete apps" }, el("code", { text: "− " + n }))));
  if (!parts.length) parts.push(el("p", { class: "empty", text: `No change: ${d.unchanged} Application${d.unchanged === 1 ? "" : "s"} stay as they are.` }));
  view.replaceChildren(el("div", { class: "diff" }, ...parts));
}

// ---- controls ----------------------------------------------------------------------------------

function setMode(mode) {
  state.mode = mode;
  const diff = mode === "diff";
  $("mode-render").setAttribute("aria-selected", String(!diff));
  $("mode-diff").setAttribute("aria-selected", String(diff));
  $("before-pane").hidden = !diff;
  $("set-label").textContent = diff ? "ApplicationSet after the change" : "ApplicationSet";
  $("result-tabs").hidden = diff;
  if (diff && !editors.before.value.trim()) editors.before.value = editors.set.value;
  showView(diff ? "diff" : state.view);
  schedule();
}

/** Build a result view from the last answer, once per answer. */
function buildView(view) {
  const ok = state.last && state.last.ok;
  if (!ok || state.mode !== "render" || !state.built || state.built.has(view)) return;
  if (needsDetail(view) && !state.last.detail) return; // asked for when the tab opened
  state.built.add(view);
  if (view === "apps") showApplications(ok.applications);
  else if (view === "params") showParameters(ok.applications, ok.parameters || [], ok.tree);
  else if (view === "tree") showTree(ok.tree);
}

function showView(view) {
  const last = state.last;
  if (needsDetail(view) && state.mode === "render" && last && last.ok && !last.detail) {
    state.view = view;
    schedule();
  }
  for (const v of ["apps", "params", "tree", "diff"]) $("view-" + v).hidden = v !== view;
  buildView(view);
  if (view === "apps") drawList(); // its scroll position may have changed while it was hidden
  for (const b of document.querySelectorAll("#result-tabs [role=tab]")) b.setAttribute("aria-selected", String(b.dataset.view === view));
  if (view !== "diff") state.view = view;
}

function command() {
  const inputs = editors.inputs.value.trim() ? "---\n" + editors.inputs.value.replace(/\n*$/, "\n") : "";
  return `cat > appset.yaml <<'APPSET'\n${editors.set.value.replace(/\n*$/, "\n")}${inputs}APPSET\nappset render appset.yaml\n`;
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem("appset-theme", theme);
  } catch {}
}

async function loadExamples() {
  const select = $("examples");
  try {
    const r = await fetch("/v1/examples");
    const examples = await r.json();
    const groups = new Map();
    for (const ex of examples) {
      const group = ex.path.split("/").slice(0, -1).join("/");
      if (!groups.has(group)) groups.set(group, el("optgroup", { label: group }));
      groups.get(group).append(el("option", { value: ex.path, title: ex.title, text: ex.path.split("/").pop().replace(/\.yaml$/, "") }));
    }
    select.append(...groups.values());
    select.addEventListener("change", () => {
      const ex = examples.find((e) => e.path === select.value);
      if (!ex) return;
      editors.set.value = ex.applicationSet;
      editors.inputs.value = ex.inputs;
      if (state.mode === "diff") editors.before.value = ex.applicationSet;
      schedule();
    });
    return examples;
  } catch {
    return [];
  }
}

async function start() {
  const saved = (() => {
    try {
      return localStorage.getItem("appset-theme");
    } catch {
      return null;
    }
  })();
  applyTheme(saved || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  editors = {
    set: new Editor(document.querySelector('[data-for="set"]'), schedule),
    inputs: new Editor(document.querySelector('[data-for="inputs"]'), schedule),
    before: new Editor(document.querySelector('[data-for="before"]'), schedule),
  };
  $("view-apps").addEventListener("scroll", () => drawListSoon(), { passive: true });
  addEventListener("resize", () => drawListSoon());
  $("mode-render").addEventListener("click", () => setMode("render"));
  $("mode-diff").addEventListener("click", () => setMode("diff"));
  for (const b of document.querySelectorAll("#result-tabs [role=tab]")) b.addEventListener("click", () => showView(b.dataset.view));
  $("theme").addEventListener("click", () => applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  $("copy-command").addEventListener("click", () => copy(command(), "Command"));
  $("share").addEventListener("click", async () => {
    await saveFragment();
    copy(location.href, "Link");
  });
  const examples = await loadExamples();
  let restored = false;
  if (location.hash.startsWith("#z=")) {
    try {
      const s = await decodeState(location.hash.slice(3));
      editors.set.value = s.s || "";
      editors.inputs.value = s.i || "";
      editors.before.value = s.b || "";
      restored = true;
      if (s.m === "diff") setMode("diff");
    } catch {
      toast("The link's state could not be read");
    }
  }
  if (!restored) {
    const first = examples.find((e) => e.path === "generators/matrix/env-by-directories.yaml") || examples[0];
    if (first) {
      editors.set.value = first.applicationSet;
      editors.inputs.value = first.inputs;
      $("examples").value = first.path;
    }
  }
  document.body.dataset.ready = "true";
  schedule();
}

start();
