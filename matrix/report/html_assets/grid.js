"use strict";
// "My model across all envs": the selected cells of one model as producers
// (rows) by consumers (columns). A square counts its cells by status letter,
// worst first, and wears the colour of the worst; picking it lists its cells.

class ModelGrid {
  constructor(container, config, pick) {
    this.container = container;
    this.config = config;
    this.pick = pick;
    this.statuses = config.statuses.map((s) => s.value);
    container.addEventListener("click", (event) => {
      const square = event.target.closest("button[data-producer]");
      if (square) this.pick(square.dataset.producer, square.dataset.consumer);
    });
  }

  // rows: the cells selected by every filter but producer and consumer.
  show(data, rows, picked) {
    const counts = countPairs(data, rows, this.statuses);
    const producers = this.ordered(data.names.producer, this.config.producers, counts.producers);
    const consumers = this.ordered(data.names.consumer, this.config.consumers, counts.consumers);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    head.appendChild(cellOf("th", "producer ↓ consumer →"));
    for (const c of consumers) head.appendChild(cellOf("th", this.label(data.names.consumer[c]), data.names.consumer[c]));
    const body = table.createTBody();
    for (const p of producers) {
      const line = body.insertRow();
      line.appendChild(cellOf("th", this.label(data.names.producer[p]), data.names.producer[p]));
      for (const c of consumers) line.appendChild(this.square(data, counts.at(p, c), p, c, picked));
    }
    this.container.replaceChildren(table);
  }

  square(data, found, p, c, picked) {
    const td = document.createElement("td");
    const present = this.config.worst_first.filter((s) => found[this.statuses.indexOf(s)]);
    if (!present.length) {
      td.className = "none";
      td.textContent = "·";
      return td;
    }
    const producer = data.names.producer[p];
    const consumer = data.names.consumer[c];
    const button = document.createElement("button");
    button.type = "button";
    button.className = `st-${present[0]}`;
    button.dataset.producer = producer;
    button.dataset.consumer = consumer;
    button.setAttribute("aria-pressed", String(picked.producer === producer && picked.consumer === consumer));
    const short = (s) => this.config.statuses[this.statuses.indexOf(s)].short;
    button.textContent = present.map((s) => `${short(s)}${found[this.statuses.indexOf(s)]}`).join(" ");
    button.title = `${this.label(producer)} → ${this.label(consumer)}: ` +
      present.map((s) => `${found[this.statuses.indexOf(s)]} ${s}`).join(", ");
    td.appendChild(button);
    return td;
  }

  // Name indexes of the envs that have cells, in the plan's order.
  ordered(names, order, present) {
    const rank = new Map(order.map((name, i) => [name, i]));
    return names.map((_, i) => i).filter((i) => present[i])
      .sort((a, b) => (rank.get(names[a]) ?? 1e9) - (rank.get(names[b]) ?? 1e9) || a - b);
  }

  label(id) {
    return this.config.labels[id] || id;
  }
}

// Counts per (producer, consumer, status) as one flat typed array.
function countPairs(data, rows, statuses) {
  const statusCount = statuses.length;
  const nProducers = data.names.producer.length;
  const nConsumers = data.names.consumer.length;
  const statusOf = data.names.status.map((s) => statuses.indexOf(s));
  const flat = new Uint32Array(nProducers * nConsumers * statusCount);
  const producers = new Uint8Array(nProducers);
  const consumers = new Uint8Array(nConsumers);
  const { producer, consumer, status } = data.dense;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const p = producer[row];
    const c = consumer[row];
    producers[p] = consumers[c] = 1;
    flat[(p * nConsumers + c) * statusCount + statusOf[status[row]]]++;
  }
  const at = (p, c) => flat.subarray((p * nConsumers + c) * statusCount, (p * nConsumers + c + 1) * statusCount);
  return { at, producers, consumers };
}

function cellOf(tag, text, title) {
  const cell = document.createElement(tag);
  cell.textContent = text;
  if (title) cell.title = title;
  return cell;
}
