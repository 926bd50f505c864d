"use strict";
// The explorer: decodes the embedded document, then keeps the list, the
// model view and the panel in step with the search box and the filters.
// `window.compatReady` settles when it is ready (the <html> element's
// data-compat says "ready" or "failed" too); `window.compatExplorer.lastUpdate`
// holds how long the last change took to filter and render, in ms.

const FILTERS = ["model", "producer", "consumer", "format", "loader", "policy", "status"];
// Status choices that stand for several statuses, by the property they share.
const STATUS_GROUPS = [
  ["failing", "any failure"],
  ["read_failure", "read failures (loaded, but wrong or raised)"],
  ["passing", "passing (identical or close)"],
];

class Explorer {
  constructor(data, config) {
    this.data = data;
    this.config = config;
    this.index = new CellIndex(data, config.labels);
    this.search = document.getElementById("search");
    this.selects = Object.fromEntries(FILTERS.map((c) => [c, document.getElementById(`filter-${c}`)]));
    this.count = document.getElementById("count");
    this.panel = new CellPanel(document.getElementById("cell-panel"), data, config);
    this.panel.close = () => this.closeCell();
    this.list = new VirtualList(document.getElementById("rows"), (e, row) => this.fillRow(e, row),
      (row) => this.openCell(row));
    this.modelView = document.getElementById("model-view");
    this.grid = new ModelGrid(document.getElementById("model-grid"), config,
      (producer, consumer) => this.pickPair(producer, consumer));
    this.lastUpdate = null;
  }

  start() {
    for (const column of FILTERS) this.fillSelect(column);
    this.search.addEventListener("input", () => this.update("search"));
    for (const select of Object.values(this.selects)) {
      select.addEventListener("change", () => this.update(`filter ${select.dataset.column}`));
    }
    document.getElementById("controls").addEventListener("submit", (event) => event.preventDefault());
    document.getElementById("clear").addEventListener("click", () => this.clear());
    for (const control of document.querySelectorAll("#controls [disabled]")) control.disabled = false;
    this.update("start");
    this.openFromHash();
    window.addEventListener("hashchange", () => this.openFromHash());
  }

  fillSelect(column) {
    const names = this.data.names[column];
    const counts = this.index.counts(column);
    const select = this.selects[column];
    const order = { producer: this.config.producers, consumer: this.config.consumers,
      status: this.config.statuses.map((s) => s.value) }[column];
    const rank = new Map((order || []).map((name, i) => [name, i]));
    const indexes = names.map((_, i) => i)
      .sort((a, b) => (rank.get(names[a]) ?? 1e9) - (rank.get(names[b]) ?? 1e9) || a - b);
    select.replaceChildren(el("option", { value: "" }, "all"));
    if (column === "status") {
      for (const [key, text] of STATUS_GROUPS) select.append(el("option", { value: `group:${key}` }, text));
    }
    const meanings = Object.fromEntries(this.config.statuses.map((s) => [s.value, s.meaning]));
    for (const i of indexes) {
      const label = this.config.labels[names[i]];
      const text = column === "producer" || column === "consumer" ? `${label || names[i]} (${names[i]})` : names[i];
      const title = column === "status" ? meanings[names[i]] || "" : "";
      select.append(el("option", { value: String(i), title }, `${text} · ${counts[i].toLocaleString("en")}`));
    }
  }

  // The allowed-names table of each filter that is set.
  filters(except) {
    const out = {};
    for (const column of FILTERS) {
      if (except && except.includes(column)) continue;
      const value = this.selects[column].value;
      if (!value) continue;
      const allowed = new Uint8Array(this.data.names[column].length);
      if (value.startsWith("group:")) {
        const property = value.slice("group:".length);
        const members = new Set(this.config.statuses.filter((s) => s[property]).map((s) => s.value));
        this.data.names.status.forEach((name, i) => { allowed[i] = members.has(name) ? 1 : 0; });
      } else {
        allowed[Number(value)] = 1;
      }
      out[column] = allowed;
    }
    return out;
  }

  update(reason) {
    const started = performance.now();
    const rows = this.index.select(this.filters(), this.search.value);
    this.list.show(rows);
    this.showModel();
    const total = this.data.count.toLocaleString("en");
    this.count.textContent = `${rows.length.toLocaleString("en")} of ${total} cells`;
    this.count.dataset.count = String(rows.length);
    void this.list.viewport.getBoundingClientRect();  // lay out within the measured time
    this.lastUpdate = { reason, ms: performance.now() - started, rows: rows.length };
  }

  showModel() {
    const model = this.selects.model.value;
    this.modelView.hidden = !model;
    if (!model) return;
    const name = this.data.names.model[Number(model)];
    document.getElementById("model-title").textContent = `${name} across all envs`;
    const rows = this.index.select(this.filters(["producer", "consumer"]), this.search.value);
    const picked = { producer: this.selected("producer"), consumer: this.selected("consumer") };
    this.grid.show(this.data, rows, picked);
  }

  selected(column) {
    const value = this.selects[column].value;
    return value === "" ? null : this.data.names[column][Number(value)];
  }

  pickPair(producer, consumer) {
    this.selects.producer.value = String(this.data.names.producer.indexOf(producer));
    this.selects.consumer.value = String(this.data.names.consumer.indexOf(consumer));
    this.update("model square");
  }

  clear() {
    this.search.value = "";
    for (const select of Object.values(this.selects)) select.value = "";
    this.update("clear");
  }

  fillRow(element, row) {
    const data = this.data;
    const spans = element.children;
    const label = (id) => this.config.labels[id] || id;
    const status = data.name("status", row);
    const values = [label(data.name("producer", row)), label(data.name("consumer", row)),
      data.name("model", row), data.name("policy", row), data.name("format", row), data.name("loader", row)];
    for (let i = 0; i < 6; i++) spans[i].textContent = spans[i].title = values[i];
    spans[6].replaceChildren(badge(status));
    const message = data.stored("error", row) !== undefined ? data.field("error", row)
      : data.stored("reason", row) !== undefined ? data.field("reason", row) : distances(data, row);
    spans[7].textContent = message;
    spans[7].title = message;
  }

  openCell(row) {
    this.panel.show(row);
    this.list.mark(row);
    const id = this.cellId(row);
    history.replaceState(null, "", `#cell=${encodeURIComponent(id)}`);
  }

  closeCell() {
    this.panel.hide();
    this.list.mark(-1);
    history.replaceState(null, "", "#explorer");
  }

  // producer/consumer/model/policy/format/loader: how `repro` names a cell.
  cellId(row) {
    return this.data.format.key.map((column) => this.data.name(column, row)).join("/");
  }

  // #cell=producer/consumer/model/policy/format/loader opens that cell.
  openFromHash() {
    const found = /^#cell=(.+)$/.exec(location.hash);
    if (!found) return;
    const key = decodeURIComponent(found[1]);
    for (let row = 0; row < this.data.count; row++) {
      if (this.cellId(row) === key) {
        this.openCell(row);
        this.panel.element.scrollIntoView({ block: "nearest" });
        return;
      }
    }
  }
}

// A measured cell with no message: how far its outputs were from the reference.
function distances(data, row) {
  const found = [["max abs", "max_abs"], ["max rel", "max_rel"], ["max ULP", "max_ulp"]]
    .filter(([, key]) => typeof data.stored(key, row) === "number")
    .map(([name, key]) => `${name} ${number(data.stored(key, row))}`);
  return found.join(" · ");
}

// The heat-map, where it is embedded packed: an image of the inflated SVG.
async function showPackedPictures() {
  for (const image of document.querySelectorAll("img[data-packed]")) {
    const svg = await inflateEmbedded(image.dataset.packed);
    image.src = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
  }
}

// timings: ms from the script's start to the text inflated (the browser reads
// the rest of the page meanwhile), to the cells indexed, to the list shown;
// `ready` is ms since navigation started.
async function startExplorer() {
  const timings = {};
  const mark = (name, since) => { timings[name] = performance.now() - since; };
  let since = performance.now();
  const config = JSON.parse(document.getElementById("compat-config").textContent);
  const text = await inflateEmbedded("compat-data");
  mark("inflate", since);
  since = performance.now();
  const data = new CompatData(JSON.parse(text), config.format);
  mark("decode", since);
  since = performance.now();
  const explorer = new Explorer(data, config);
  explorer.start();
  mark("start", since);
  timings.ready = performance.now();  // since the page's navigation started
  explorer.timings = timings;
  window.compatExplorer = explorer;
  document.documentElement.dataset.compat = "ready";
  return explorer;
}

function failed(error) {
  document.documentElement.dataset.compat = "failed";
  const count = document.getElementById("count");
  if (count) {
    count.className = "count error";
    count.textContent = `The explorer could not read the embedded cells (${error.message}); ` +
      "compat.json has every cell.";
  }
  throw error;
}

window.compatReady = startExplorer().catch(failed);
// The script runs before the report below it is read: pictures once it is.
document.addEventListener("DOMContentLoaded", () => {
  showPackedPictures().catch((error) => console.error("compat.html: heat-map:", error));
});
