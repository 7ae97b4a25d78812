import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as wasmPkg from '@tensorflow/tfjs-backend-wasm';
const require = createRequire(import.meta.url);
const gluePath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
const factory = require(gluePath);
const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
const workerPath = path.join(os.tmpdir(), 'bnlab-tfjs-pthread-worker.cjs');
writeFileSync(workerPath, wasmWorkerContents.replace(/\n/g, '\\n'));
const wasmFile = path.join(path.dirname(gluePath), 'tfjs-backend-wasm-threaded-simd.wasm');
const realCpus = os.cpus; (os as any).cpus = () => { const c = realCpus(); return process.env.FAKE ? [...c, ...c, ...c, ...c] : c; };
const threads = Number(process.env.T ?? 2);
tf.removeBackend('wasm');
tf.registerBackend('wasm', async () => {
  const module = await factory({
    locateFile: (p: string) => (p.endsWith('.worker.js') ? workerPath : p.endsWith('.wasm') ? wasmFile : p),
    mainScriptUrlOrBlob: gluePath,
  });
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  (globalThis as any).__mod = module; module.tfjs.initWithThreadsCount(threads); console.log('direct tc', module.tfjs.getThreadsCount(), 'running', module.PThread.runningWorkers.length);
  wasmPkg.setThreadsCount(threads);
  return new (wasmPkg as any).BackendWasm(module);
}, 2);
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
console.log(await tf.setBackend('wasm'), wasmPkg.getThreadsCount());
const a = tf.randomNormal([1024, 1024]);
for (let i = 0; i < 5; i++) {
  const t = performance.now(); const c0 = process.cpuUsage();
  const c = tf.matMul(a, a); await c.data(); c.dispose();
  const u = process.cpuUsage(c0);
  console.log('matmul 1024', (performance.now() - t).toFixed(1), 'ms wall', ((u.user + u.system) / 1000).toFixed(1), 'ms cpu');
}
const x = tf.randomNormal([16, 112, 112, 16]); const w = tf.randomNormal([1, 1, 16, 32]);
for (let i = 0; i < 3; i++) { const t = performance.now(); const y = tf.conv2d(x as any, w as any, 1, 'same'); await y.data(); y.dispose(); console.log('conv pw', (performance.now() - t).toFixed(1)); }
