// Shared helpers: DOM building (text only, never innerHTML), the JSON API client, the error
// banner, dialogs, formatting and status badges.

export const CSRF_TOKEN = document.querySelector('meta[name="csrf-token"]')?.content || "";
const SVG_NS = "http://www.w3.org/2000/svg";
const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "hidden", "indeterminate"]);

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value));
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) el.dataset[k] = String(v);
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (PROPERTIES.has(key) && !(el instanceof SVGElement)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element; string children become text nodes (so store strings are never parsed as HTML). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

/** An SVG element (same conventions as h). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

export const enc = encodeURIComponent;

// ------------------------------------------------------------------------------ API client
export class ApiError extends Error {
  constructor(message, status, type) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** JSON from the server; a 4xx/5xx throws ApiError carrying the server's own `error` text. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = CSRF_TOKEN;
    init.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`cannot reach the pipetrack server (${err.message})`, 0, "NetworkError");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `${response.status} ${response.statusText || "error"}`;
    throw new ApiError(message, response.status, data && data.type);
  }
  return data;
}

export const post = (path, body) => api(path, { method: "POST", body: body || {} });

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    search.set(key, value === true ? "1" : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** A page number from the address (`?page=abc`, `-3` or `1.5` mean page 0 / 1). */
export function pageParam(value) {
  const page = Math.floor(Number(value));
  return Number.isFinite(page) && page > 0 ? page : 0;
}

let sessionPromise = null;
/** `GET /api/session` (the store path and the vocabularies: statuses, task types, ...), read once. */
export function session() {
  if (!sessionPromise) {
    sessionPromise = api("/api/session").catch((err) => {
      sessionPromise = null; // try again next time
      throw err;
    });
  }
  return sessionPromise;
}

/** Task ids ticked for compare, kept across pages (the tasks table and the compare page prune it). */
export const compareSelection = new Set();

/** Drop the ids of tasks that no longer exist from the compare selection (404 on their status). */
export async function pruneSelection(ids = [...compareSelection]) {
  const gone = [];
  await Promise.all(ids.map(async (id) => {
    try {
      await api(`/api/tasks/${enc(id)}/status`);
    } catch (err) {
      if (err.status === 404) gone.push(id);
    }
  }));
  for (const id of gone) compareSelection.delete(id);
  return gone;
}

/**
 * The "‹ Prev  1–50 of 120  Next ›" pager. `onPage(page)` runs on a click; `update(page,
 * pageSize, shown, total)` sets the text and the buttons after each load.
 */
export function pager(onPage, { prevId, nextId } = {}) {
  let current = 0;
  const text = h("span", { class: "pager-text" });
  const prev = h("button", { class: "btn", type: "button", id: prevId, onclick: () => onPage(current - 1) }, "‹ Prev");
  const next = h("button", { class: "btn", type: "button", id: nextId, onclick: () => onPage(current + 1) }, "Next ›");
  return {
    el: h("div", { class: "pager" }, prev, text, next),
    update(page, pageSize, shown, total) {
      current = page;
      const first = total ? page * pageSize + 1 : 0;
      text.textContent = `${first}–${page * pageSize + shown} of ${total}`;
      prev.disabled = page <= 0;
      next.disabled = (page + 1) * pageSize >= total;
    },
  };
}

// ------------------------------------------------------------------------------ banners & dialogs
export function showError(message) {
  const banner = document.getElementById("error-banner");
  banner.querySelector(".msg").textContent = message;
  banner.hidden = false;
}

export function clearError() {
  const banner = document.getElementById("error-banner");
  banner.hidden = true;
  banner.querySelector(".msg").textContent = "";
}

let noticeTimer = null;
export function notify(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.hidden = true; }, 4000);
}

/** Run an async UI handler; any error lands in the error banner instead of the console. */
export async function guarded(fn) {
  try {
    return await fn();
  } catch (err) {
    showError(err instanceof ApiError ? err.message : `unexpected error: ${err.message || err}`);
    if (!(err instanceof ApiError)) console.warn(err);
    return undefined;
  }
}

const openDialogs = new Set();

/** Cancel every open dialog (the page behind it is going away: its OK must not act on the next one). */
export function closeDialogs() {
  for (const dlg of [...openDialogs]) dlg.close("cancel");
}

/**
 * A modal dialog; resolves to true (OK) or false (Cancel / Escape / closed by a route change).
 * Enter in an input means OK.
 */
export function dialog({ title, body, ok = "OK", danger = false, id }) {
  return new Promise((resolve) => {
    const okButton = h("button", { type: "submit", value: "ok", class: ["btn", danger ? "danger" : "primary"],
                                   dataset: { role: "ok" } }, ok);
    const cancel = h("button", { type: "submit", value: "cancel", class: "btn", formnovalidate: true,
                                 dataset: { role: "cancel" } }, "Cancel");
    const dlg = h("dialog", { class: "modal", id },
      h("form", { method: "dialog" },
        h("h3", null, title),
        h("div", { class: "modal-body" }, body),
        h("div", { class: "modal-buttons" }, okButton, cancel)));
    dlg.addEventListener("close", () => {
      const accepted = dlg.returnValue === "ok";
      openDialogs.delete(dlg);
      dlg.remove();
      resolve(accepted);
    });
    document.body.append(dlg);
    openDialogs.add(dlg);
    dlg.showModal();
    const input = dlg.querySelector("input, select, textarea");
    (input || okButton).focus();
    if (input && input.select) input.select();
  });
}

// ------------------------------------------------------------------------------ formatting
const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(ts) {
  if (ts === null || ts === undefined || ts === "") return "";
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
  const total = Math.round(seconds);
  const h_ = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), sec = total % 60;
  if (h_ >= 24) return `${Math.floor(h_ / 24)}d ${h_ % 24}h`;
  return h_ ? `${h_}h ${pad(m)}m` : `${m}m ${pad(sec)}s`;
}

export function fmtSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function fmtValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(+value.toPrecision(6));
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// ------------------------------------------------------------------------------ statuses
export const STATUS_LABELS = {
  created: "Draft", queued: "Pending", in_progress: "Running", stopped: "Aborted", completed: "Completed",
  failed: "Failed", published: "Published", publishing: "Publishing", closed: "Closed", unknown: "Unknown",
};
export const ACTIVE_STATUSES = new Set(["queued", "in_progress"]);

export const statusLabel = (status) => STATUS_LABELS[status] || status || "";

/** A coloured status pill; `data-status` carries the raw status. */
export function badge(status, label) {
  return h("span", { class: ["badge", `status-${status}`], dataset: { status }, title: status },
           label || statusLabel(status));
}

export function progressBar(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "");
  const pct = Math.max(0, Math.min(100, value));
  return h("span", { class: "progress", title: `${pct.toFixed(0)}%` },
    h("span", { class: "progress-track" }, h("span", { class: "progress-fill", style: `width:${pct}%` })),
    h("span", { class: "progress-text" }, `${pct.toFixed(0)}%`));
}

export function tagChips(tags) {
  return (tags || []).map((tag) => h("span", { class: "tag" }, tag));
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** A two-column key/value table; rows whose value is empty are left out. */
export function kvTable(rows, cls = "kv") {
  return h("table", { class: cls }, h("tbody", null,
    rows.filter(([, value]) => value !== null && value !== undefined && value !== "" &&
                               !(Array.isArray(value) && value.length === 0))
        .map(([key, value]) => h("tr", null, h("th", null, key), h("td", null, value)))));
}
