// legal_anon review: the document list and the document page, driven from the keyboard.
// Served by legal_anon.review.app; talks only to that server (CSP connect-src 'self').
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const CSRF = meta("csrf-token");
const app = document.getElementById("app");

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "color") e.style.setProperty("--label", v); // CSSOM: allowed by the CSP, unlike a style attribute
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, options = {}) {
  const headers = { "X-CSRF-Token": CSRF, ...(options.body ? { "Content-Type": "application/json" } : {}) };
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const docPath = (id) => id.split("/").map(encodeURIComponent).join("/");

// ---------------------------------------------------------------- the document list

const LIST_KEYS = [["j / k", "next / previous document"], ["Enter", "open the document"],
                   ["u", "sort: least sure first"], ["i", "sort: by id"], ["r", "sort: to review first"]];

async function listPage() {
  const data = await api("/api/docs");
  let rows = data.documents;
  let sel = 0;
  let order = "uncertain";
  const sorters = {
    // documents whose least confident mask is least confident come first; then more uncertain masks
    uncertain: (a, b) => (a.least_confidence ?? 2) - (b.least_confidence ?? 2) || b.uncertain - a.uncertain,
    id: (a, b) => a.doc_id.localeCompare(b.doc_id),
    status: (a, b) => (a.status === "reviewed") - (b.status === "reviewed") || sorters.uncertain(a, b),
  };
  function render() {
    rows = [...rows].sort(sorters[order]);
    const head = el("tr", {},
      el("th", {}, el("a", { href: "#", id: "sort-id", onclick: (e) => { e.preventDefault(); order = "id"; render(); } }, "document")),
      el("th", {}, el("a", { href: "#", id: "sort-status", onclick: (e) => { e.preventDefault(); order = "status"; render(); } }, "status")),
      el("th", {}, "masks"), el("th", {}, "per label"),
      el("th", {}, el("a", { href: "#", id: "sort-uncertain", onclick: (e) => { e.preventDefault(); order = "uncertain"; render(); } }, "uncertain (least confidence)")));
    const table = el("table", { id: "documents" }, head);
    rows.forEach((r, i) => {
      const labels = Object.entries(r.per_label).map(([k, v]) => `${k} ${v}`).join(", ");
      table.append(el("tr", { class: (i === sel ? "selected " : "") + r.status.replace(" ", "-"), "data-doc": r.doc_id },
        el("td", {}, el("a", { href: `/doc/${docPath(r.doc_id)}` }, r.doc_id)),
        el("td", {}, r.status), el("td", {}, r.masks), el("td", {}, labels),
        el("td", {}, r.uncertain ? `${r.uncertain} (${r.least_confidence.toFixed(2)})` : "0")));
    });
    app.replaceChildren(el("h1", {}, "Documents to review"),
      el("p", { class: "meta" }, `${rows.length} documents, ${rows.filter((r) => r.status === "reviewed").length} reviewed. Sorted: ${order}.`),
      table, help(LIST_KEYS));
  }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") sel = Math.min(sel + 1, rows.length - 1);
    else if (e.key === "k") sel = Math.max(sel - 1, 0);
    else if (e.key === "Enter" && rows[sel]) { location.href = `/doc/${docPath(rows[sel].doc_id)}`; return; }
    else if (e.key === "u") order = "uncertain";
    else if (e.key === "i") order = "id";
    else if (e.key === "r") order = "status";
    else return;
    e.preventDefault();
    render();
  });
  render();
}

function help(keys) {
  return el("aside", { id: "help" }, el("h2", {}, "Keyboard"),
    el("dl", {}, ...keys.flatMap(([k, what]) => [el("dt", {}, k), el("dd", {}, what)])));
}

// ---------------------------------------------------------------- the document page

const DOC_KEYS = [
  ["n / p", "next / previous uncertain mask (least confident first)"],
  ["j / k", "next / previous mask"],
  ["x or Delete", "unmask the focused mask"],
  ["1 … 8", "label: relabel the focused mask, or mask the selected text"],
  ["m", "mask the selected text with the last label"],
  ["a / Esc", "apply / dismiss the offer for other occurrences"],
  ["s", "save"], ["c", "accept: save as reviewed"], ["g", "back to the list"],
];

async function docPage(docId) {
  const doc = await api(`/api/docs/${docPath(docId)}`);
  const text = doc.text;
  const labels = doc.labels;
  let masks = doc.masks.map((m) => ({ ...m }));
  let version = doc.version;
  let status = doc.status;
  let focus = -1;
  let offer = null; // {kind: "mask"|"unmask", label, spans}
  let lastLabel = labels.includes("PERSON") ? "PERSON" : labels[0];
  let dirty = false;
  let message = "";

  const uncertainOrder = () => masks.map((m, i) => [m, i]).filter(([m]) => m.confidence !== null && m.confidence !== undefined)
    .sort((a, b) => a[0].confidence - b[0].confidence || a[0].start - b[0].start).map(([, i]) => i);

  function render() {
    const body = el("div", { id: "text", class: "text" });
    let pos = 0;
    masks.sort((a, b) => a.start - b.start);
    masks.forEach((m, i) => {
      if (m.start > pos) body.append(el("span", { "data-s": pos }, text.slice(pos, m.start)));
      const cls = ["mask", m.source === "candidate" ? "candidate" : "entity", i === focus ? "focus" : ""].join(" ");
      const title = m.confidence !== null && m.confidence !== undefined ? `${m.label} · ${m.source} · p=${m.confidence.toFixed(3)}` : `${m.label} · ${m.source}`;
      body.append(el("mark", { class: cls, "data-i": i, "data-s": m.start, title, color: doc.colors[m.label] || "#ddd",
        onclick: () => { focus = i; render(); } }, text.slice(m.start, m.end), el("span", { class: "lab", "data-skip": "1" }, m.label)));
      pos = m.end;
    });
    if (pos < text.length) body.append(el("span", { "data-s": pos }, text.slice(pos)));
    const n = uncertainOrder().length;
    const bar = el("div", { id: "status", class: dirty ? "dirty" : "" },
      `${docId} · ${status} · version ${version} · ${masks.length} masks, ${n} uncertain${dirty ? " · unsaved changes" : ""}`,
      message ? el("span", { id: "message" }, ` · ${message}`) : "");
    const parts = [el("p", {}, el("a", { href: "/" }, "← documents")), bar];
    if (offer) {
      parts.push(el("div", { id: "offer" },
        offer.kind === "mask"
          ? `Mask ${offer.spans.length} other occurrence(s) of “${offer.text}” as ${offer.label}? `
          : `Unmask ${offer.spans.length} other mask(s) of “${offer.text}”? `,
        el("button", { id: "offer-apply", onclick: applyOffer }, "a: apply to all"), " ",
        el("button", { id: "offer-dismiss", onclick: () => { offer = null; render(); } }, "Esc: dismiss")));
    }
    if (focus >= 0 && masks[focus]) {
      const m = masks[focus];
      parts.push(el("div", { id: "actions" }, `“${text.slice(m.start, m.end)}” (${m.label}, ${m.source}) `,
        el("button", { id: "unmask", onclick: unmaskFocused }, "x: unmask"), " ",
        ...labels.map((l, k) => el("button", { class: "relabel", onclick: () => relabel(l) }, `${k + 1}: ${l}`))));
    }
    parts.push(body, el("p", {}, el("button", { id: "save", onclick: () => save(false) }, "s: save"), " ",
      el("button", { id: "accept", onclick: () => save(true) }, "c: accept")),
      help(DOC_KEYS.concat(labels.map((l, k) => [String(k + 1), l]))));
    app.replaceChildren(...parts);
    const f = document.querySelector("mark.focus");
    if (f) f.scrollIntoView({ block: "center" });
  }

  function changed(msg = "") { dirty = true; message = msg; render(); }

  function unmaskFocused() {
    if (focus < 0) return;
    const m = masks[focus];
    const surface = norm(text.slice(m.start, m.end));
    masks.splice(focus, 1);
    const same = masks.filter((o) => norm(text.slice(o.start, o.end)) === surface);
    offer = same.length ? { kind: "unmask", text: surface, spans: same } : null;
    focus = Math.min(focus, masks.length - 1);
    changed(`unmasked “${surface}”`);
  }

  function relabel(label) {
    if (focus < 0) return;
    masks[focus] = { ...masks[focus], label, source: "reviewer", confidence: null };
    lastLabel = label;
    changed(`relabelled as ${label}`);
  }

  async function addMask(start, end, label) {
    [start, end] = toWords(start, end);
    if (end <= start) return;
    const over = masks.filter((m) => m.start < end && start < m.end);
    for (const m of over) { start = Math.min(start, m.start); end = Math.max(end, m.end); }
    masks = masks.filter((m) => !over.includes(m));
    masks.push({ start, end, label, source: "reviewer", confidence: null });
    masks.sort((a, b) => a.start - b.start);
    focus = masks.findIndex((m) => m.start === start);
    lastLabel = label;
    window.getSelection().removeAllRanges();
    const found = await api(`/api/occurrences/${docPath(docId)}?start=${start}&end=${end}`);
    const free = found.occurrences.filter((o) => !masks.some((m) => m.start < o.end && o.start < m.end));
    offer = free.length ? { kind: "mask", text: found.text, label, spans: free } : null;
    changed(`masked “${found.text}” as ${label}`);
  }

  function applyOffer() {
    if (!offer) return;
    if (offer.kind === "mask") {
      for (const o of offer.spans) masks.push({ start: o.start, end: o.end, label: offer.label, source: "reviewer", confidence: null });
    } else {
      masks = masks.filter((m) => !offer.spans.includes(m));
    }
    const n = offer.spans.length;
    offer = null;
    focus = -1;
    changed(`applied to ${n} other occurrence(s)`);
  }

  async function save(accept) {
    try {
      const state = await api(`/api/save/${docPath(docId)}`, { method: "POST",
        body: JSON.stringify({ version, accept, masks: masks.map(({ start, end, label, source, confidence }) => ({ start, end, label, source, confidence })) }) });
      version = state.version;
      status = state.status;
      masks = state.masks;
      dirty = false;
      message = accept ? "accepted and saved" : "saved";
    } catch (err) {
      message = `NOT SAVED: ${err.message}`;
    }
    render();
  }

  function selection() {
    const s = window.getSelection();
    if (!s.rangeCount || s.isCollapsed) return null;
    const r = s.getRangeAt(0);
    const a = offsetOf(r.startContainer, r.startOffset);
    const b = offsetOf(r.endContainer, r.endOffset);
    return a === null || b === null || b <= a ? null : [a, b];
  }

  function toWords(start, end) {
    while (start < end && /\s/.test(text[start])) start++;
    while (end > start && /\s/.test(text[end - 1])) end--;
    while (start > 0 && /\w/.test(text[start - 1]) && /\w/.test(text[start])) start--;
    while (end < text.length && /\w/.test(text[end]) && /\w/.test(text[end - 1])) end++;
    return [start, end];
  }

  function walk(order, step) {
    if (!order.length) { message = "no uncertain masks"; render(); return; }
    const at = order.indexOf(focus);
    focus = order[(at + step + order.length) % order.length];
    render();
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const sel = selection();
    const k = e.key;
    if (/^[1-9]$/.test(k) && +k <= labels.length) {
      if (sel) addMask(sel[0], sel[1], labels[+k - 1]); else relabel(labels[+k - 1]);
    } else if (k === "m" && sel) addMask(sel[0], sel[1], lastLabel);
    else if (k === "n") walk(uncertainOrder(), 1);
    else if (k === "p") walk(uncertainOrder(), -1);
    else if (k === "j") { focus = Math.min(focus + 1, masks.length - 1); render(); }
    else if (k === "k") { focus = Math.max(focus - 1, 0); render(); }
    else if (k === "x" || k === "Delete") unmaskFocused();
    else if (k === "a") applyOffer();
    else if (k === "Escape") { offer = null; focus = -1; render(); }
    else if (k === "s") save(false);
    else if (k === "c") save(true);
    else if (k === "g") { location.href = "/"; }
    else return;
    e.preventDefault();
  });
  window.addEventListener("beforeunload", (e) => { if (dirty) e.preventDefault(); });
  render();
}

function norm(s) { return s.split(/\s+/).filter(Boolean).join(" "); }

// character offset in the document text of a DOM position inside #text
function offsetOf(node, offset) {
  let elem = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
  if (elem && elem.dataset && elem.dataset.skip) return null;
  const holder = elem && elem.closest ? elem.closest("[data-s]") : null;
  if (!holder) return null;
  if (node.nodeType !== Node.TEXT_NODE) {
    // a position between children: count the text before that child
    let n = 0;
    for (const c of Array.from(node.childNodes).slice(0, offset)) if (!(c.dataset && c.dataset.skip)) n += c.textContent.length;
    return +holder.dataset.s + n;
  }
  return +holder.dataset.s + offset;
}

if (meta("page") === "list") listPage().catch((e) => { app.textContent = `Error: ${e.message}`; });
else docPage(meta("doc-id")).catch((e) => { app.textContent = `Error: ${e.message}`; });
