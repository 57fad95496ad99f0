// tests/onnx/run_ort.js MODEL INPUT.bin DIMS OUTPUT.bin — runs an ONNX model in ONNX Runtime
// (onnxruntime-node from tests/onnx/node_modules) on one float32 input read from INPUT.bin
// (little-endian, shape DIMS "2,3,8,8") and writes its first output's float32 values to
// OUTPUT.bin. Exit 3 when onnxruntime-node is not installed (the test skips then).
'use strict';
const fs = require('fs');
let ort;
try {
    ort = require('./node_modules/onnxruntime-node');
} catch (e) {
    process.stderr.write('onnxruntime-node is not installed: ' + e.message + '\n');
    process.exit(3);
}
const [model, input, dims, output] = process.argv.slice(2);
(async () => {
    const session = await ort.InferenceSession.create(model);
    const buf = fs.readFileSync(input);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    const feeds = {};
    feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims.split(',').map(Number));
    const out = await session.run(feeds);
    const y = out[session.outputNames[0]].data;
    fs.writeFileSync(output, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
})().catch((e) => {
    process.stderr.write(String(e && e.message ? e.message : e) + '\n');
    process.exit(1);
});
