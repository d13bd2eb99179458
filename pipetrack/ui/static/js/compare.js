// #/compare?ids=a,b,...: 2-5 tasks side by side: parameters and last metrics (differing rows and
// rows some task lacks highlighted, each its own way) and their scalars overlaid, one chart per
// title, one line per (task, series).

import { api, badge, compareSelection, empty, enc, fmtValue, h, pruneSelection, qs, s } from "./util.js";
import { DASHES, PALETTE, drawChart, lineLayout, lineTraces, smoothingControl } from "./charts.js";

let smoothing = 0;

const compareHash = (ids) => `#/compare?ids=${ids.map(enc).join(",")}`;

/** The ids of the address, each once (the API refuses duplicates), in their order. */
function idsOf(query) {
  return [...new Set((query.get("ids") || "").split(",").map((id) => id.trim()).filter(Boolean))];
}

export async function comparePage(ctx) {
  const ids = idsOf(ctx.query);
  if (ids.join(",") !== (ctx.query.get("ids") || "")) { // tidy the address (no duplicates, no blanks)
    history.replaceState(null, "", compareHash(ids));
  }
  let data;
  try {
    data = await api(`/api/compare${qs({ ids: ids.join(",") })}`);
  } catch (err) {
    // a task of the selection was deleted since it was ticked: forget it, then report
    if (err.status === 404 && ctx.alive()) {
      const gone = await pruneSelection(ids);
      if (ctx.alive()) compareGone(ctx, ids, gone);
    }
    throw err;
  }
  if (!ctx.alive()) return;
  const { tasks, parameters, metrics = [], scalars } = data;
  const colour = (i) => PALETTE[i % PALETTE.length];
  const swatch = (i) => h("span", { class: "swatch", style: `background:${colour(i)}` });

  const onlyDiff = h("input", { type: "checkbox", id: "only-differences" });
  // "differs": the tasks that have the value disagree; "missing": some task has no value at all
  const rowAttrs = (row, key) => ({ class: [row.differs && "differs", row.missing && "missing"],
    dataset: { ...key, differs: row.differs ? "1" : "0", missing: row.missing ? "1" : "0" } });
  const marks = (row, what) => [
    row.differs ? h("span", { class: "diff-mark", title: `${what} differ` }, "≠") : null,
    row.missing ? h("span", { class: "missing-mark", title: "missing on some tasks" }, "∅") : null];
  const paramBody = h("tbody", null, parameters.map((row) => h("tr", rowAttrs(row, { param: row.name }),
    h("td", { class: "name" }, marks(row, "values"), row.name),
    row.values.map((value) => h("td", { class: value === null ? "missing" : null },
                                value === null ? "—" : fmtValue(value))))));
  const metricBody = h("tbody", null, metrics.map((row) => h("tr",
    rowAttrs(row, { metric: `${row.title}/${row.series}` }),
    h("td", { class: "name" }, marks(row, "last values"), row.title, h("span", { class: "muted" }, ` / ${row.series}`)),
    row.values.map((value, i) => ["last", "min", "max"].map((key) => h("td", {
      class: ["num", key === "last" && "group-start", value === null && "missing"], dataset: { task: i, key } },
    value === null ? (key === "last" ? "—" : "") : fmtValue(value[key])))))));
  onlyDiff.addEventListener("change", () => {
    for (const tr of [...paramBody.rows, ...metricBody.rows]) {
      tr.hidden = onlyDiff.checked && tr.dataset.differs !== "1" && tr.dataset.missing !== "1";
    }
  });
  const counts = (rows, suffix = "") => h("span", { class: "muted" },
    h("span", { class: "count-differs" }, `${rows.filter((row) => row.differs).length} of ${rows.length} differ`),
    suffix, " · ", h("span", { class: "count-missing" }, `${rows.filter((row) => row.missing).length} missing`));

  const grid = h("div", { class: "chart-grid" });
  const titles = [...new Set(scalars.flatMap((graphs) => Object.keys(graphs)))].sort();

  // colour = task (as in the tables above), dash = series: a small key per chart instead of a
  // plotly legend, which would need a row per (task, series); hovering shows the full names
  const dashSample = (dash) => s("svg", { width: 26, height: 8, class: "dash-sample" },
    s("line", { x1: 1, y1: 4, x2: 25, y2: 4, stroke: "#374151", "stroke-width": 2,
                "stroke-dasharray": { dash: "5,3", dot: "2,3", dashdot: "6,3,2,3", longdash: "9,3" }[dash] || null }));

  function drawAll() {
    for (const title of titles) {
      const seriesNames = [...new Set(scalars.flatMap((graphs) => Object.keys(graphs[title] || {})))].sort();
      const lines = [];
      scalars.forEach((graphs, i) => {
        for (const [series, xy] of Object.entries(graphs[title] || {})) {
          lines.push({ name: `${tasks[i].name} · ${series}`, x: xy.x, y: xy.y, color: colour(i),
                       dash: DASHES[seriesNames.indexOf(series) % DASHES.length] });
        }
      });
      const layout = lineLayout(false);
      layout.showlegend = false;
      layout.margin = { ...layout.margin, t: 10 };
      drawChart(grid, title, lineTraces(lines, smoothing, false), layout, {
        head: () => h("div", { class: "chart-head" }, h("h3", null, title),
          h("span", { class: "chart-key" }, seriesNames.map((name, i) => h("span", { class: "key-item" },
            dashSample(DASHES[i % DASHES.length]), name)))),
      });
    }
  }

  ctx.main.replaceChildren(h("div", { class: "page compare-page" },
    h("div", { class: "crumbs" }, h("a", { href: "#/tasks" }, "Tasks"), " / Compare"),
    h("h1", null, `Comparing ${tasks.length} tasks`),
    h("section", { class: "card" }, h("table", { class: "table compact compare-tasks" },
      h("thead", null, h("tr", null, ["", "Name", "Status", "Type", "Project", "ID"].map((t) => h("th", null, t)))),
      h("tbody", null, tasks.map((task, i) => h("tr", { dataset: { id: task.id } },
        h("td", null, swatch(i)),
        h("td", { class: "name" }, h("a", { href: `#/task/${enc(task.id)}` }, task.name)),
        h("td", null, badge(task.status)), h("td", null, task.type), h("td", null, task.project_name),
        h("td", null, h("code", null, task.id.slice(0, 12)))))))),
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h3", null, "Parameters"),
        counts(parameters), h("span", { class: "spacer" }),
        h("label", { class: "control" }, onlyDiff, "Only differences")),
      parameters.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "table compact compare-diff compare-params" },
            h("thead", null, h("tr", null, h("th", null, "Parameter"),
              tasks.map((task, i) => h("th", null, swatch(i), task.name)))),
            paramBody))
        : empty("None of these tasks has parameters.")),
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h3", null, "Metrics"),
        counts(metrics, " (last value)")),
      metrics.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "table compact compare-diff compare-metrics" },
            h("thead", null,
              h("tr", null, h("th", { rowspan: 2 }, "Metric"),
                tasks.map((task, i) => h("th", { colspan: 3, class: "group-start" }, swatch(i), task.name))),
              h("tr", null, tasks.map(() => ["Last", "Min", "Max"].map((label, j) =>
                h("th", { class: ["num", j === 0 && "group-start"] }, label))))),
            metricBody))
        : empty("None of these tasks reported scalars.")),
    h("div", { class: "toolbar" }, h("h3", null, "Scalars"), h("span", { class: "spacer" }),
      smoothingControl(smoothing, (value) => { smoothing = value; drawAll(); })),
    titles.length ? grid : empty("None of these tasks reported scalars.")));
  drawAll();
}

/** The page shown when a compared task no longer exists (the error itself goes to the banner). */
function compareGone(ctx, ids, gone) {
  const rest = ids.filter((id) => !gone.includes(id));
  ctx.main.replaceChildren(h("div", { class: "page compare-page" },
    h("div", { class: "crumbs" }, h("a", { href: "#/tasks" }, "Tasks"), " / Compare"),
    h("h1", null, "Cannot compare these tasks"),
    gone.length
      ? h("p", { class: "compare-gone" }, `${gone.length === 1 ? "This task no longer exists" : "These tasks no longer exist"}`,
          " (removed from the selection): ", gone.map((id, i) => [i ? ", " : "", h("code", null, id)]))
      : null,
    h("p", null, rest.length >= 2
      ? h("a", { href: compareHash(rest), id: "compare-rest" }, `Compare the other ${rest.length}`)
      : null, rest.length >= 2 ? " · " : null,
    h("a", { href: "#/tasks" }, "Back to the tasks"),
    compareSelection.size ? ` (${compareSelection.size} still selected)` : "")));
}
