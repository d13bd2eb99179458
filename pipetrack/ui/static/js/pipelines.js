// #/pipelines (the runs table) and #/pipeline/ID (one run: its DAG as SVG, live while it runs).

import { ACTIVE_STATUSES, api, badge, empty, enc, fmtDuration, fmtTime, guarded, h, pageParam, pager, progressBar,
         qs, s, session, showError } from "./util.js";

const PAGE_SIZE = 50;
const NODE_W = 168, NODE_H = 48, GAP_X = 64, GAP_Y = 20, PAD = 16;

/** A step's run time, "" until it ended. */
function stepDuration(node) {
  return node.started && node.ended ? fmtDuration(node.ended - node.started) : "";
}

/** Every project name of the /api/projects tree, parents first. */
function projectNames(nodes) {
  return nodes.flatMap((node) => [node.name, ...projectNames(node.children || [])]);
}

export async function pipelinesPage(ctx) {
  const state = { page: pageParam(ctx.query.get("page")), project: ctx.query.get("project") || "",
                  name: ctx.query.get("name") || "" };
  const tbody = h("tbody");
  const pages = pager((page) => { state.page = Math.max(0, page); reload(); });
  const projectSelect = h("select", { id: "pipeline-project", "aria-label": "project" },
    h("option", { value: "" }, "All projects"),
    state.project ? h("option", { value: state.project, selected: true }, state.project) : null);
  const nameInput = h("input", { type: "search", id: "pipeline-name", placeholder: "Pipeline name",
                                 value: state.name, "aria-label": "pipeline name" });
  let rows = [];
  let loadToken = 0;

  async function load() {
    const token = ++loadToken;
    const data = await api(`/api/pipelines${qs({ project: state.project, name: state.name, page: state.page,
                                                  page_size: PAGE_SIZE })}`);
    if (token !== loadToken || !ctx.alive()) return;
    if (!data.rows.length && state.page > 0 && data.total > 0) { // past the last page: show the last one
      state.page = Math.max(0, Math.ceil(data.total / PAGE_SIZE) - 1);
      history.replaceState(null, "", hashOf());
      await load();
      return;
    }
    rows = data.rows;
    const filtered = state.project || state.name;
    tbody.replaceChildren(...(rows.length ? rows.map((run) => h("tr", { dataset: { id: run.id, status: run.status } },
      h("td", { class: "name" }, h("a", { href: `#/pipeline/${enc(run.id)}` }, run.name),
        h("div", { class: "sub" }, run.project_name)),
      h("td", null, run.version || ""),
      h("td", null, badge(run.status)),
      h("td", null, progressBar(run.progress)),
      h("td", { class: "time" }, fmtTime(run.started)),
      h("td", { class: "num" }, fmtDuration(run.duration))))
      : [h("tr", null, h("td", { colspan: 6, class: "empty" },
                         filtered ? "No pipeline run matches these filters." : "No pipeline runs yet."))]));
    pages.update(state.page, PAGE_SIZE, rows.length, data.total);
  }

  const hashOf = () => `#/pipelines${qs({ project: state.project, name: state.name, page: state.page || "" })}`;
  function reload() {
    history.replaceState(null, "", hashOf());
    guarded(load);
  }

  let nameTimer = null;
  nameInput.addEventListener("input", () => {
    clearTimeout(nameTimer);
    nameTimer = setTimeout(() => { state.name = nameInput.value.trim(); state.page = 0; reload(); }, 250);
  });
  ctx.onCleanup(() => clearTimeout(nameTimer));
  projectSelect.addEventListener("change", () => { state.project = projectSelect.value; state.page = 0; reload(); });

  ctx.main.replaceChildren(h("div", { class: "page" }, h("h1", null, "Pipeline runs"),
    h("div", { class: "toolbar filters" }, projectSelect, nameInput),
    h("div", { class: "table-wrap" }, h("table", { class: "table pipelines-table" },
      h("thead", null, h("tr", null, ["Name", "Version", "Status", "Progress", "Started", "Duration"]
        .map((t) => h("th", null, t)))), tbody)),
    pages.el));
  const [projects] = await Promise.all([api("/api/projects"), load()]);
  if (!ctx.alive()) return;
  projectSelect.replaceChildren(h("option", { value: "" }, "All projects"),
    ...[...new Set([...projectNames(projects), state.project].filter(Boolean))].map((name) =>
      h("option", { value: name, selected: name === state.project }, name)));
  ctx.every(2000, async () => {
    if (rows.some((run) => ACTIVE_STATUSES.has(run.status)) && !document.hidden) await load();
  });
}

// ------------------------------------------------------------------------------ one run
/** What the DAG drawing depends on: when it is unchanged, the SVG (and its hover / focus) stays. */
function dagSignature(run) {
  return JSON.stringify([run.nodes.map((n) => [n.name, n.status, n.task_id, n.layer, n.slot, n.started, n.ended,
                                               n.error]), run.edges]);
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The DAG: columns are layers, rows are slots (centred per column), cubic edges with arrows. */
export function dagSvg(run) {
  const perLayer = new Map();
  for (const node of run.nodes) perLayer.set(node.layer, (perLayer.get(node.layer) || 0) + 1);
  const minSlot = Math.min(0, ...run.nodes.map((n) => n.slot));
  const rowsMax = Math.max(1, ...run.nodes.map((n) => n.slot - minSlot + 1), ...perLayer.values());
  const layers = Math.max(1, ...run.nodes.map((n) => n.layer + 1));
  const width = PAD * 2 + layers * NODE_W + (layers - 1) * GAP_X;
  const height = PAD * 2 + rowsMax * NODE_H + (rowsMax - 1) * GAP_Y;
  const pos = new Map();
  for (const node of run.nodes) {
    const offset = ((rowsMax - (perLayer.get(node.layer) || 1)) * (NODE_H + GAP_Y)) / 2;
    pos.set(node.name, { x: PAD + node.layer * (NODE_W + GAP_X),
                         y: PAD + offset + (node.slot - minSlot) * (NODE_H + GAP_Y) });
  }
  const statusOf = new Map(run.nodes.map((n) => [n.name, n.status]));
  const edges = run.edges.filter(([a, b]) => pos.has(a) && pos.has(b)).map(([a, b]) => {
    const p = pos.get(a), q = pos.get(b);
    const x1 = p.x + NODE_W, y1 = p.y + NODE_H / 2, x2 = q.x - 3, y2 = q.y + NODE_H / 2;
    const done = ["completed", "cached"].includes(statusOf.get(a));
    return s("path", { class: ["dag-edge", done && "done"], dataset: { from: a, to: b }, "marker-end": "url(#dag-arrow)",
                       d: `M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}` });
  });
  const nodes = run.nodes.map((node) => {
    const { x, y } = pos.get(node.name);
    const duration = stepDuration(node);
    const tip = [`${node.name}: ${node.status}`, node.task_id ? `task ${node.task_id}` : "", duration,
                 node.error || ""].filter(Boolean).join("\n");
    const g = s("g", { class: ["dag-node", `status-${node.status}`, node.task_id && "linked"],
                       dataset: { step: node.name, status: node.status, taskId: node.task_id },
                       transform: `translate(${x},${y})`, tabindex: node.task_id ? "0" : null,
                       role: node.task_id ? "link" : null },
      s("title", null, tip),
      s("rect", { width: NODE_W, height: NODE_H, rx: 9, ry: 9 }),
      s("text", { class: "dag-label", x: NODE_W / 2, y: 20, "text-anchor": "middle" }, truncate(node.name, 22)),
      s("text", { class: "dag-status", x: NODE_W / 2, y: 37, "text-anchor": "middle" },
        node.status + (duration && node.status !== "running" ? ` · ${duration}` : "")));
    if (node.task_id) {
      const open = () => { location.hash = `#/task/${enc(node.task_id)}`; };
      g.addEventListener("click", open);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    }
    return g;
  });
  return s("svg", { class: "dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                    "aria-label": `pipeline DAG with ${run.nodes.length} steps` },
    s("defs", null, s("marker", { id: "dag-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7",
                                   markerHeight: "7", orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrowhead" }))),
    s("g", { class: "dag-edges" }, edges), s("g", { class: "dag-nodes" }, nodes));
}

export async function pipelinePage(ctx) {
  const [runId] = ctx.params;
  const header = h("div", { class: "run-header" });
  const progress = h("div", { class: "run-progress" });
  const dagBox = h("div", { class: "dag-box card" });
  const stepsBody = h("tbody");
  const { node_statuses: nodeStatuses } = await session();
  if (!ctx.alive()) return;
  let lastDag = null;
  let loadToken = 0;

  function render(run) {
    header.replaceChildren(
      h("div", { class: "crumbs" }, h("a", { href: "#/pipelines" }, "Pipelines"), " / ", run.pipeline_name),
      h("div", { class: "title-row" }, h("h1", null, run.name), badge(run.status),
        run.version ? h("span", { class: "chip" }, `v${run.version}`) : null, h("span", { class: "spacer" }),
        h("a", { class: "btn", href: `#/task/${enc(run.id)}` }, "Controller task")),
      h("div", { class: "sub-row muted" }, `${run.project_name} · started ${fmtTime(run.started) || "–"}`,
        run.duration !== null ? ` · ${fmtDuration(run.duration)}` : "",
        run.status_message ? h("span", { class: "status-message" }, ` · ${run.status_message}`) : null));
    const pct = run.total ? (100 * run.done) / run.total : 0;
    progress.replaceChildren(
      h("span", { class: "steps-done", dataset: { done: run.done, total: run.total } },
        `${run.done}/${run.total} steps done`),
      h("span", { class: ["progress", "wide", `status-${run.status}`] }, h("span", { class: "progress-track" },
        h("span", { class: "progress-fill", style: `width:${pct}%` }))),
      ...nodeStatuses.filter((st) => run.counts[st]).map((st) =>
        h("span", { class: ["count-chip", `status-${st}`] }, `${run.counts[st]} ${st}`)));
    const signature = dagSignature(run);
    if (signature !== lastDag) { // redrawn only when a step changed: hover and focus survive the polling
      lastDag = signature;
      dagBox.replaceChildren(run.nodes.length ? dagSvg(run) : empty("This run has no steps recorded yet."),
        h("div", { class: "dag-legend" }, nodeStatuses.map((st) => h("span", { class: ["legend-item", `status-${st}`] },
          h("span", { class: "legend-swatch" }), st))));
      stepsBody.replaceChildren(...run.nodes.map((node) => h("tr", { dataset: { step: node.name, status: node.status } },
        h("td", { class: "name" }, node.name),
        h("td", null, badge(node.status, node.status)),
        h("td", null, node.task_id ? h("a", { href: `#/task/${enc(node.task_id)}` }, node.task_id.slice(0, 12)) : ""),
        h("td", null, node.parents.join(", ")),
        h("td", { class: "time" }, fmtTime(node.started)),
        h("td", { class: "num" }, stepDuration(node)),
        h("td", { class: "error-cell" }, node.error || ""))));
    }
  }

  /** Read the run and draw what changed; null when the answer is stale (a newer read, or the page left). */
  async function load() {
    const token = ++loadToken;
    const run = await api(`/api/pipelines/${enc(runId)}`);
    if (token !== loadToken || !ctx.alive()) return null;
    render(run); // the header and counts are cheap; the DAG itself is redrawn only on a change
    return run;
  }

  const first = await load(); // errors here are the page's own: the router shows them
  if (!first) return;
  ctx.main.replaceChildren(h("div", { class: "page pipeline-page", dataset: { runId } }, header, progress, dagBox,
    h("section", { class: "card" }, h("h3", null, "Steps"), h("div", { class: "table-wrap" },
      h("table", { class: "table compact steps" }, h("thead", null, h("tr", null,
        ["Step", "Status", "Task", "Parents", "Started", "Duration", "Error"].map((t) => h("th", null, t)))),
        stepsBody)))));
  if (!ACTIVE_STATUSES.has(first.status)) return; // a finished, failed or Draft run: nothing to follow

  // follow the run while its controller runs (or waits in a queue), then read it once more: the
  // steps' last states may land just after the run's own. Steps left pending by a dead or aborted
  // controller never keep the page polling.
  let finalReads = 1;
  ctx.every(1000, async () => {
    if (document.hidden) return true;
    let run;
    try {
      run = await load();
    } catch (err) {
      showError(err.message || String(err));
      return err.status !== 404; // the run was deleted: stop
    }
    if (!ctx.alive()) return false;
    if (!run) return true; // a stale answer: ask again
    if (ACTIVE_STATUSES.has(run.status)) return true;
    return finalReads-- > 0;
  });
}
