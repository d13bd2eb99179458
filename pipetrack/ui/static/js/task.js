// #/task/ID[/tab]: one task's header with its actions, and a tab per kind of recorded data.

import { ACTIVE_STATUSES, api, badge, compareSelection, dialog, empty, enc, fmtDuration, fmtSize, fmtTime, fmtValue,
         guarded, h, kvTable, notify, post, progressBar, qs, showError, tagChips } from "./util.js";
import { PALETTE, chartCard, drawChart, drawFigure, lineLayout, lineTraces, pruneCharts, purgeAll,
         smoothingControl } from "./charts.js";

const TABS = [
  ["overview", "Overview"], ["parameters", "Parameters"], ["configuration", "Configuration"], ["console", "Console"],
  ["scalars", "Scalars"], ["plots", "Plots"], ["samples", "Debug samples"], ["values", "Single values"],
  ["artifacts", "Artifacts"], ["models", "Models"], ["code", "Code"], ["packages", "Packages"],
];
// tabs that load (and follow) their own data; the others are drawn from the task detail
const SELF_LOADING = new Set(["console", "scalars", "plots", "samples"]);
const IMAGE_EXTENSIONS = /\.(png|jpe?g|gif|webp|bmp|svg)$/i;
const IMAGE_ARTIFACT = /\.(png|jpe?g|gif|webp)$/i;
const view = { smoothing: 0, xAxis: "iter", editing: null }; // remembered across tabs

// the header's buttons, in this order, for the actions the server lists in `allowed_actions`
// (the state rules live on the server only; it still checks every request: a 409 lands in the banner)
const ACTION_ORDER = ["clone", "parameters", "enqueue", "dequeue", "abort", "publish", "reset", "archive", "delete"];
const ACTION_LABELS = {
  clone: "Clone", edit: "Edit parameters", enqueue: "Enqueue", dequeue: "Dequeue", abort: "Abort",
  publish: "Publish", reset: "Reset", archive: "Archive", unarchive: "Unarchive", delete: "Delete",
};

/** The header's buttons: the server's allowed actions ("parameters" is the edit button). */
function headerActions(task) {
  const allowed = new Set(task.allowed_actions || []);
  return ACTION_ORDER.filter((action) => allowed.has(action)).map((action) => {
    if (action === "parameters") return "edit";
    if (action === "archive" && task.archived) return "unarchive";
    return action;
  });
}

/**
 * A tab's own lifetime inside the page's: `kill()` ends its pollers and makes `alive()` false
 * (the tab is drawn again after a reset), while the page's cleanups still run on navigation.
 */
function tabContext(ctx) {
  let dead = false;
  return {
    ...ctx,
    alive: () => !dead && ctx.alive(),
    every: (ms, fn) => ctx.every(ms, async () => (dead ? false : fn())),
    kill() { dead = true; },
  };
}

export async function taskPage(ctx) {
  const [taskId, tabParam] = ctx.params;
  const tab = TABS.some(([key]) => key === tabParam) ? tabParam : "overview";
  if (tab !== "parameters" || view.editing !== taskId) view.editing = null; // edit mode lives on its tab
  let task = await api(`/api/tasks/${enc(taskId)}`);
  if (!ctx.alive()) return;
  const base = `#/task/${enc(taskId)}`;

  const header = h("div", { class: "task-header" });
  const body = h("div", { class: "tab-body", dataset: { tab } });
  const tabs = h("nav", { class: "tabs" });
  let tabCtx = null;

  function renderTabs() {
    tabs.replaceChildren(...TABS.map(([key, label]) => {
      const count = { parameters: Object.values(task.parameters).reduce((n, rows) => n + rows.length, 0),
                      configuration: task.configurations.length, artifacts: task.artifacts.length,
                      models: task.models.length, values: task.single_values.length }[key];
      return h("a", { href: `${base}/${key}`, class: ["tab", key === tab && "active"], dataset: { tab: key } },
               label, count ? h("span", { class: "count" }, count) : null);
    }));
  }

  /** (Re)draw the current tab; a tab drawn before is ended first (its pollers, its charts). */
  async function renderTab() {
    if (tabCtx) tabCtx.kill();
    tabCtx = tabContext(ctx);
    purgeAll(body);
    body.replaceChildren();
    await renderers[tab](tabCtx, task, body);
  }

  async function act(action) {
    if (action === "edit") {
      view.editing = taskId;
      if (tab === "parameters") return ctx.refresh();
      location.hash = `${base}/parameters`;
      return undefined;
    }
    let body = {};
    if (action === "clone") {
      const name = h("input", { type: "text", id: "clone-name", placeholder: `${task.name} (Clone)`, size: 40 });
      if (!await dialog({ title: "Clone task", ok: "Clone", id: "clone-dialog",
                          body: [h("p", null, "A new Draft with this task's parameters, configuration and code."),
                                 h("label", { class: "field" }, "Name", name)] })) return undefined;
      if (name.value.trim()) body.name = name.value.trim();
    } else if (action === "enqueue") {
      const queues = await api("/api/queues");
      if (!ctx.alive()) return undefined; // the page went away meanwhile: no dialog for it
      const input = h("input", { type: "text", id: "queue-input", list: "queue-list", required: true,
                                 value: queues.length ? queues[0].name : "default" });
      if (!await dialog({ title: "Enqueue task", ok: "Enqueue", id: "enqueue-dialog",
                          body: [h("label", { class: "field" }, "Queue", input),
                                 h("datalist", { id: "queue-list" },
                                   queues.map((q) => h("option", { value: q.name }, `${q.queued} pending`))),
                                 h("p", { class: "muted" }, queues.length
                                   ? `Known queues: ${queues.map((q) => q.name).join(", ")}`
                                   : "No queue is known yet; any name creates one.")] })) return undefined;
      body = { queue: input.value.trim() };
    } else if (action === "delete") {
      if (!await dialog({ title: "Delete task", ok: "Delete", danger: true, id: "delete-dialog",
                          body: h("p", null, "Delete ", h("strong", null, task.name),
                                  " with its console, metrics, artifacts and models? This cannot be undone.") })) {
        return undefined;
      }
    } else if (action === "abort" || action === "reset") {
      const text = action === "abort" ? "Abort this task? If it runs, its process stops at its next check."
        : "Reset this task to Draft? Its console, metrics, plots, artifacts and output models are deleted.";
      if (!await dialog({ title: `${ACTION_LABELS[action]} task`, ok: ACTION_LABELS[action], danger: true,
                          id: `${action}-dialog`, body: h("p", null, text) })) return undefined;
    }
    if (!ctx.alive()) return undefined; // never act for a page that is gone (dialogs close on navigation too)
    const endpoint = action === "unarchive" ? "archive" : action;
    if (action === "archive" || action === "unarchive") body = { archive: action === "archive" };
    const result = await post(`/api/tasks/${enc(taskId)}/${endpoint}`, body);
    if (action === "clone") {
      notify(`Cloned into a new Draft task`);
      location.hash = `#/task/${enc(result.id)}`;
    } else if (action === "delete") {
      compareSelection.delete(taskId);
      notify(`Deleted task ${task.name}`);
      location.hash = "#/tasks";
    } else {
      notify({ enqueue: `Enqueued on queue “${body.queue}”`, dequeue: "Dequeued: a Draft again",
               abort: "Aborted", publish: "Published", reset: "Reset to Draft", archive: "Archived",
               unarchive: "Restored from the archive" }[action] || `${ACTION_LABELS[action]}: done`);
      if (ctx.alive()) await ctx.refresh();
    }
    return result;
  }

  async function runAction(action) {
    const buttons = [...header.querySelectorAll(".actions button")];
    for (const button of buttons) button.disabled = true; // one action at a time
    try {
      await act(action);
    } catch (err) {
      showError(err.message || String(err));
      // the page may show a stale status: re-read it (the banner stays)
      if (err.status === 409 && ctx.alive()) await guarded(ctx.refresh);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  function renderHeader() {
    const project = task.project_name;
    header.replaceChildren(
      h("div", { class: "crumbs" }, h("a", { href: "#/tasks" }, "Tasks"), " / ",
        h("a", { href: `#/tasks${qs({ project })}` }, project)),
      h("div", { class: "title-row" },
        h("h1", { class: "task-name" }, task.name),
        badge(task.status),
        h("span", { class: "chip" }, task.type),
        task.archived ? h("span", { class: "chip" }, "archived") : null,
        ACTIVE_STATUSES.has(task.status) && task.progress ? progressBar(task.progress) : null,
        h("span", { class: "spacer" }),
        h("div", { class: "actions" }, headerActions(task).map((action) =>
          h("button", { type: "button", class: ["btn", ["delete", "abort"].includes(action) && "danger-outline"],
                        dataset: { action }, onclick: () => runAction(action) },
            ACTION_LABELS[action])))),
      h("div", { class: "sub-row" }, h("code", { class: "task-id", title: "task id" }, task.id),
        task.status_message ? h("span", { class: "status-message" }, task.status_message) : null));
  }

  const renderers = { overview, parameters, configuration, console: consoleTab, scalars, plots, samples,
                      values, artifacts, models, code, packages };

  // re-read the whole task (after an action, or when the polled status changed) and redraw the
  // header and the tabs drawn from it; the console, scalars and plots follow the task themselves,
  // and are drawn again only after a reset (which deleted what they show)
  let refreshToken = 0;
  ctx.refresh = async () => {
    const mine = ++refreshToken;
    const fresh = await api(`/api/tasks/${enc(taskId)}`);
    if (mine !== refreshToken || !ctx.alive()) return;
    const wasReset = fresh.status === "created" && task.status !== "created";
    task = fresh;
    renderHeader();
    renderTabs();
    if (!SELF_LOADING.has(tab) || wasReset) await renderTab();
  };

  ctx.task = () => task; // the latest task row, for tabs that follow a running task
  renderHeader();
  renderTabs();
  ctx.main.replaceChildren(h("div", { class: "page task-page", dataset: { taskId } }, header, tabs, body));
  await renderTab();

  // follow a pending / running task (also one enqueued from this page) through its cheap status:
  // the header's progress as it moves, everything once the status changes
  ctx.every(1000, async () => {
    if (!ACTIVE_STATUSES.has(task.status) || document.hidden) return true;
    const status = await api(`/api/tasks/${enc(taskId)}/status`);
    if (!ctx.alive()) return false;
    if (status.status !== task.status || status.archived !== task.archived) {
      await ctx.refresh();
    } else {
      const moved = status.progress !== task.progress || status.status_message !== task.status_message ||
        String(status.allowed_actions) !== String(task.allowed_actions);
      Object.assign(task, status);
      if (moved) renderHeader();
    }
    return true;
  });
}

// ------------------------------------------------------------------------------ tabs
function overview(ctx, task, body) {
  const parent = task.parent_task
    ? h("a", { href: `#/task/${enc(task.parent_task.id)}` }, task.parent_task.name, " ",
        h("span", { class: "muted" }, `(${task.parent_task.type})`))
    : task.parent ? h("code", null, task.parent) : null;
  const status = [badge(task.status), task.status_message ? ` ${task.status_message}` : "",
                  task.status_reason && task.status_reason !== task.status_message
                    ? h("div", { class: "muted" }, task.status_reason) : null];
  const info = kvTable([
    ["Status", status],
    ["Type", task.type],
    ["Project", h("a", { href: `#/tasks${qs({ project: task.project_name })}` }, task.project_name)],
    ["ID", h("code", null, task.id)],
    ["Parent", parent],
    ["Child tasks", task.children ? h("a", { href: `#/tasks${qs({ parent: task.id })}` }, `${task.children} tasks`) : null],
    ["Created", fmtTime(task.created)],
    ["Started", fmtTime(task.started)],
    ["Completed", fmtTime(task.completed)],
    ["Last update", fmtTime(task.last_update)],
    ["Duration", fmtDuration(task.duration)],
    ["Progress", task.progress !== null && task.progress !== undefined ? progressBar(task.progress) : null],
    ["Last iteration", task.last_iteration || null],
    ["Queue", task.queue],
    ["Worker", task.last_worker],
    ["Host", task.host],
    ["PID", task.pid],
    ["Comment", task.comment ? h("span", { class: "pre-line" }, task.comment) : null],
    ["Tags", task.tags.length ? tagChips(task.tags) : null],
    ["Output URI", task.output_uri],
  ], "kv overview-kv");
  const metricRows = [];
  for (const [title, series] of Object.entries(task.last_metrics || {})) {
    for (const [name, v] of Object.entries(series)) {
      metricRows.push(h("tr", null, h("td", null, title), h("td", null, name), h("td", { class: "num" }, fmtValue(v.last)),
                        h("td", { class: "num" }, fmtValue(v.min)), h("td", { class: "num" }, fmtValue(v.max))));
    }
  }
  const props = Object.entries(task.user_properties || {});
  body.append(h("div", { class: "overview-grid" },
    h("section", { class: "card" }, h("h3", null, "Info"), info),
    h("div", null,
      h("section", { class: "card" }, h("h3", null, "Last metrics"), metricRows.length
        ? h("table", { class: "table compact" }, h("thead", null, h("tr", null, ["Title", "Series", "Last", "Min", "Max"]
            .map((t, i) => h("th", { class: i > 1 ? "num" : null }, t)))), h("tbody", null, metricRows))
        : empty("No scalars reported.")),
      props.length ? h("section", { class: "card" }, h("h3", null, "User properties"),
        kvTable(props.map(([k, v]) => [k, fmtValue(v && typeof v === "object" && "value" in v ? v.value : v)])))
        : null)));
}

function parameters(ctx, task, body) {
  const sections = Object.entries(task.parameters);
  const editable = (task.allowed_actions || []).includes("parameters"); // a Draft
  const editing = editable && view.editing === task.id;
  const inputs = [];
  const toolbar = h("div", { class: "toolbar" });
  if (editing) {
    toolbar.append(h("span", { class: "muted" }, "Editing the Draft's parameters"), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn", id: "params-cancel",
                    onclick: () => { view.editing = null; guarded(ctx.refresh); } }, "Cancel"),
      h("button", { type: "button", class: "btn primary", id: "params-save", onclick: () => guarded(save) }, "Save"));
  } else if (editable) {
    toolbar.append(h("span", { class: "muted" }, "This task is a Draft: its parameters can be changed before it runs."),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn", id: "params-edit",
                    onclick: () => { view.editing = task.id; guarded(ctx.refresh); } }, "Edit"));
  }
  async function save() {
    const changed = {};
    for (const input of inputs) if (input.value !== input.defaultValue) changed[input.dataset.key] = input.value;
    if (!Object.keys(changed).length) {
      view.editing = null;
      notify("No parameter changed");
      return ctx.refresh();
    }
    await post(`/api/tasks/${enc(task.id)}/parameters`, { parameters: changed });
    view.editing = null;
    notify(`Saved ${Object.keys(changed).length} parameter${Object.keys(changed).length > 1 ? "s" : ""}`);
    return ctx.refresh();
  }
  if (!sections.length) {
    body.append(toolbar, empty("No parameters."));
    return;
  }
  body.append(toolbar, ...sections.map(([section, rows]) => h("section", { class: "card params-section",
                                                                          dataset: { section } },
    h("h3", null, section),
    h("table", { class: "table compact params" },
      h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Value"), h("th", null, "Type"),
                          h("th", null, "Description"))),
      h("tbody", null, rows.map((p) => {
        const key = `${section}/${p.name}`;
        let value = h("span", { class: "value" }, fmtValue(p.value));
        if (editing) {
          value = h("input", { type: "text", class: "param-input", dataset: { key }, "aria-label": key });
          value.defaultValue = p.value === null ? "" : String(p.value);
          value.value = value.defaultValue;
          inputs.push(value);
          value.addEventListener("keydown", (e) => { if (e.key === "Enter") guarded(save); });
        }
        return h("tr", { dataset: { param: key } }, h("td", { class: "name" }, p.name), h("td", null, value),
                 h("td", { class: "muted" }, p.type || ""), h("td", { class: "muted" }, p.description || ""));
      }))))));
  if (inputs.length) inputs[0].focus();
}

function configuration(ctx, task, body) {
  if (!task.configurations.length) return body.append(empty("No configuration objects."));
  return body.append(...task.configurations.map((c) => h("section", { class: "card" },
    h("h3", null, c.name, c.type ? h("span", { class: "muted" }, ` · ${c.type}`) : null),
    c.description ? h("p", { class: "muted" }, c.description) : null,
    h("pre", { class: "code" }, prettyConfig(c.value)))));
}

function prettyConfig(value) {
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  const trimmed = value.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try { return JSON.stringify(JSON.parse(trimmed), null, 2); } catch (err) { /* not JSON: as it is */ }
  }
  return value;
}

const CONSOLE_TAIL = 500; // lines per read (the last ones first; older ones on demand)
const CONSOLE_MAX = 5000; // lines kept on screen while following

async function consoleTab(ctx, task, body) {
  let search = "";
  let lastSeq = 0; // follow from here (the newest line read)
  let firstSeq = null; // the oldest line shown: "Load older lines" pages back from here
  let shown = 0; // the highest seq on screen: a line is never appended twice
  let token = 0;
  const pre = h("pre", { class: "console", id: "console-output" });
  const info = h("span", { class: "muted console-info" });
  const live = h("span", { class: "live", hidden: true }, "● live");
  const input = h("input", { type: "search", id: "console-search", placeholder: "Filter lines…",
                             "aria-label": "filter console" });
  const older = h("button", { type: "button", class: "btn small", id: "console-older", hidden: true,
                              onclick: () => guarded(loadOlder) }, "Load older lines");
  const lineCount = () => pre.childElementCount;
  const lineEl = (line) => h("div", { class: ["line", `level-${line.level}`], dataset: { seq: line.seq } },
    h("span", { class: "ts" }, fmtTime(line.ts).slice(11)), h("span", { class: "text" }, line.text));

  function updateInfo() {
    const n = lineCount();
    info.textContent = n ? `${n} line${n === 1 ? "" : "s"}${search ? ` matching “${search}”` : ""}`
      : search ? `no line matches “${search}”` : "no console output";
  }

  function append(all) {
    const lines = all.filter((line) => line.seq > shown);
    if (!lines.length) return;
    shown = lines[lines.length - 1].seq;
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    pre.append(...lines.map(lineEl));
    if (pre.childElementCount > CONSOLE_MAX) { // drop the oldest; they can be loaded again
      while (pre.childElementCount > CONSOLE_MAX) pre.firstChild.remove();
      firstSeq = Number(pre.firstChild.dataset.seq);
      older.hidden = false;
    }
    if (firstSeq === null) firstSeq = lines[0].seq;
    if (stick) pre.scrollTop = pre.scrollHeight;
    updateInfo();
  }

  /** The last lines (matching the filter); `more` says older ones exist. */
  async function load() {
    const mine = ++token;
    const data = await api(`/api/tasks/${enc(task.id)}/console${qs({ tail: CONSOLE_TAIL, search })}`);
    if (mine !== token || !ctx.alive()) return;
    lastSeq = data.last_seq;
    pre.replaceChildren();
    shown = 0;
    firstSeq = null;
    append(data.lines);
    older.hidden = !data.more;
    updateInfo();
    pre.scrollTop = pre.scrollHeight;
  }

  /** The lines before the oldest one shown, put on top without moving what is in view. */
  async function loadOlder() {
    if (firstSeq === null) return;
    const mine = token;
    older.disabled = true;
    try {
      const data = await api(`/api/tasks/${enc(task.id)}/console${qs({ before: firstSeq, tail: CONSOLE_TAIL,
                                                                        search })}`);
      if (mine !== token || !ctx.alive()) return;
      const lines = data.lines.filter((line) => line.seq < firstSeq);
      const height = pre.scrollHeight;
      pre.prepend(...lines.map(lineEl));
      pre.scrollTop += pre.scrollHeight - height;
      if (lines.length) firstSeq = lines[0].seq;
      older.hidden = !data.more;
      updateInfo();
    } finally {
      older.disabled = false;
    }
  }

  /** The lines written since the last read: in order, as many rounds as the server says there are. */
  async function follow() {
    const mine = token;
    for (let round = 0; round < 20; round += 1) {
      const data = await api(`/api/tasks/${enc(task.id)}/console${qs({ after: lastSeq, tail: 1000, search })}`);
      if (mine !== token || !ctx.alive()) return;
      lastSeq = Math.max(lastSeq, data.last_seq);
      append(data.lines);
      if (!data.more) return;
    }
  }

  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { search = input.value; guarded(load); }, 250);
  });
  ctx.onCleanup(() => clearTimeout(timer));
  body.append(h("div", { class: "toolbar" }, input, info, older, h("span", { class: "spacer" }), live), pre);
  await load();

  followWhileRunning(ctx, 1000, follow, (running) => { live.hidden = !running; });
}

/**
 * Call `read` every `ms` while the task runs, and once more when it stops. The polled status is
 * watched all along: an action on this page (Enqueue) or an agent can make the task run later.
 * `onState(running)` is told the state on every tick.
 */
function followWhileRunning(ctx, ms, read, onState = () => {}) {
  const running = () => ctx.task().status === "in_progress";
  let wasRunning = running();
  onState(wasRunning);
  ctx.every(ms, async () => {
    const now = running();
    onState(now);
    if (now || wasRunning) await read();
    wasRunning = now;
    return true;
  });
}

async function scalars(ctx, task, body) {
  const grid = h("div", { class: "chart-grid" });
  let graphs = {};
  let shownAxis = view.xAxis; // the x axis of `graphs` (a click may have asked for the other one since)
  let token = 0;
  const axisButtons = [["iter", "Iterations"], ["time", "Wall time"]].map(([key, label]) =>
    h("button", { type: "button", class: ["btn", "seg", view.xAxis === key && "active"], dataset: { axis: key },
                  onclick: () => guarded(async () => {
                    view.xAxis = key;
                    for (const b of axisButtons) b.classList.toggle("active", b.dataset.axis === key);
                    await load();
                  }) }, label));
  body.append(h("div", { class: "toolbar" }, h("span", { class: "segmented" }, axisButtons),
                smoothingControl(view.smoothing, (value) => { view.smoothing = value; drawAll(); })), grid);

  function drawAll() {
    const titles = Object.keys(graphs);
    pruneCharts(grid, titles);
    if (!titles.length) {
      grid.replaceChildren(empty("No scalars reported."));
      return;
    }
    const timeAxis = shownAxis === "time";
    for (const title of titles) {
      const lines = Object.entries(graphs[title]).map(([series, xy], i) => ({
        name: series, x: xy.x, y: xy.y, color: PALETTE[i % PALETTE.length], dash: "solid" }));
      drawChart(grid, title, lineTraces(lines, view.smoothing, timeAxis), lineLayout(timeAxis));
    }
  }

  /** Read the scalars on the chosen x axis; an answer overtaken by a newer request is dropped. */
  async function load() {
    const mine = ++token;
    const axis = view.xAxis;
    const data = await api(`/api/tasks/${enc(task.id)}/scalars${qs({ x_axis: axis })}`);
    if (mine !== token || !ctx.alive() || axis !== view.xAxis) return;
    graphs = data;
    shownAxis = axis;
    drawAll();
  }
  await load();
  followWhileRunning(ctx, 2000, load);
}

async function plots(ctx, task, body) {
  const info = h("p", { class: "muted plots-info" });
  const grid = h("div", { class: "chart-grid" });
  let signature = null;
  let token = 0;
  body.append(info, grid);

  function render(all) {
    const latest = new Map(); // the newest report of each (metric, variant)
    for (const p of all) latest.set(JSON.stringify([p.metric, p.variant]), p);
    pruneCharts(grid, [...latest.keys()]);
    if (!all.length) {
      info.textContent = "";
      grid.replaceChildren(empty("No plots reported."));
      return;
    }
    info.textContent = `${latest.size} plot${latest.size > 1 ? "s" : ""}${
      all.length > latest.size ? ` (the latest of ${all.length} reports)` : ""}`;
    for (const [key, p] of latest) {
      const el = chartCard(grid, key, {
        head: () => h("h3", null, `${p.metric} / ${p.variant}`, h("span", { class: "muted plot-iteration" })),
        attrs: { class: "chart figure", dataset: { title: `${p.metric} / ${p.variant}`, metric: p.metric,
                                                   variant: p.variant } } });
      if (el.dataset.seq === String(p.seq)) continue; // this plot did not change
      el.dataset.seq = p.seq;
      el.parentElement.querySelector(".plot-iteration").textContent =
        p.iteration !== null && p.iteration !== undefined ? ` · iteration ${p.iteration}` : "";
      drawFigure(el, p.figure);
    }
  }

  /** Read the plots; redraw only when a report was added (their count or newest seq moved). */
  async function load() {
    const mine = ++token;
    const all = await api(`/api/tasks/${enc(task.id)}/plots`);
    if (mine !== token || !ctx.alive()) return;
    const now = `${all.length}:${all.length ? all[all.length - 1].seq : 0}`;
    if (now === signature) return;
    signature = now;
    render(all);
  }
  await load();
  followWhileRunning(ctx, 2000, load);
}

async function samples(ctx, task, body) {
  const all = await api(`/api/tasks/${enc(task.id)}/debug_samples`);
  if (!ctx.alive()) return;
  if (!all.length) return body.append(empty("No debug samples reported."));
  const groups = new Map(); // metric -> variant -> samples (newest first, as the API sorts them)
  for (const sample of all) {
    if (!groups.has(sample.metric)) groups.set(sample.metric, new Map());
    const variants = groups.get(sample.metric);
    if (!variants.has(sample.variant)) variants.set(sample.variant, []);
    variants.get(sample.variant).push(sample);
  }
  for (const [metric, variants] of groups) {
    body.append(h("section", { class: "card" }, h("h3", null, metric), h("div", { class: "sample-grid" },
      [...variants].map(([variant, list]) => sampleCard(task, variant, list)))));
  }
  return undefined;
}

function sampleCard(task, variant, list) {
  const holder = h("div", { class: "sample-media" });
  const caption = h("div", { class: "muted" });
  const show = (sample) => {
    const url = `/api/tasks/${enc(task.id)}/debug_samples/${sample.seq}`;
    const name = sample.url.split(/[?#]/)[0];
    // a web link is not fetched by the server (it answers 409 with the link): show the link itself
    const external = /^https?:\/\//i.test(sample.url);
    holder.replaceChildren(external
      ? h("a", { href: sample.url, target: "_blank", rel: "noopener noreferrer", class: "external-link" },
          `link: ${sample.url}`)
      : IMAGE_EXTENSIONS.test(name)
      ? h("a", { href: url, target: "_blank", rel: "noopener" }, h("img", { src: url, alt: `${variant} at iteration ${sample.iteration}`,
                                                                          loading: "lazy" }))
      : h("a", { href: url, target: "_blank", rel: "noopener", class: "btn" }, `open ${name.split("/").pop()}`));
    caption.textContent = `iteration ${sample.iteration ?? "–"} · ${fmtTime(sample.ts)}`;
  };
  show(list[0]);
  const ordered = [...list].reverse(); // oldest first for the slider
  const slider = list.length > 1 ? h("input", { type: "range", min: "0", max: String(ordered.length - 1),
                                                value: String(ordered.length - 1), "aria-label": `${variant} history`,
                                                oninput: (e) => show(ordered[Number(e.target.value)]) }) : null;
  return h("figure", { class: "sample", dataset: { variant } }, holder, h("figcaption", null, h("strong", null, variant),
           caption, slider));
}

function values(ctx, task, body) {
  if (!task.single_values.length) return body.append(empty("No single values reported."));
  return body.append(h("section", { class: "card" }, h("table", { class: "table compact single-values" },
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", { class: "num" }, "Value"))),
    h("tbody", null, task.single_values.map((v) => h("tr", null, h("td", null, v.name),
                                                      h("td", { class: "num" }, fmtValue(v.value))))))));
}

/** An artifact the browser can show as an image (its file is served by the artifact download URL). */
function isImageArtifact(a) {
  if (!a.uri) return false;
  return a.type === "image" || IMAGE_ARTIFACT.test(a.extension || "") || IMAGE_ARTIFACT.test(a.uri.split(/[?#]/)[0]);
}

function artifacts(ctx, task, body) {
  if (!task.artifacts.length) return body.append(empty("No artifacts."));
  return body.append(h("section", { class: "card" }, h("table", { class: "table compact artifacts" },
    h("thead", null, h("tr", null, ["Name", "Type", "Mode", "Size", "Hash", "Preview", ""].map((t) => h("th", null, t)))),
    h("tbody", null, task.artifacts.map((a) => {
      const url = `/api/tasks/${enc(task.id)}/artifacts/${enc(a.name)}`;
      const preview = isImageArtifact(a)
        ? h("a", { href: url, target: "_blank", rel: "noopener", class: "artifact-image-link" },
            h("img", { class: "artifact-image", src: url, alt: a.name }))
        : a.preview ? h("pre", { class: "preview" }, a.preview) : "";
      return h("tr", { dataset: { artifact: a.name } },
        h("td", { class: "name" }, a.name),
        h("td", null, a.type || ""),
        h("td", { class: "muted" }, a.mode || ""),
        h("td", { class: "num" }, fmtSize(a.size)),
        h("td", null, a.hash ? h("code", { title: a.hash }, a.hash.slice(0, 10)) : ""),
        h("td", { class: "preview-cell" }, preview),
        h("td", null, a.uri ? h("a", { class: "btn small", href: url, download: "" }, "Download")
          : h("span", { class: "muted" }, "inline")));
    })))));
}

function models(ctx, task, body) {
  if (!task.models.length) return body.append(empty("No models."));
  return body.append(h("section", { class: "card" }, h("table", { class: "table compact models" },
    h("thead", null, h("tr", null, ["Name", "Role", "Framework", "Iteration", "Published", "URI", ""]
      .map((t) => h("th", null, t)))),
    h("tbody", null, task.models.map((m) => h("tr", { dataset: { model: m.id } },
      h("td", { class: "name", title: m.id }, m.name),
      h("td", null, m.role),
      h("td", null, m.framework || ""),
      h("td", { class: "num" }, m.iteration ?? ""),
      h("td", null, m.published ? "yes" : "no"),
      h("td", null, h("code", { class: "uri" }, m.uri || "")),
      h("td", null, m.uri
        ? h("a", { class: "btn small", href: `/api/tasks/${enc(task.id)}/models/${enc(m.id)}`, download: "" }, "Download")
        : h("span", { class: "muted" }, "no file"))))))));
}

function code(ctx, task, body) {
  const script = task.script || {};
  const version = script.version_num || script.commit;
  const info = kvTable([
    ["Entry point", script.entry_point ? h("code", null, script.entry_point) : null],
    ["Working dir", script.working_dir ? h("code", null, script.working_dir) : null],
    ["Repository", script.repository ? h("code", null, script.repository) : null],
    ["Branch", script.branch],
    ["Tag", script.tag],
    ["Commit", version ? h("code", null, version) : null],
    ["Arguments", script.argv && script.argv.length ? h("code", null, script.argv.join(" ")) : null],
    ["Binary", script.binary],
    ["Python", script.python],
    ["Script path", script.script_path ? h("code", null, script.script_path) : null],
  ]);
  const diff = script.diff || "";
  const diffPre = h("pre", { class: "code diff" }, diff.split("\n").map((line) => h("span", {
    class: line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add"
      : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : line.startsWith("diff ") ? "meta" : null,
  }, `${line}\n`)));
  body.append(h("section", { class: "card" }, h("h3", null, "Execution"),
                Object.keys(script).length ? info : empty("No code information recorded.")),
              h("section", { class: "card" }, h("h3", null, "Uncommitted changes"),
                diff ? diffPre : empty("No uncommitted changes recorded.")));
}

function packages(ctx, task, body) {
  const reqs = (task.script || {}).requirements;
  if (!reqs || (typeof reqs === "object" && !Object.keys(reqs).length)) {
    return body.append(empty("No installed packages recorded."));
  }
  if (typeof reqs === "string") {
    return body.append(h("section", { class: "card" }, h("h3", null, "Python packages"),
                         h("pre", { class: "code requirements" }, reqs)));
  }
  return body.append(...Object.entries(reqs).map(([kind, text]) => h("section", { class: "card" }, h("h3", null, kind),
    h("pre", { class: "code requirements" }, typeof text === "string" ? text : JSON.stringify(text, null, 2)))));
}
