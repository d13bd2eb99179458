// #/pipelines (the runs table) and #/pipeline/ID (one run: its DAG as SVG, live while it runs).

import { ACTIVE_STATUSES, NODE_STATUSES, api, badge, empty, enc, fmtDuration, fmtTime, h, progressBar, qs,
         s } from "./util.js";

const PAGE_SIZE = 50;
const NODE_W = 168, NODE_H = 48, GAP_X = 64, GAP_Y = 20, PAD = 16;

function runDuration(run) {
  if (!run.started) return null;
  const end = run.completed || (run.status === "in_progress" ? Date.now() / 1000 : run.last_update);
  return Math.max(0, end - run.started);
}

export async function pipelinesPage(ctx) {
  let page = Number(ctx.query.get("page") || 0);
  const tbody = h("tbody");
  const pagerText = h("span", { class: "pager-text" });
  const prev = h("button", { class: "btn", type: "button", onclick: () => { page -= 1; load(); } }, "‹ Prev");
  const next = h("button", { class: "btn", type: "button", onclick: () => { page += 1; load(); } }, "Next ›");
  let rows = [];

  async function load() {
    const data = await api(`/api/pipelines${qs({ page, page_size: PAGE_SIZE })}`);
    if (!ctx.alive()) return;
    history.replaceState(null, "", `#/pipelines${qs({ page: page || "" })}`);
    rows = data.rows;
    tbody.replaceChildren(...(rows.length ? rows.map((run) => h("tr", { dataset: { id: run.id, status: run.status } },
      h("td", { class: "name" }, h("a", { href: `#/pipeline/${enc(run.id)}` }, run.name),
        h("div", { class: "sub" }, run.project_name)),
      h("td", null, run.version || ""),
      h("td", null, badge(run.status)),
      h("td", null, progressBar(run.progress)),
      h("td", { class: "time" }, fmtTime(run.started)),
      h("td", { class: "num" }, fmtDuration(runDuration(run)))))
      : [h("tr", null, h("td", { colspan: 6, class: "empty" }, "No pipeline runs yet."))]));
    const first = data.total ? page * PAGE_SIZE + 1 : 0;
    pagerText.textContent = `${first}–${page * PAGE_SIZE + rows.length} of ${data.total}`;
    prev.disabled = page <= 0;
    next.disabled = (page + 1) * PAGE_SIZE >= data.total;
  }

  ctx.main.replaceChildren(h("div", { class: "page" }, h("h1", null, "Pipeline runs"),
    h("div", { class: "table-wrap" }, h("table", { class: "table pipelines-table" },
      h("thead", null, h("tr", null, ["Name", "Version", "Status", "Progress", "Started", "Duration"]
        .map((t) => h("th", null, t)))), tbody)),
    h("div", { class: "pager" }, prev, pagerText, next)));
  await load();
  ctx.every(2000, async () => {
    if (rows.some((run) => ACTIVE_STATUSES.has(run.status)) && !document.hidden) await load();
  });
}

// ------------------------------------------------------------------------------ one run
function isLive(run) {
  return ACTIVE_STATUSES.has(run.status) || run.nodes.some((n) => n.status === "pending" || n.status === "running");
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
    const duration = node.started && node.ended ? fmtDuration(node.ended - node.started) : "";
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
  let lastJson = "";

  function render(run) {
    header.replaceChildren(
      h("div", { class: "crumbs" }, h("a", { href: "#/pipelines" }, "Pipelines"), " / ", run.pipeline_name),
      h("div", { class: "title-row" }, h("h1", null, run.name), badge(run.status),
        run.version ? h("span", { class: "chip" }, `v${run.version}`) : null, h("span", { class: "spacer" }),
        h("a", { class: "btn", href: `#/task/${enc(run.id)}` }, "Controller task")),
      h("div", { class: "sub-row muted" }, `${run.project_name} · started ${fmtTime(run.started) || "–"}`,
        runDuration(run) !== null ? ` · ${fmtDuration(runDuration(run))}` : "",
        run.status_message ? h("span", { class: "status-message" }, ` · ${run.status_message}`) : null));
    const pct = run.total ? (100 * run.done) / run.total : 0;
    progress.replaceChildren(
      h("span", { class: "steps-done", dataset: { done: run.done, total: run.total } },
        `${run.done}/${run.total} steps done`),
      h("span", { class: ["progress", "wide", `status-${run.status}`] }, h("span", { class: "progress-track" },
        h("span", { class: "progress-fill", style: `width:${pct}%` }))),
      ...NODE_STATUSES.filter((st) => run.counts[st]).map((st) =>
        h("span", { class: ["count-chip", `status-${st}`] }, `${run.counts[st]} ${st}`)));
    dagBox.replaceChildren(run.nodes.length ? dagSvg(run) : empty("This run has no steps recorded yet."),
      h("div", { class: "dag-legend" }, NODE_STATUSES.map((st) => h("span", { class: ["legend-item", `status-${st}`] },
        h("span", { class: "legend-swatch" }), st))));
    stepsBody.replaceChildren(...run.nodes.map((node) => h("tr", { dataset: { step: node.name, status: node.status } },
      h("td", { class: "name" }, node.name),
      h("td", null, h("span", { class: ["badge", `status-${node.status}`], dataset: { status: node.status } }, node.status)),
      h("td", null, node.task_id ? h("a", { href: `#/task/${enc(node.task_id)}` }, node.task_id.slice(0, 12)) : ""),
      h("td", null, node.parents.join(", ")),
      h("td", { class: "time" }, fmtTime(node.started)),
      h("td", { class: "num" }, node.started && node.ended ? fmtDuration(node.ended - node.started) : ""),
      h("td", { class: "error-cell" }, node.error || ""))));
  }

  const first = await api(`/api/pipelines/${enc(runId)}`);
  if (!ctx.alive()) return;
  ctx.main.replaceChildren(h("div", { class: "page pipeline-page", dataset: { runId } }, header, progress, dagBox,
    h("section", { class: "card" }, h("h3", null, "Steps"), h("div", { class: "table-wrap" },
      h("table", { class: "table compact steps" }, h("thead", null, h("tr", null,
        ["Step", "Status", "Task", "Parents", "Started", "Duration", "Error"].map((t) => h("th", null, t)))),
        stepsBody)))));
  lastJson = JSON.stringify(first);
  render(first);
  let live = isLive(first);
  ctx.every(1000, async () => {
    if (!live) return false;
    const run = await api(`/api/pipelines/${enc(runId)}`);
    if (!ctx.alive()) return false;
    const json = JSON.stringify(run);
    if (json !== lastJson) {
      lastJson = json;
      render(run);
    }
    live = isLive(run);
    return live;
  });
}
