// #/compare?ids=a,b,...: 2-5 tasks side by side: parameters (differing rows highlighted) and
// their scalars overlaid, one chart per title, one line per (task, series).

import { api, badge, empty, enc, fmtValue, h, qs, s } from "./util.js";
import { DASHES, PALETTE, draw, lineLayout, lineTraces, smoothingControl } from "./charts.js";

let smoothing = 0;

export async function comparePage(ctx) {
  const ids = (ctx.query.get("ids") || "").split(",").map((id) => id.trim()).filter(Boolean);
  const data = await api(`/api/compare${qs({ ids: ids.join(",") })}`);
  if (!ctx.alive()) return;
  const { tasks, parameters, scalars } = data;
  const colour = (i) => PALETTE[i % PALETTE.length];

  const onlyDiff = h("input", { type: "checkbox", id: "only-differences" });
  const paramBody = h("tbody", null, parameters.map((row) => h("tr", {
    class: row.differs ? "differs" : null, dataset: { param: row.name, differs: row.differs ? "1" : "0" } },
    h("td", { class: "name" }, row.differs ? h("span", { class: "diff-mark", title: "values differ" }, "≠") : null,
      row.name),
    row.values.map((value) => h("td", { class: value === null ? "missing" : null },
                                value === null ? "—" : fmtValue(value))))));
  onlyDiff.addEventListener("change", () => {
    for (const tr of paramBody.rows) tr.hidden = onlyDiff.checked && tr.dataset.differs !== "1";
  });
  const differing = parameters.filter((row) => row.differs).length;

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
      let el = [...grid.querySelectorAll(".chart")].find((c) => c.dataset.title === title);
      if (!el) {
        el = h("div", { class: "chart", dataset: { title } });
        grid.append(h("section", { class: "card chart-card" }, h("div", { class: "chart-head" }, h("h3", null, title),
          h("span", { class: "chart-key" }, seriesNames.map((name, i) => h("span", { class: "key-item" },
            dashSample(DASHES[i % DASHES.length]), name)))), el));
      }
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
      draw(el, lineTraces(lines, smoothing, false), layout);
    }
  }

  ctx.main.replaceChildren(h("div", { class: "page compare-page" },
    h("div", { class: "crumbs" }, h("a", { href: "#/tasks" }, "Tasks"), " / Compare"),
    h("h1", null, `Comparing ${tasks.length} tasks`),
    h("section", { class: "card" }, h("table", { class: "table compact compare-tasks" },
      h("thead", null, h("tr", null, ["", "Name", "Status", "Type", "Project", "ID"].map((t) => h("th", null, t)))),
      h("tbody", null, tasks.map((task, i) => h("tr", { dataset: { id: task.id } },
        h("td", null, h("span", { class: "swatch", style: `background:${colour(i)}` })),
        h("td", { class: "name" }, h("a", { href: `#/task/${enc(task.id)}` }, task.name)),
        h("td", null, badge(task.status)), h("td", null, task.type), h("td", null, task.project_name),
        h("td", null, h("code", null, task.id.slice(0, 12)))))))),
    h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h3", null, "Parameters"),
        h("span", { class: "muted" }, `${differing} of ${parameters.length} differ`), h("span", { class: "spacer" }),
        h("label", { class: "control" }, onlyDiff, "Only differences")),
      parameters.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "table compact compare-params" },
            h("thead", null, h("tr", null, h("th", null, "Parameter"),
              tasks.map((task, i) => h("th", null, h("span", { class: "swatch", style: `background:${colour(i)}` }),
                                       task.name)))),
            paramBody))
        : empty("None of these tasks has parameters.")),
    h("div", { class: "toolbar" }, h("h3", null, "Scalars"), h("span", { class: "spacer" }),
      smoothingControl(smoothing, (value) => { smoothing = value; drawAll(); })),
    titles.length ? grid : empty("None of these tasks reported scalars.")));
  drawAll();
}
