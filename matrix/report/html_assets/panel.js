"use strict";
// The cell panel: one cell in full, decoded only when it opens. Every value
// goes in as a text node (never as markup), and a link only when it is http(s).

// el("dd", {className: "x"}, "text", child): an element with properties and children.
function el(tag, props, ...children) {
  const element = document.createElement(tag);
  Object.assign(element, props || {});
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function badge(status) {
  return el("span", { className: `st-${status}`, title: status }, status);
}

// A measurement as Python's "{:.3g}" writes it: 3 significant digits,
// exponents for the very small and the very large.
function number(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number" || Number.isInteger(value) || value === 0) return String(value);
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  return exponent < -4 || exponent >= 3 ? value.toExponential(2) : String(Number(value.toPrecision(3)));
}

// The repro command, quoted for a shell where the id needs it.
function reproCommand(id) {
  const quoted = /^[A-Za-z0-9_.:\/-]+$/.test(id) ? id : `'${id.replace(/'/g, "'\\''")}'`;
  return `python -m matrix repro ${quoted}`;
}

function safeLink(url) {
  return /^https?:\/\//i.test(url) ? el("a", { href: url, rel: "noreferrer" }, url) : el("span", {}, url);
}

class CellPanel {
  constructor(element, data, config) {
    this.element = element;
    this.data = data;
    this.config = config;
    this.close = () => {};
  }

  show(row) {
    const cell = this.data.cell(row);
    const id = this.data.format.key.map((key) => cell[key]).join("/");
    const closer = el("button", { type: "button", className: "close", textContent: "Close" });
    closer.addEventListener("click", () => this.close());
    this.element.replaceChildren(
      closer,
      el("h3", {}, id),
      this.fields(cell),
      this.cause(cell),
      this.text("Message", cell.error),
      this.text("Traceback", cell.error_text, "traceback"),
      this.part("Inference only: load_model(path, compile=False)", cell.inference),
      this.part("Under the artifact's own policy", cell.own_policy),
      el("h4", {}, "Reproduce it"),
      el("pre", { className: "repro" }, el("code", {}, reproCommand(id))),
    );
    this.element.hidden = false;
    this.element.dataset.row = String(row);
  }

  hide() {
    this.element.hidden = true;
    this.element.replaceChildren();
  }

  fields(cell) {
    const list = el("dl");
    const add = (term, value) => {
      if (value === null || value === undefined || value === "" || value === false) return;
      if (Array.isArray(value) && !value.length) return;
      list.append(el("dt", {}, term), el("dd", {}, value instanceof Node ? value : Array.isArray(value) ? value.join(", ") : String(value)));
    };
    const env = (id) => (this.config.labels[id] && this.config.labels[id] !== id ? `${this.config.labels[id]} (${id})` : id);
    add("status", badge(cell.status));
    add("producer", env(cell.producer));
    add("consumer", env(cell.consumer));
    for (const key of ["model", "policy", "format", "loader", "error_type"]) add(key, cell[key]);
    add("reason", cell.reason !== cell.error ? cell.reason : null);  // else shown as the message
    add("max abs", number(cell.max_abs));
    add("max rel", number(cell.max_rel));
    add("max ULP", number(cell.max_ulp));
    add("seconds", cell.seconds === null ? null : number(cell.seconds));
    add("nondeterministic", cell.nondeterministic ? "yes: two predictions in one process differ" : null);
    add("config drift", cell.config_drift);
    add("dtype drift", cell.dtype_drift);
    add("silent changes", cell.silent_changes);
    add("policy sensitive", cell.policy_sensitive ? "yes: another status under its own policy" : null);
    return list;
  }

  cause(cell) {
    if (!cell.known) {
      const failing = (this.config.statuses.find((s) => s.value === cell.status) || {}).failing;
      return failing ? el("p", { className: "new" }, "New or unexplained: no known cause explains this cell.") : null;
    }
    const cause = this.data.causes[cell.known] || {};
    const links = (cause.links || []).map((url) => el("li", {}, safeLink(url)));
    return el("section", { className: "cause" },
      el("h4", {}, "Known cause: ", cause.title || cell.known),
      cause.cause ? el("p", {}, cause.cause) : null,
      links.length ? el("ul", {}, ...links) : null,
      cause.way_out ? el("p", {}, el("strong", {}, "Way out: "), cause.way_out) : null,
      cause.evidence ? el("p", {}, "Reproduced: ", el("code", {}, reproCommand(cause.evidence))) : null,
    );
  }

  text(title, value, className) {
    if (!value) return null;
    return el("section", {}, el("h4", {}, title), el("pre", { className: className || "" }, value));
  }

  part(title, part) {
    if (!part) return null;
    const table = el("table");
    const head = table.createTHead().insertRow();
    const line = table.createTBody().insertRow();
    for (const key of ["status", "max_abs", "max_rel", "max_ulp", "error_type", "dtype_drift", "seconds"]) {
      if (!(key in part)) continue;
      head.appendChild(el("th", {}, key.replace("_", " ")));
      const value = part[key];
      line.appendChild(el("td", {}, key === "status" && value ? badge(value) : Array.isArray(value) ? value.join(", ") : number(value)));
    }
    const error = part.error ? el("pre", {}, part.error) : null;
    return el("section", { className: "part" }, el("h4", {}, title), table, error);
  }
}
