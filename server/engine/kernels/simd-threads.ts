/**
 * Helper threads for bnlab's SIMD kernels. The threaded wasm backend's heap is a shared
 * WebAssembly.Memory, so a worker_thread can instantiate the same kernel module on it and work on
 * the same tensors in place. A kernel call is split by its caller (simd-split.ts) into parts over
 * disjoint outputs; `run` hands parts 1… to the helpers, runs part 0 on the calling thread and
 * waits. Calls stay synchronous (tfjs kernels are), so hand-off is by Atomics on a small shared
 * control block, not by messages: one slot per helper of
 *   [SEQ (bumped by the caller per call), DONE (= SEQ when the helper finished), STATUS
 *    (-1 starting, 0 ok, 1 the kernel threw), OP (index into the kernel names, −1 = exit), ARGC, args…].
 * Until every helper has reported ready, calls run on the calling thread alone (same results:
 * each part computes its outputs with the same operations whichever thread runs it).
 */
import { Worker } from 'node:worker_threads';

/** Offsets in a helper's control slot (simd-worker.mjs gets them in its workerData). */
const SLOT = { SEQ: 0, DONE: 1, STATUS: 2, OP: 3, ARGC: 4, ARGS: 5 } as const;
const { SEQ, DONE, STATUS, OP, ARGC, ARGS } = SLOT;
const SLOT_INTS = 32;
/** The caller polls this many times for its helpers before sleeping on the futex (parts are about equal). */
const CALLER_SPIN_ITERATIONS = 2000;
/** A helper that has not finished a part after this long is taken to be dead. */
const HELPER_TIMEOUT_MS = 60_000;

export interface KernelCall {
  name: string;
  args: number[];
}

type Kernel = (...args: number[]) => void;

export class SimdThreads {
  private readonly control: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly opIndex: Map<string, number>;
  private ready = false;
  /** Parts run on helper threads so far (tests and profilers check that work was shared). */
  handedOff = 0;

  /**
   * Starts `helpers` worker threads on `memory` (must be shared). They are unref'd: an idle pool
   * never keeps the process alive.
   */
  constructor(
    private readonly kernels: Record<string, Kernel>,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    helpers: number,
  ) {
    const names = Object.keys(kernels);
    this.opIndex = new Map(names.map((name, i) => [name, i]));
    this.control = new Int32Array(new SharedArrayBuffer(helpers * SLOT_INTS * 4));
    for (let slot = 0; slot < helpers; slot++) {
      this.control[slot * SLOT_INTS + STATUS] = -1;
      const worker = new Worker(new URL('./simd-worker.mjs', import.meta.url), {
        workerData: { module, memory, control: this.control.buffer, slot, slotInts: SLOT_INTS, layout: SLOT, names },
        // The helper only runs wasm on the shared heap: no inherited loaders, small heap.
        execArgv: [],
        resourceLimits: { maxOldGenerationSizeMb: 16 },
      });
      worker.unref();
      worker.on('error', (error) => {
        console.warn(`bnlab: SIMD kernel thread failed (${error.message}); kernels run on one thread`);
        this.ready = false;
        this.workers.length = 0;
      });
      this.workers.push(worker);
    }
  }

  /** Threads a call may be split over: the caller plus every helper (1 until the helpers are ready). */
  get parallelism(): number {
    return this.isReady() ? this.workers.length + 1 : 1;
  }

  private isReady(): boolean {
    if (this.ready || this.workers.length === 0) return this.ready;
    for (let slot = 0; slot < this.workers.length; slot++) {
      if (Atomics.load(this.control, slot * SLOT_INTS + STATUS) !== 0) return false;
    }
    this.ready = true;
    return true;
  }

  /** Runs every call to completion: calls[1…] on helpers (when ready), calls[0] here. */
  run(calls: KernelCall[]): void {
    if (calls.length === 0) return;
    if (calls.length - 1 > this.workers.length || !this.isReady()) {
      for (const call of calls) this.kernels[call.name](...call.args);
      return;
    }
    const posted: { base: number; seq: number }[] = [];
    for (let i = 1; i < calls.length; i++) {
      const base = (i - 1) * SLOT_INTS;
      const { name, args } = calls[i];
      if (args.length > SLOT_INTS - ARGS) throw new Error(`bnlab SIMD threads: ${name} has too many arguments`);
      this.control[base + OP] = this.opIndex.get(name)!;
      this.control[base + ARGC] = args.length;
      for (let a = 0; a < args.length; a++) this.control[base + ARGS + a] = args[a];
      const seq = (this.control[base + SEQ] + 1) | 0;
      Atomics.store(this.control, base + SEQ, seq);
      Atomics.notify(this.control, base + SEQ);
      posted.push({ base, seq });
    }
    this.handedOff += posted.length;
    this.kernels[calls[0].name](...calls[0].args);
    for (const { base, seq } of posted) this.waitFor(base, seq, calls);
  }

  private waitFor(base: number, seq: number, calls: KernelCall[]): void {
    for (let spin = 0; spin < CALLER_SPIN_ITERATIONS; spin++) {
      if (Atomics.load(this.control, base + DONE) === seq) return this.checkStatus(base, calls);
    }
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(this.control, base + DONE);
      if (done === seq) return this.checkStatus(base, calls);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`bnlab SIMD threads: a helper did not finish ${calls[0].name} within ${HELPER_TIMEOUT_MS} ms`);
      Atomics.wait(this.control, base + DONE, done, left);
    }
  }

  private checkStatus(base: number, calls: KernelCall[]): void {
    if (Atomics.load(this.control, base + STATUS) !== 0) {
      throw new Error(`bnlab SIMD threads: ${calls[0].name} failed on a helper thread`);
    }
  }

  /** Stops the helpers (tests; the process otherwise just exits around them). */
  async close(): Promise<void> {
    for (let slot = 0; slot < this.workers.length; slot++) {
      const base = slot * SLOT_INTS;
      this.control[base + OP] = -1;
      Atomics.store(this.control, base + SEQ, (this.control[base + SEQ] + 1) | 0);
      Atomics.notify(this.control, base + SEQ);
    }
    await Promise.all(this.workers.map((worker) => worker.terminate()));
    this.workers.length = 0;
    this.ready = false;
  }
}
