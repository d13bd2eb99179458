// Plotly helpers: scalar line charts (one chart per title), TensorBoard-style smoothing, and
// drawing stored plotly figures.

import { h } from "./util.js";

export const PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777",
                        "#4b5563", "#65a30d"];
export const DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];
const MODEBAR = { bgcolor: "rgba(255,255,255,0.85)", color: "#9ca3af", activecolor: "#2563eb" };
const CONFIG = { displaylogo: false, responsive: true,
                 modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"] };

export const plotlyReady = () => typeof window.Plotly !== "undefined";

/**
 * Exponential moving average with TensorBoard's debiasing (weight 0 = raw values). A missing
 * value (null: the server's NaN / infinity) stays null, a gap in the line, and is skipped by
 * the average, so one bad point never turns the rest of the line into NaN.
 */
export function smooth(values, weight) {
  if (!weight || weight <= 0) return values;
  let last = 0;
  let count = 0;
  return values.map((y) => {
    if (typeof y !== "number" || !Number.isFinite(y)) return null;
    last = last * weight + (1 - weight) * y;
    count += 1;
    const debias = weight >= 1 ? 1 : 1 - Math.pow(weight, count);
    return last / debias;
  });
}

/**
 * Line traces for one chart. `lines`: [{name, x, y, color, dash}]. With smoothing, each line is
 * drawn smoothed, over a faint copy of its raw values (as TensorBoard does).
 */
export function lineTraces(lines, smoothing, timeAxis) {
  const traces = [];
  for (const line of lines) {
    const x = timeAxis ? line.x.map((t) => new Date(t * 1000)) : line.x;
    if (smoothing > 0) {
      traces.push({ type: "scatter", mode: "lines", x, y: line.y, name: line.name, showlegend: false,
                    hoverinfo: "skip", opacity: 0.25, line: { color: line.color, dash: line.dash, width: 1 } });
    }
    traces.push({ type: "scatter", mode: line.x.length === 1 ? "lines+markers" : "lines", x,
                  y: smooth(line.y, smoothing), name: line.name,
                  line: { color: line.color, dash: line.dash, width: 2 } });
  }
  return traces;
}

export function lineLayout(timeAxis, xTitle) {
  return {
    autosize: true, height: 260, margin: { l: 50, r: 12, t: 26, b: 38 },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff", font: { size: 11 }, modebar: MODEBAR,
    hovermode: "x unified", showlegend: true,
    // under the chart (pushing the bottom margin): the mode bar, shown on hover, has the top right
    legend: { orientation: "h", x: 0, xanchor: "left", y: 0, yref: "container", yanchor: "bottom",
              bgcolor: "rgba(0,0,0,0)" },
    xaxis: { title: { text: xTitle || (timeAxis ? "" : "iteration"), standoff: 4, font: { size: 11, color: "#6b7280" } },
             type: timeAxis ? "date" : "linear",
             gridcolor: "#eef0f3", zeroline: false, automargin: true },
    yaxis: { gridcolor: "#eef0f3", zeroline: false, automargin: true },
  };
}

/** Draw (first time) or update (afterwards) a chart in `el`. */
export function draw(el, traces, layout) {
  if (!plotlyReady()) {
    el.replaceChildren(h("p", { class: "empty" }, "plotly.js did not load, charts cannot be drawn"));
    return;
  }
  if (el.dataset.drawn) {
    window.Plotly.react(el, traces, layout, CONFIG);
  } else {
    el.dataset.drawn = "1";
    window.Plotly.newPlot(el, traces, layout, CONFIG);
  }
}

/**
 * The chart element for `key` inside `grid`: a card (its head, then the chart) found by key, or
 * created on first use. `head()` builds the card's head (default: the key as a title); `attrs`
 * are extra attributes of the chart element (it always carries `data-title` = key).
 */
export function chartCard(grid, key, { head, attrs } = {}) {
  let card = [...grid.children].find((c) => c.classList.contains("chart-card") && c.dataset.key === key);
  if (!card) {
    grid.querySelector(":scope > .empty")?.remove();
    const { dataset, ...rest } = attrs || {};
    const el = h("div", { class: "chart", ...rest, dataset: { title: key, ...(dataset || {}) } });
    card = h("section", { class: "card chart-card", dataset: { key } }, head ? head() : h("h3", null, key), el);
    grid.append(card);
  }
  return card.querySelector(".chart");
}

/** Find or create the chart card for `key` in `grid`, then draw (or update) it. */
export function drawChart(grid, key, traces, layout, options) {
  const el = chartCard(grid, key, options);
  draw(el, traces, layout);
  return el;
}

/** Remove the chart cards of `grid` whose key is not in `keys` (freeing their plotly state). */
export function pruneCharts(grid, keys) {
  const keep = new Set(keys);
  for (const card of [...grid.children]) {
    if (!card.classList.contains("chart-card") || keep.has(card.dataset.key)) continue;
    purgeAll(card);
    card.remove();
  }
}

export function purgeAll(root) {
  if (!plotlyReady()) return;
  for (const el of root.querySelectorAll("[data-drawn]")) window.Plotly.purge(el);
}

/** A stored plotly figure ({data, layout}) as the SDK reported it. */
export function drawFigure(el, figure) {
  const layout = { ...(figure.layout || {}) };
  delete layout.width;
  layout.autosize = true;
  layout.height = layout.height || 360;
  layout.margin = { l: 55, r: 20, t: layout.title ? 40 : 15, b: 45, ...(layout.margin || {}) };
  layout.paper_bgcolor = layout.paper_bgcolor || "rgba(0,0,0,0)";
  layout.modebar = { ...MODEBAR, ...(layout.modebar || {}) };
  draw(el, figure.data || [], layout);
}

/** The smoothing slider (0–0.99) with its value; `onChange(weight)` runs while dragging. */
export function smoothingControl(value, onChange) {
  const output = h("output", { class: "smoothing-value" }, value.toFixed(2));
  const input = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(value),
                             class: "smoothing", "aria-label": "smoothing",
                             oninput: () => { output.textContent = Number(input.value).toFixed(2);
                                              onChange(Number(input.value)); } });
  return h("label", { class: "control" }, "Smoothing", input, output);
}
