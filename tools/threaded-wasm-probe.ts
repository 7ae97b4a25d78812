/**
 * Child-process probe for threaded-wasm.test.ts (the backend is process-global state, and the
 * test must see the process exit by itself): selects the wasm backend with the current env,
 * trains one gradient of a small depthwise + pointwise + 3×3 conv net on wasm and on cpu, and
 * prints one JSON line: backend, XNNPACK threads, whether the heap is shared, whether bnlab's SIMD
 * kernels instantiated on it, and the largest relative gradient difference wasm vs cpu.
 * `--preinit-single` first starts tfjs's own (single-threaded) wasm backend, which the threaded
 * one must then refuse to replace (a fallback path).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../server/engine/backend.ts';
import { backendMemory, convSimd } from '../server/engine/kernels/simd-module.ts';
import { asWasmBackend } from '../server/engine/kernels/wasm-heap.ts';

function gradients(values: { x: Float32Array; dw: Float32Array; pw: Float32Array; w3: Float32Array }): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(values.x, [2, 9, 9, 4]);
    const dw = tf.tensor4d(values.dw, [3, 3, 4, 1]);
    const pw = tf.tensor4d(values.pw, [1, 1, 4, 6]);
    const w3 = tf.tensor4d(values.w3, [3, 3, 6, 5]);
    const loss = (xs: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D) => {
      const d = tf.depthwiseConv2d(xs, a, 2, 'same');
      const p = tf.relu(tf.conv2d(d, b, 1, 'valid'));
      return tf.sum(tf.square(tf.conv2d(p, c, 1, 'same')));
    };
    const grads = tf.grads(loss as never)([x, dw, pw, w3]) as tf.Tensor[];
    return grads.map((g) => g.dataSync() as Float32Array);
  });
}

const random = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * seed) * 0.5);
const values = { x: random(2 * 9 * 9 * 4, 1.3), dw: random(36, 2.1), pw: random(24, 3.7), w3: random(270, 0.9) };

if (process.argv.includes('--preinit-single')) await tf.setBackend('wasm');
const backend = await selectBackend('wasm');
await selectBackend('wasm'); // a second selection must not warn again
const wasm = asWasmBackend(tf.backend());
const memory = backendMemory(wasm);
const simdKernels = convSimd(wasm) !== null;
const onWasm = gradients(values);
await tf.setBackend('cpu');
const onCpu = gradients(values);
let maxRelative = 0;
onWasm.forEach((g, k) => {
  const scale = Math.max(...onCpu[k].map(Math.abs));
  g.forEach((v, i) => (maxRelative = Math.max(maxRelative, Math.abs(v - onCpu[k][i]) / scale)));
});
console.log(JSON.stringify({
  backend, threads: getThreadsCount(), sharedMemory: memory?.buffer instanceof SharedArrayBuffer, simdKernels, maxRelative,
}));
