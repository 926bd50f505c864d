#!/usr/bin/env node
// TensorFlow.js in Node for the consume probe (probes/loading.py starts one
// per probe process and talks to it): the pure-JavaScript CPU backend of
// @tensorflow/tfjs, resolved from the env's own folder (COMPAT_MATRIX_NODE_MODULES,
// installed there by the tool with npm, never globally), models read from
// local files through an IOHandler (tfjs-node's file:// is not used: its
// native binding is another runtime). It runs under the sandbox of the
// Python probe that started it (Landlock and the network namespace are
// inherited by child processes).
//
// One JSON request per line on stdin, one JSON reply per line on stdout:
//   {"op": "load", "path": ".../model.json", "format": "tfjs-layers|tfjs-graph"}
//     -> {"ok": true, "id": N, "inputs": [{"name", "shape", "dtype"}], "tfjs": "4.22.0"}
//   {"op": "predict", "id": N, "inputs": [{"shape", "dtype", "data": [...]}]}
//     -> {"ok": true, "outputs": [{"name", "shape", "dtype", "data": [...]}]}
//   {"op": "release", "id": N} -> {"ok": true}
// A failure is {"ok": false, "error_type", "error"}. Whatever TF.js prints
// goes to stderr, so stdout stays the protocol.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
console.log = console.info = console.warn = console.error;

function fileHandler(modelJson) {
  return {
    load: async () => {
      const folder = path.dirname(modelJson);
      const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
      const specs = [];
      const shards = [];
      for (const group of json.weightsManifest || []) {
        for (const shard of group.paths) shards.push(fs.readFileSync(path.join(folder, shard)));
        specs.push(...group.weights);
      }
      const all = Buffer.concat(shards);
      // One ArrayBuffer: TF.js before 4.6 takes no ArrayBuffer[] here.
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      const artifacts = {modelTopology: json.modelTopology, weightSpecs: specs, weightData,
                         format: json.format, generatedBy: json.generatedBy,
                         convertedBy: json.convertedBy};
      for (const key of ['trainingConfig', 'signature', 'userDefinedMetadata',
                         'modelInitializer', 'initializerSignature']) {
        if (json[key] != null) artifacts[key] = json[key];
      }
      return artifacts;
    },
  };
}

function inputsOf(model) {
  // A layers model's inputs are SymbolicTensors, a graph model's TensorInfos:
  // both have a name, a shape (null for an unknown dimension) and a dtype.
  return (model.inputs || []).map((i) => ({name: i.name, shape: i.shape || null,
                                          dtype: i.dtype || null}));
}

async function main() {
  const tf = require(require.resolve('@tensorflow/tfjs',
                                     {paths: [process.env.COMPAT_MATRIX_NODE_MODULES]}));
  await tf.setBackend('cpu');
  await tf.ready();
  const models = new Map();
  let next = 1;
  const lines = readline.createInterface({input: process.stdin});
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request;
    try {
      request = JSON.parse(line);
    } catch (e) {
      reply({ok: false, error_type: 'ProtocolError', error: String(e.message)});
      continue;
    }
    try {
      if (request.op === 'load') {
        const handler = fileHandler(request.path);
        const model = request.format === 'tfjs-graph' ? await tf.loadGraphModel(handler)
                                                       : await tf.loadLayersModel(handler);
        const id = next++;
        models.set(id, {model, format: request.format});
        reply({ok: true, id, inputs: inputsOf(model), tfjs: tf.version.tfjs,
               backend: tf.getBackend()});
      } else if (request.op === 'predict') {
        const {model, format} = models.get(request.id);
        const tensors = request.inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype));
        try {
          const feed = tensors.length === 1 ? tensors[0] : tensors;
          let found;
          if (format === 'tfjs-graph') {
            try {
              found = model.predict(feed);
            } catch (e) {
              if (!/executeAsync/.test(String(e.message))) throw e;
              found = await model.executeAsync(feed);  // control flow (while loops)
            }
          } else {
            found = model.predict(feed);
          }
          const names = format === 'tfjs-graph' ? (model.outputs || []).map((o) => o.name)
                                                : model.outputNames;
          let list;
          if (found instanceof tf.Tensor) list = [found];
          else if (Array.isArray(found)) list = found;
          else list = Object.keys(found).sort().map((k) => found[k]);
          const outputs = [];
          for (let i = 0; i < list.length; i++) {
            const t = list[i];
            outputs.push({name: (names && names[i]) || String(i), shape: t.shape, dtype: t.dtype,
                          data: Array.from(await t.data())});
            t.dispose();
          }
          reply({ok: true, outputs});
        } finally {
          tensors.forEach((t) => t.dispose());
        }
      } else if (request.op === 'release') {
        const entry = models.get(request.id);
        if (entry && entry.model.dispose) entry.model.dispose();
        models.delete(request.id);
        reply({ok: true});
      } else {
        reply({ok: false, error_type: 'ProtocolError', error: 'unknown op ' + request.op});
      }
    } catch (e) {
      reply({ok: false, error_type: (e && (e.name || e.constructor.name)) || 'Error',
             error: String((e && e.message) || e)});
    }
  }
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(3);
});
