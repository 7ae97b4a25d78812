// One helper thread of bnlab's SIMD kernels (simd-threads.ts): instantiates conv-shared.wasm on the
// threaded wasm backend's shared heap and runs the calls the main thread writes into its control slot.
// Plain JavaScript, so it starts without a TypeScript loader. The slot layout comes from simd-threads.ts.
import { workerData } from 'node:worker_threads';

const { module, memory, control, slot, slotInts, layout, names } = workerData;
const { SEQ, DONE, STATUS, OP, ARGC, ARGS } = layout;
const ctl = new Int32Array(control, slot * slotInts * 4, slotInts);
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const kernels = names.map((name) => exports[name]);

let seen = 0;
Atomics.store(ctl, STATUS, 0); // ready
for (;;) {
  // Sleep on the futex between calls (no spinning: the other core may be running XNNPACK's pool).
  const seq = Atomics.load(ctl, SEQ);
  if (seq === seen) {
    Atomics.wait(ctl, SEQ, seen);
    continue;
  }
  seen = seq;
  const op = ctl[OP];
  if (op < 0) break; // shutdown
  try {
    kernels[op](...ctl.subarray(ARGS, ARGS + ctl[ARGC]));
    Atomics.store(ctl, STATUS, 0);
  } catch {
    Atomics.store(ctl, STATUS, 1);
  }
  Atomics.store(ctl, DONE, seq);
  Atomics.notify(ctl, DONE);
}
