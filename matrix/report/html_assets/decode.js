"use strict";
// The embedded compat.json: base64 of its gzip, in the columnar layout that
// matrix/report/jsonfile.py writes (schema 3 and 4). CompatData mirrors
// jsonfile.loads, but lazily: names stay indexes in typed arrays (what the
// filters compare), and a text is joined from its pieces only when shown.

async function inflateEmbedded(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`compat.html: expected an element #${id}, found none`);
  const bytes = base64Bytes(element.textContent);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
}

function base64Bytes(text) {
  const clean = text.replace(/\s+/g, "");
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(clean);
  const binary = atob(clean);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// The smallest typed array that holds every index into `size` names.
function indexArray(values, size) {
  const Type = size <= 0x100 ? Uint8Array : size <= 0x10000 ? Uint16Array : Uint32Array;
  return Type.from(values);
}

// A sparse column as `where[row]`: the index of the row's value, or -1.
function sparseColumn(key, column, count) {
  if (column.at.length !== column.values.length) {
    throw new Error(`compat data: sparse column ${key}: expected as many gaps as values, ` +
      `received ${column.at.length} gaps and ${column.values.length} values`);
  }
  const where = new Int32Array(count).fill(-1);
  let row = 0;
  for (let k = 0; k < column.at.length; k++) {
    row += column.at[k];
    where[row] = k;
  }
  return { where, values: column.values };
}

class CompatData {
  constructor(data, format) {
    const table = data.cells;
    if (!format.columnar.includes(data.schema_version) || !table || Array.isArray(table)) {
      throw new Error(`compat data: expected schema ${format.columnar.join(" or ")} with ` +
        `cells by columns, received schema ${data.schema_version}`);
    }
    this.format = format;
    this.run = data.run || {};
    this.causes = data.causes || {};
    this.count = table.count;
    this.names = table.names;
    this.partFields = table.part_fields;
    this.dense = {};
    for (const column of format.dense) {
      this.dense[column] = indexArray(table.dense[column], this.names[column].length);
    }
    this.sparse = {};
    for (const [key, column] of Object.entries(table.sparse)) {
      this.sparse[key] = sparseColumn(key, column, this.count);
    }
    this.pieces = data.texts.pieces;
    this.textPieces = data.texts.texts;
    this.joined = new Map();
    this.artifacts = new Map();
    for (const a of data.artifacts || []) this.artifacts.set(artifactKey(a), a);
  }

  name(column, row) {
    return this.names[column][this.dense[column][row]];
  }

  // The value a sparse column stores for a row, undefined where it has none.
  stored(key, row) {
    const column = this.sparse[key];
    if (!column) return undefined;
    const k = column.where[row];
    return k < 0 ? undefined : column.values[k];
  }

  // A text as stored: its `T` or `R` mark, then its pieces joined.
  storedText(index) {
    let text = this.joined.get(index);
    if (text === undefined) {
      text = this.textPieces[index].map((piece) => this.pieces[piece]).join("");
      this.joined.set(index, text);
    }
    return text;
  }

  // jsonfile._text: `T` has this cell's places put back, `R` is as it is.
  text(index, places) {
    const stored = this.storedText(index);
    let value = stored.slice(1);
    if (stored.startsWith("T")) {
      for (const [placeholder, real] of places) value = value.split(placeholder).join(real);
    }
    return value;
  }

  // jsonfile._places: the strings a cell's texts were made portable against,
  // in the order they are put back.
  places(row) {
    const producer = this.name("producer", row);
    const consumer = this.name("consumer", row);
    const places = [["{venv}", "<envdir>/" + removeSuffix(consumer, "-onednn-off")]];
    const artifact = this.artifacts.get(artifactKey({
      producer, model: this.name("model", row), policy: this.name("policy", row),
      format: this.name("format", row),
    }));
    const files = artifact && artifact.files ? Object.keys(artifact.files) : [];
    if (files.length) {
      // Python's min(files, key=len): the first of the shortest names.
      const shortest = files.reduce((best, f) => (f.length < best.length ? f : best));
      const folder = this.format.folders[producer] || `artifacts/${producer}`;
      places.push(["{artifact}", `<output>/${folder}/${shortest.split("/")[0]}`]);
    }
    return places;
  }

  // One field of a cell, as jsonfile.loads gives it (texts in full).
  field(key, row, places) {
    const value = this.stored(key, row);
    if (value === undefined) return this.format.cell_defaults[key];
    if (this.format.text_fields.includes(key) && Number.isInteger(value)) {
      return this.text(value, places || this.places(row));
    }
    if (this.format.named.includes(key) && Number.isInteger(value)) return this.names[key][value];
    if (this.format.part_fields.includes(key) && Array.isArray(value)) {
      return this.part(key, value, places || this.places(row));
    }
    return value;
  }

  // The whole cell, as jsonfile.loads gives it.
  cell(row) {
    const places = this.places(row);
    const cell = { ...this.format.cell_defaults };
    for (const column of this.format.dense) cell[column] = this.name(column, row);
    for (const key of Object.keys(this.sparse)) {
      if (this.sparse[key].where[row] >= 0) cell[key] = this.field(key, row, places);
    }
    return cell;
  }

  // jsonfile._unpart: a measurement stored as a list in `part_fields` order.
  part(part, stored, places) {
    const value = { ...this.format.part_defaults[part] };
    const count = Math.min(stored.length, this.partFields.length);  // trailing nulls left out
    for (let i = 0; i < count; i++) {
      const key = this.partFields[i];
      const found = stored[i];
      if ((key === "status" || key === "error_type") && found !== null) {
        value[key] = this.names[key][found];
      } else if (key === "error" && Number.isInteger(found)) {
        value[key] = this.text(found, places);
      } else if (key in value || found !== null) {
        value[key] = found;
      }
    }
    return value;
  }
}

function artifactKey(a) {
  return [a.producer, a.model, a.policy, a.format].join("\u0000");
}

function removeSuffix(text, suffix) {
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
}
