// #/tasks: the project tree, the filtered / sorted / paged tasks table (with the metric and
// parameter columns the user chose for the project) and the compare selection.

import { ACTIVE_STATUSES, api, badge, compareSelection as selected, dialog, empty, enc, fmtDuration, fmtTime,
         fmtValue, guarded, h, notify, pageParam, pager, progressBar, pruneSelection, qs, session, statusLabel,
         tagChips } from "./util.js";

const COLUMNS = [
  ["name", "Name", true], ["id", "ID", true], ["type", "Type", true], ["status", "Status", true],
  ["progress", "Progress", true], ["tags", "Tags", false], ["started", "Started", true], ["duration", "Duration", true],
];
const DESCENDING_FIRST = new Set(["started", "duration", "progress", "created", "last_update"]);
const DEFAULT_PAGE_SIZE = 50;

function stateFromQuery(query) {
  return {
    project: query.get("project") || "", status: query.get("status") || "", type: query.get("type") || "",
    tag: query.get("tag") || "", search: query.get("search") || "", sort: query.get("sort") || "-created",
    page: pageParam(query.get("page")), archived: query.get("archived") === "1", parent: query.get("parent") || "",
    pageSize: Math.max(1, Math.min(500, Number(query.get("page_size")) || DEFAULT_PAGE_SIZE)),
  };
}

function hashOf(state) {
  return `#/tasks${qs({ project: state.project, status: state.status, type: state.type, tag: state.tag,
                         search: state.search, sort: state.sort === "-created" ? "" : state.sort,
                         page: state.page || "", archived: state.archived, parent: state.parent,
                         page_size: state.pageSize === DEFAULT_PAGE_SIZE ? "" : state.pageSize })}`;
}

// extra columns, per project in this browser: ["metric", title, series] (last value) or ["param", section, name]
const columnsKey = (project) => `pipetrack.tasks.columns:${project}`;
const columnId = (column) => JSON.stringify(column);
const columnLabel = ([kind, a, b]) => (kind === "metric" ? `${a} / ${b}` : `${a}/${b}`);

function storedColumns(project) {
  try {
    const columns = JSON.parse(localStorage.getItem(columnsKey(project)) || "[]");
    return Array.isArray(columns) ? columns.filter((c) => Array.isArray(c) && c.length === 3 &&
      ["metric", "param"].includes(c[0]) && c.every((part) => typeof part === "string")) : [];
  } catch (err) {
    return [];
  }
}

function storeColumns(project, columns) {
  if (columns.length) localStorage.setItem(columnsKey(project), JSON.stringify(columns));
  else localStorage.removeItem(columnsKey(project));
}

/** The short id with a button copying the full one (also in the tooltip). */
function idCell(id) {
  const copy = () => guarded(async () => {
    await navigator.clipboard.writeText(id);
    notify(`Copied the task id ${id}`);
  });
  return h("td", { class: "id" }, h("code", { class: "short-id", title: id }, id.slice(0, 8)),
    h("button", { type: "button", class: "btn link copy-id", title: "copy the full id", "aria-label": "copy the id",
                  onclick: copy }, "copy"));
}

function projectTree(projects, state, onPick) {
  const item = (node) => h("li", null,
    h("a", { href: "#", class: ["project", state.project === node.name && "active"], dataset: { project: node.name },
             title: node.name, onclick: (e) => { e.preventDefault(); onPick(node.name); } },
      h("span", { class: "project-name" }, node.basename), h("span", { class: "count" }, node.total_tasks)),
    node.children.length ? h("ul", null, node.children.map(item)) : null);
  return h("ul", { class: "project-tree" },
    h("li", null, h("a", { href: "#", class: ["project", !state.project && "active"], dataset: { project: "" },
                           onclick: (e) => { e.preventDefault(); onPick(""); } },
      h("span", { class: "project-name" }, "All projects"),
      h("span", { class: "count" }, projects.reduce((n, p) => n + p.total_tasks, 0)))),
    projects.map(item));
}

export async function tasksPage(ctx) {
  const state = stateFromQuery(ctx.query);
  let loadToken = 0;
  let lastRows = [];
  let extra = storedColumns(state.project);
  // the filter vocabularies come from the server (read once per page load of the app)
  const { statuses, task_types: types } = await session();
  if (!ctx.alive()) return;

  const sidebar = h("aside", { class: "sidebar" }, h("h3", null, "Projects"), h("p", { class: "muted" }, "Loading…"));
  const search = h("input", { type: "search", id: "task-search", placeholder: "Search name, id, comment…",
                              value: state.search, "aria-label": "search" });
  const statusSelect = h("select", { id: "filter-status", "aria-label": "status" },
    h("option", { value: "" }, "Any status"),
    statuses.map((value) => h("option", { value, selected: value === state.status }, statusLabel(value))));
  const typeSelect = h("select", { id: "filter-type", "aria-label": "type" },
    h("option", { value: "" }, "Any type"),
    types.map((t) => h("option", { value: t, selected: t === state.type }, t)));
  const tagInput = h("input", { type: "search", id: "filter-tag", placeholder: "Tags (a,b)", value: state.tag,
                                "aria-label": "tags", class: "narrow" });
  const archived = h("input", { type: "checkbox", id: "filter-archived", checked: state.archived });
  const columnsButton = h("button", { class: "btn", id: "columns-button", type: "button",
                                      title: "add metric and parameter columns", onclick: () => guarded(chooseColumns) },
                          "Columns");
  const compareButton = h("button", { class: "btn primary", id: "compare-button", type: "button",
                                      onclick: () => { location.hash = `#/compare?ids=${[...selected].map(enc).join(",")}`; } });
  const clearSelection = h("button", { class: "btn link", type: "button", id: "clear-selection",
                                       onclick: () => { selected.clear(); renderRows(lastRows); } }, "clear");
  const tbody = h("tbody");
  const thead = h("thead");
  const pages = pager((page) => { state.page = Math.max(0, page); reload(); },
                      { prevId: "page-prev", nextId: "page-next" });
  const parentChip = h("span", { class: "filter-chip", hidden: !state.parent });

  function updateCompareButton() {
    const n = selected.size;
    compareButton.textContent = n ? `Compare (${n})` : "Compare";
    compareButton.disabled = n < 2 || n > 5;
    compareButton.title = n < 2 || n > 5 ? "select 2 to 5 tasks to compare" : "";
    clearSelection.hidden = n === 0;
  }

  /** A sort by an extra column names it by its place (`col:N`): forget one that is not there. */
  function checkSort() {
    const match = /^-?col:(\d+)$/.exec(state.sort);
    if (/col:/.test(state.sort) && !(match && Number(match[1]) < extra.length)) state.sort = "-created";
  }

  function renderHead() {
    const column = state.sort.replace(/^[-+]/, "");
    const descending = state.sort.startsWith("-");
    const headers = [...COLUMNS, ...extra.map((c, i) => [`col:${i}`, columnLabel(c), true, c])];
    thead.replaceChildren(h("tr", null, h("th", { class: "check" }),
      headers.map(([key, label, sortable, spec]) => h("th", {
        class: [sortable && "sortable", key === column && "sorted", spec && "extra", spec && spec[0] === "metric" && "num"],
        dataset: { sort: sortable ? key : null, column: spec ? columnId(spec) : null },
        title: spec ? (spec[0] === "metric" ? `last value of ${label}` : `parameter ${label}`) : null,
        onclick: sortable ? () => {
          state.sort = key === column ? (descending ? key : `-${key}`) : (DESCENDING_FIRST.has(key) ? `-${key}` : key);
          state.page = 0;
          reload();
        } : null,
      }, label, key === column ? h("span", { class: "sort-arrow" }, descending ? " ▼" : " ▲") : null))));
  }

  function renderRows(rows) {
    lastRows = rows;
    if (!rows.length) {
      tbody.replaceChildren(h("tr", null, h("td", { colspan: COLUMNS.length + extra.length + 1, class: "empty" },
                                                  "No tasks match these filters.")));
    } else {
      tbody.replaceChildren(...rows.map((row) => {
        const box = h("input", { type: "checkbox", class: "row-select", checked: selected.has(row.id),
                                 "aria-label": `select ${row.name}`,
                                 onchange: () => { box.checked ? selected.add(row.id) : selected.delete(row.id);
                                                   updateCompareButton(); } });
        return h("tr", { dataset: { id: row.id, status: row.status }, class: row.archived ? "archived" : null },
          h("td", { class: "check" }, box),
          h("td", { class: "name" }, h("a", { href: `#/task/${enc(row.id)}` }, row.name),
            h("div", { class: "sub" }, row.project_name, row.archived ? " · archived" : "")),
          idCell(row.id),
          h("td", { class: "type" }, row.type),
          h("td", { class: "status" }, badge(row.status)),
          h("td", null, progressBar(row.progress)),
          h("td", { class: "tags" }, tagChips(row.tags)),
          h("td", { class: "time", title: fmtTime(row.created) && `created ${fmtTime(row.created)}` },
            fmtTime(row.started)),
          h("td", { class: "num" }, fmtDuration(row.duration)),
          extra.map(([kind], i) => h("td", { class: ["extra", kind === "metric" ? "num" : "param"],
                                             dataset: { column: columnId(extra[i]) } },
                                     fmtValue((row.columns || [])[i]))));
      }));
    }
    updateCompareButton();
  }

  async function load(quiet = false) {
    const token = ++loadToken;
    const query = new URLSearchParams(qs({ project: state.project, status: state.status, type: state.type,
                                           tag: state.tag, search: state.search, sort: state.sort, page: state.page,
                                           page_size: state.pageSize, archived: state.archived,
                                           parent: state.parent }).slice(1));
    for (const column of extra) query.append("col", JSON.stringify(column));
    const data = await api(`/api/tasks?${query}`);
    if (token !== loadToken || !ctx.alive()) return null;
    if (!data.rows.length && state.page > 0 && data.total > 0 && !quiet) { // the page emptied: go back
      state.page = Math.max(0, Math.ceil(data.total / state.pageSize) - 1);
      return load();
    }
    renderHead();
    renderRows(data.rows);
    pages.update(state.page, state.pageSize, data.rows.length, data.total);
    return data;
  }

  function reload() {
    history.replaceState(null, "", hashOf(state));
    guarded(() => load());
  }

  /** The column chooser: every metric and parameter of the project's tasks, the chosen ones ticked. */
  async function chooseColumns() {
    const project = state.project;
    const offered = await api(`/api/columns${qs({ project, archived: state.archived })}`);
    if (!ctx.alive() || project !== state.project) return;
    const choices = [...offered.metrics.map((m) => ["metric", m.title, m.series]),
                     ...offered.parameters.map((p) => ["param", p.section, p.name])];
    const ids = new Set(choices.map(columnId));
    choices.push(...extra.filter((c) => !ids.has(columnId(c)))); // chosen, though no task has it now
    const boxes = choices.map((c) => h("input", { type: "checkbox", class: "column-choice", value: columnId(c),
                                                 checked: extra.some((e) => columnId(e) === columnId(c)) }));
    const group = (kind, title) => {
      const items = choices.map((c, i) => [c, boxes[i]]).filter(([c]) => c[0] === kind);
      return h("fieldset", { class: "column-group", dataset: { kind } }, h("legend", null, title),
        items.length ? items.map(([c, box]) => h("label", { class: "control" }, box, columnLabel(c)))
          : empty(kind === "metric" ? "No task here reported scalars." : "No task here has parameters."));
    };
    if (!await dialog({ title: `Columns${project ? ` of ${project}` : ""}`, ok: "Apply", id: "columns-dialog",
                        body: h("div", { class: "column-chooser" }, group("metric", "Metrics (last value)"),
                                group("param", "Parameters")) })) return;
    if (!ctx.alive() || project !== state.project) return;
    const sorted = /^-?col:(\d+)$/.exec(state.sort);
    const sortedId = sorted && extra[Number(sorted[1])] ? columnId(extra[Number(sorted[1])]) : null;
    extra = choices.filter((c, i) => boxes[i].checked);
    storeColumns(project, extra);
    const index = extra.findIndex((c) => columnId(c) === sortedId);
    if (sorted) state.sort = index >= 0 ? `${state.sort.startsWith("-") ? "-" : ""}col:${index}` : "-created";
    reload();
  }

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.search = search.value.trim(); state.page = 0; reload(); }, 250);
  });
  tagInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.tag = tagInput.value.replace(/\s+/g, ""); state.page = 0; reload(); }, 300);
  });
  ctx.onCleanup(() => clearTimeout(searchTimer));
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; state.page = 0; reload(); });
  typeSelect.addEventListener("change", () => { state.type = typeSelect.value; state.page = 0; reload(); });
  archived.addEventListener("change", () => { state.archived = archived.checked; state.page = 0; reload(); });
  if (state.parent) {
    parentChip.append("children of ", h("code", null, state.parent.slice(0, 8)), " ",
      h("button", { class: "btn link", type: "button", title: "remove this filter",
                    onclick: () => { state.parent = ""; parentChip.hidden = true; reload(); } }, "×"));
  }

  checkSort();
  ctx.main.replaceChildren(h("div", { class: "tasks-layout" }, sidebar,
    h("section", { class: "tasks-main" },
      h("div", { class: "toolbar" }, search, statusSelect, typeSelect, tagInput,
        h("label", { class: "control", title: "include archived tasks" }, archived, "Show archived"), parentChip,
        h("span", { class: "spacer" }), columnsButton, clearSelection, compareButton),
      h("div", { class: "table-wrap" }, h("table", { class: "table tasks-table" }, thead, tbody)),
      pages.el)));
  renderHead();
  updateCompareButton();

  const pickProject = (name) => {
    state.project = name;
    state.page = 0;
    extra = storedColumns(name);
    checkSort();
    for (const a of sidebar.querySelectorAll("a.project")) a.classList.toggle("active", a.dataset.project === name);
    reload();
  };
  const [projects] = await Promise.all([api("/api/projects"), load()]);
  if (!ctx.alive()) return;
  if (selected.size) { // ticked earlier: forget tasks deleted since
    guarded(async () => {
      if ((await pruneSelection()).length && ctx.alive()) renderRows(lastRows);
    });
  }
  sidebar.replaceChildren(h("h3", null, "Projects"), projectTree(projects, state, pickProject));

  // keep running / pending rows fresh without disturbing the page
  ctx.every(3000, async () => {
    if (lastRows.some((row) => ACTIVE_STATUSES.has(row.status)) && !document.hidden) await load(true);
  });
}
