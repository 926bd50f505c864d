"use strict";
// The results list: only the rows in view exist in the page. A spacer gives
// the scroll range of every selected row; the rows shown are absolutely
// placed, reused from a pool, and refilled on scroll.

const ROW_HEIGHT = 26;  // px; .row in explorer.css has this height
const OVERSCAN = 8;  // rows made above and below the view, so fast scrolling shows no gap

class VirtualList {
  // fill(element, row): write a row's cells; open(row): a row was picked.
  constructor(viewport, fill, open) {
    this.viewport = viewport;
    this.spacer = viewport.querySelector(".spacer");
    this.fill = fill;
    this.rows = new Uint32Array(0);
    this.pool = [];
    this.current = -1;
    this.painted = "";
    viewport.addEventListener("scroll", () => this.schedule());
    window.addEventListener("resize", () => this.schedule());  // more or fewer rows fit
    viewport.addEventListener("click", (event) => {
      const target = event.target.closest(".row");
      if (target && target.dataset.row) open(Number(target.dataset.row));
    });
  }

  show(rows) {
    this.rows = rows;
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.viewport.scrollTop = 0;
    this.paint(true);
  }

  mark(row) {
    this.current = row;
    this.paint(true);
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.paint(false);
    });
  }

  paint(force) {
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, first + Math.ceil(height / ROW_HEIGHT) + 2 * OVERSCAN);
    const key = `${first}:${last}`;
    if (!force && key === this.painted) return;
    this.painted = key;
    while (this.pool.length < last - first) this.pool.push(this.newRow());
    for (let i = 0; i < this.pool.length; i++) {
      const element = this.pool[i];
      const position = first + i;
      if (position >= last) {
        element.hidden = true;
        continue;
      }
      const row = this.rows[position];
      element.hidden = false;
      element.style.top = `${position * ROW_HEIGHT}px`;
      element.dataset.row = String(row);
      element.setAttribute("aria-current", row === this.current ? "true" : "false");
      this.fill(element, row);
    }
  }

  newRow() {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "row";
    for (let i = 0; i < 8; i++) element.appendChild(document.createElement("span"));
    this.viewport.appendChild(element);
    return element;
  }
}
