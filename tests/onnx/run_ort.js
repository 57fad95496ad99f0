// tests/onnx/run_ort.js MODEL OUT_PREFIX INPUT... — runs an ONNX model in ONNX Runtime
// (onnxruntime-node from tests/onnx/node_modules). Each INPUT is FILE:TYPE:DIMS — the raw
// little-endian values of the model's next input, TYPE float32 or int32, DIMS its shape
// ("2,3,8,8"). Every output k, in the model's order, is written as float32 values to
// OUT_PREFIX.k. Exit 3 when onnxruntime-node is not installed (the test skips then).
'use strict';
const fs = require('fs');
let ort;
try {
    ort = require('./node_modules/onnxruntime-node');
} catch (e) {
    process.stderr.write('onnxruntime-node is not installed: ' + e.message + '\n');
    process.exit(3);
}
const [model, prefix, ...inputs] = process.argv.slice(2);
(async () => {
    const session = await ort.InferenceSession.create(model);
    if (inputs.length !== session.inputNames.length)
        throw new Error('the model takes ' + session.inputNames.length + ' inputs; ' +
                        inputs.length + ' given');
    const feeds = {};
    inputs.forEach((spec, i) => {
        const [file, type, dims] = spec.split(':');
        const buf = fs.readFileSync(file);
        const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
        const data = type === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
        feeds[session.inputNames[i]] = new ort.Tensor(type, data, dims.split(',').map(Number));
    });
    const out = await session.run(feeds);
    session.outputNames.forEach((name, k) => {
        const y = out[name].data;
        fs.writeFileSync(prefix + '.' + k, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    });
})().catch((e) => {
    process.stderr.write(String(e && e.message ? e.message : e) + '\n');
    process.exit(1);
});
