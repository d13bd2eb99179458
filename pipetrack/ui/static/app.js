// pipetrack UI: a hash-routed single page over the JSON API of `pipetrack ui` (no build step).
//   #/tasks            tasks table with project tree, filters, sort, paging, compare selection
//   #/task/ID[/tab]    one task (overview, parameters, console, scalars, plots, ...) and its actions
//   #/compare?ids=a,b  2-5 tasks side by side
//   #/pipelines        pipeline runs;   #/pipeline/ID   one run's live DAG

import { clearError, closeDialogs, h, session, showError } from "./js/util.js";
import { tasksPage } from "./js/tasks.js";
import { taskPage } from "./js/task.js";
import { comparePage } from "./js/compare.js";
import { pipelinePage, pipelinesPage } from "./js/pipelines.js";
import { purgeAll } from "./js/charts.js";

const ROUTES = [
  [/^\/?$/, "tasks", tasksPage],
  [/^\/tasks$/, "tasks", tasksPage],
  [/^\/task\/([^/]+)(?:\/([\w-]+))?$/, "tasks", taskPage],
  [/^\/compare$/, "tasks", comparePage],
  [/^\/pipelines$/, "pipelines", pipelinesPage],
  [/^\/pipeline\/([^/]+)$/, "pipelines", pipelinePage],
];

let current = null; // the page context being shown

/** What a page function gets: where to draw, the route's params and query, and lifetime hooks. */
function makeContext(main, params, query) {
  const cleanups = [];
  const ctx = {
    main, params, query, dead: false,
    alive: () => !ctx.dead,
    onCleanup: (fn) => cleanups.push(fn),
    /** Call `fn` every `ms` until the page goes away or `fn` returns false (never overlapping). */
    every(ms, fn) {
      let timer = null;
      const tick = async () => {
        if (ctx.dead) return;
        let again = true;
        try {
          again = (await fn()) !== false;
        } catch (err) {
          showError(err.message || String(err));
        }
        if (again && !ctx.dead) timer = setTimeout(tick, ms);
      };
      timer = setTimeout(tick, ms);
      cleanups.push(() => clearTimeout(timer));
    },
    destroy() {
      ctx.dead = true;
      for (const fn of cleanups.splice(0)) {
        try { fn(); } catch (err) { console.warn(err); }
      }
      purgeAll(main);
    },
  };
  return ctx;
}

/** decodeURIComponent that answers null for a malformed escape (`%E0`) instead of throwing. */
function decode(part) {
  if (part === undefined) return part;
  try {
    return decodeURIComponent(part);
  } catch (err) {
    return null;
  }
}

function notFound(main, text, path) {
  main.replaceChildren(h("div", { class: "page not-found" }, h("h1", null, "Not found"),
                         h("p", null, text, " ", h("code", null, path), ". ", h("a", { href: "#/tasks" }, "Tasks"))));
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(query) };
}

async function route() {
  const { path, query } = parseHash();
  const shown = location.hash;
  const main = document.getElementById("main");
  delete main.dataset.ready; // set again once this route's page is drawn (tests wait for it)
  if (current) current.destroy();
  current = null;
  closeDialogs(); // a confirm left open must not act on the next page's task
  clearError();
  for (const [pattern, nav, page] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      link.classList.toggle("active", link.dataset.nav === nav);
    }
    const params = match.slice(1).map(decode);
    if (params.includes(null)) { // a malformed %-escape in the address
      main.dataset.ready = shown;
      notFound(main, "This address is malformed:", path);
      return;
    }
    const ctx = makeContext(main, params, query);
    current = ctx;
    const previous = main.firstChild; // what the last page drew (kept until this one draws)
    try {
      await page(ctx);
      if (ctx.alive()) main.dataset.ready = location.hash; // the page may have tidied its address

    } catch (err) {
      if (!ctx.alive()) return;
      showError(err.message || String(err));
      if (!main.hasChildNodes() || main.firstChild === previous || main.querySelector(":scope > .loading")) {
        main.replaceChildren(h("div", { class: "page" }, h("p", { class: "empty" }, "Could not load this page."),
                                h("p", null, h("a", { href: "#/tasks" }, "Back to the tasks"))));
      }
      main.dataset.ready = location.hash;
      if (!(err.status)) console.warn(err);
    }
    return;
  }
  main.dataset.ready = shown;
  notFound(main, "No page at", path);
}

document.getElementById("error-banner").querySelector(".close").addEventListener("click", clearError);
window.addEventListener("hashchange", route);
session().then((info) => {
  const el = document.getElementById("store-path");
  el.textContent = info.store;
  el.title = `store: ${info.store}`;
}).catch(() => {});
route();
