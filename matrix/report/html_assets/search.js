"use strict";
// Which cells a search and the filters select. A filter is a table of
// allowed name indexes per column; a search word is, per column, a table of
// the names it occurs in, plus the message texts it occurs in. Selecting is
// then one pass over typed arrays: no cell object and no text is made, so it
// stays fast for the 170,820 cells of a full preset.

const SEARCHED = ["model", "producer", "consumer", "format", "loader", "status", "policy"];

class CellIndex {
  constructor(data, labels) {
    this.data = data;
    this.labels = labels;
    this.count = data.count;
    this.messageText = this.sparseIndexes("error");
    this.known = this.sparseIndexes("known");
    this.messages = null;  // lower-case message texts, made at the first search
  }

  // A sparse column whose values are indexes (texts, names), as one per row.
  sparseIndexes(key) {
    const out = new Int32Array(this.count).fill(-1);
    const column = this.data.sparse[key];
    if (!column) return out;
    for (let row = 0; row < this.count; row++) {
      const k = column.where[row];
      if (k >= 0 && Number.isInteger(column.values[k])) out[row] = column.values[k];
    }
    return out;
  }

  // How many cells hold each name of a column.
  counts(column) {
    const found = new Uint32Array(this.data.names[column].length);
    const values = this.data.dense[column];
    for (let row = 0; row < this.count; row++) found[values[row]]++;
    return found;
  }

  // filters: {column: Uint8Array of allowed name indexes, or null for any};
  // query: words that must each occur in one of the searched fields.
  select(filters, query) {
    const tests = Object.entries(filters)
      .filter(([, allowed]) => allowed)
      .map(([column, allowed]) => [this.data.dense[column], allowed]);
    const words = this.words(query);
    const out = new Uint32Array(this.count);
    let n = 0;
    rows: for (let row = 0; row < this.count; row++) {
      for (let t = 0; t < tests.length; t++) if (!tests[t][1][tests[t][0][row]]) continue rows;
      for (let w = 0; w < words.length; w++) if (!this.matches(words[w], row)) continue rows;
      out[n++] = row;
    }
    return out.subarray(0, n);
  }

  matches(word, row) {
    for (let c = 0; c < word.columns.length; c++) {
      if (word.columns[c][1][word.columns[c][0][row]]) return true;
    }
    const text = this.messageText[row];
    if (text >= 0 && word.texts[text]) return true;
    const known = this.known[row];
    return known >= 0 && word.known[known] === 1;
  }

  // Each word as tables of what it occurs in: names per column, message
  // texts, known causes (their id and title).
  words(query) {
    const found = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!found.length) return [];
    const messages = this.messageTexts();
    return found.map((word) => ({
      columns: SEARCHED.map((column) => [this.data.dense[column], this.nameHits(column, word)]),
      texts: textHits(messages, this.data.textPieces.length, word),
      known: (this.data.names.known || []).map((id) => {
        const title = (this.data.causes[id] || {}).title || "";
        return (id + " " + title).toLowerCase().includes(word) ? 1 : 0;
      }),
    }));
  }

  nameHits(column, word) {
    return Uint8Array.from(this.data.names[column], (name) => {
      const label = this.labels[name];
      return name.toLowerCase().includes(word) || (label && label.toLowerCase().includes(word));
    });
  }

  // The message texts, lower case, as stored (with `{artifact}` and `{venv}`
  // where the cell's own paths were): only the few thousand distinct texts
  // the messages use, once.
  messageTexts() {
    if (this.messages === null) {
      this.messages = new Map();
      for (const index of new Set(this.messageText)) {
        if (index >= 0) this.messages.set(index, this.data.storedText(index).slice(1).toLowerCase());
      }
    }
    return this.messages;
  }
}

function textHits(messages, size, word) {
  const hits = new Uint8Array(size);
  for (const [index, text] of messages) if (text.includes(word)) hits[index] = 1;
  return hits;
}
