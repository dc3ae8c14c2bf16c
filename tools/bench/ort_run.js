// ort_run.js — times ONNX Runtime (CPU) on one ONNX model, for tools/bench_compare.sh.
//
//   node ort_run.js MODEL.onnx WxH THREADS RUNS [WARMUP] [INPUT.f32 [OUTPUT.f32]]
//
// Session: intra_op THREADS, inter_op 1, sequential, all graph optimizations.
// Input: raw float32 1x3xHxW from INPUT.f32, else a fixed pattern. Writes the
// output of the last run to OUTPUT.f32 when given. Prints one line:
//   ort median_ms=… min_ms=… cpu_ms=… runs=… maxrss_kb=…   (cpu_ms: mean CPU time per run)
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, size, threadsArg, runsArg, warmupArg, inPath, outPath] = process.argv.slice(2);
  const m = /^(\d+)x(\d+)$/.exec(size || '');
  const threads = Number(threadsArg), runs = Number(runsArg), warmup = Number(warmupArg || 1);
  if (!model || !m || !(threads >= 1) || !(runs >= 1) || !(warmup >= 0)) {
    console.error('usage: node ort_run.js MODEL.onnx WxH THREADS RUNS [WARMUP] [INPUT.f32 [OUTPUT.f32]]');
    process.exit(2);
  }
  const w = Number(m[1]), h = Number(m[2]), n = 3 * h * w;
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  let data;
  if (inPath) {
    const buf = fs.readFileSync(inPath);
    if (buf.length !== 4 * n) throw new Error(`${inPath}: ${buf.length} bytes, expected ${4 * n} for 1x3x${h}x${w} float32`);
    data = new Float32Array(buf.buffer, buf.byteOffset, n);
  } else {
    data = Float32Array.from({ length: n }, (_, i) => (i % 251) / 250);
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, h, w]) };
  const times = [];
  let out, cpu = 0;
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    out = await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6, c = process.cpuUsage(c0);
    if (i >= warmup) {
      times.push(ms);
      cpu += (c.user + c.system) / 1e3;
    }
  }
  if (outPath) {
    const y = out[session.outputNames[0]].data;
    fs.writeFileSync(outPath, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  }
  times.sort((a, b) => a - b);
  console.log(`ort median_ms=${times[runs >> 1].toFixed(2)} min_ms=${times[0].toFixed(2)} ` +
              `cpu_ms=${(cpu / runs).toFixed(2)} runs=${runs} ` +
              `maxrss_kb=${process.resourceUsage().maxRSS}`);
}

main().catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });
