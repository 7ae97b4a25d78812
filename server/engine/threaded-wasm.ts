/**
 * tfjs-backend-wasm's threaded SIMD build (XNNPACK with a pthreadpool) started in Node and
 * registered as the 'wasm' backend.
 *
 * tfjs's own init() cannot start it in Node: it hands emscripten blob URLs for the pthread worker
 * script and the main script, which Node's Worker refuses (ERR_WORKER_PATH). Here the glue is
 * loaded directly and given real file paths: the worker script (shipped as a JS string, written
 * once to a content-addressed temp .cjs file, '\n' escaped as tfjs does for its blob) and the glue
 * file itself as `mainScriptUrlOrBlob` (the worker evaluates it with importScripts = fs + eval).
 * The pool's threads run forever (pthreadpool workers); emscripten refs a worker while it runs a
 * pthread, so they are unref'd here or no process using bnlab would ever exit by itself.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);
const PACKAGE = '@tensorflow/tfjs-backend-wasm';
/** tfjs-backend-wasm registers 'wasm' with this priority; we keep it. */
const WASM_PRIORITY = 2;
const INIT_TIMEOUT_MS = 30_000;

/**
 * Whether wasm uses the threaded build when BNLAB_WASM_THREADS is unset. Measured on 2 cores
 * (profile-step.ts, wall ms/image, threaded vs single): MobileNet v1 α0.25@224 b16 full ≈17 vs ≈20,
 * train-bn ≈12 vs ≈13.5; α1.0@224 b32 full 125 vs 163, train-bn 67 vs 106, inference 27 vs 46.
 */
export const THREADED_BY_DEFAULT = true;

/**
 * Threads for XNNPACK's pool: env BNLAB_WASM_THREADS when set (1 = single-threaded build),
 * else (THREADED_BY_DEFAULT) the number of logical cores capped at 4, or 1.
 */
export function wasmThreadCount(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BNLAB_WASM_THREADS;
  if (raw != null && raw.trim() !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`BNLAB_WASM_THREADS must be a positive integer, got '${raw}'`);
    return n;
  }
  return THREADED_BY_DEFAULT ? Math.max(1, Math.min(4, cpus().length)) : 1;
}

interface NodeWorker { unref(): void; terminate(): unknown }
interface EmscriptenThreadedModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => unknown;
  PThread: { unusedWorkers: NodeWorker[]; runningWorkers: NodeWorker[]; terminateAllThreads(): void };
  wasmMemory: WebAssembly.Memory;
  tfjs?: Record<string, unknown>;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenThreadedModule>;

/** Writes the pthread worker script once per content to the temp dir; returns its path. */
function workerScriptPath(): string {
  const { wasmWorkerContents } = require(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`) as { wasmWorkerContents: string };
  // The string holds real newlines where the source had "\n" escapes inside string literals.
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const path = join(tmpdir(), `bnlab-tfjs-wasm-worker-${hash}.cjs`);
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}.tmp`;
    writeFileSync(partial, text);
    renameSync(partial, path); // atomic: concurrent processes never see a half-written script
  }
  return path;
}

/** Lets the process exit while XNNPACK's pool threads idle (they would otherwise keep it alive). */
function unrefWorkers(module: EmscriptenThreadedModule): void {
  for (const worker of [...module.PThread.unusedWorkers, ...module.PThread.runningWorkers]) worker.unref();
}

/**
 * Runs `f` while os.cpus() reports `count` cores. tfjs's init_with_threads_count caps the pool at
 * half of emscripten_num_logical_cores() (os.cpus().length in Node, read while the module starts;
 * it assumes two hyperthreads per core), so on a 2-core machine a requested 2 silently becomes 1.
 * Only the length is inflated (entries repeat real cores), and only while the module loads.
 */
async function withLogicalCores<T>(count: number, f: () => Promise<T>): Promise<T> {
  const os = require('node:os') as { cpus: () => ReturnType<typeof cpus> };
  const real = os.cpus;
  os.cpus = () => {
    const actual = real();
    return Array.from({ length: count }, (_, i) => actual[i % actual.length]);
  };
  try {
    return await f();
  } finally {
    os.cpus = real;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const POOL_SIZE_SOURCE = 'var pthreadPoolSize=8;';

/**
 * The emscripten glue's factory, with its pre-started worker pool cut from 8 to `workers` when the
 * source has the expected line (each idle worker costs ~17 MiB RSS and a wasm instantiation at
 * start). XNNPACK's pool of n threads uses n − 1 workers; the pool must hold them all, because a
 * worker created on demand loads asynchronously while pthreadpool_create blocks the main thread.
 * Workers still evaluate the unmodified file (pool size only matters on the main thread).
 */
function loadGlue(gluePath: string, workers: number): Factory {
  const source = readFileSync(gluePath, 'utf8');
  if (source.split(POOL_SIZE_SOURCE).length !== 2) return require(gluePath) as Factory;
  const patched = source.replace(POOL_SIZE_SOURCE, `var pthreadPoolSize=${Math.max(1, workers)};`);
  const module = { exports: {} as unknown };
  new Function('module', 'exports', 'require', '__filename', '__dirname', patched)(
    module, module.exports, require, gluePath, dirname(gluePath),
  );
  return module.exports as Factory;
}

/** Loads the threaded SIMD module (its pthread workers included) without tfjs's blob URLs. */
async function loadThreadedModule(workers: number): Promise<EmscriptenThreadedModule> {
  const gluePath = require.resolve(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.js`);
  const wasmPath = require.resolve(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.wasm`);
  const factory = loadGlue(gluePath, workers);
  const workerPath = workerScriptPath();
  let aborted: ((reason: Error) => void) | undefined;
  const abort = new Promise<never>((_, reject) => (aborted = reject));
  const module = await withTimeout(
    Promise.race([
      factory({
        locateFile: (path: string, prefix: string) =>
          path.endsWith('.worker.js') ? workerPath : path.endsWith('.wasm') ? wasmPath : prefix + path,
        mainScriptUrlOrBlob: gluePath,
        onAbort: (what: unknown) => aborted?.(new Error(`emscripten aborted: ${String(what)}`)),
      }),
      abort,
    ]),
    INIT_TIMEOUT_MS,
    'loading the threaded wasm module',
  );
  if (!(module.wasmMemory?.buffer instanceof SharedArrayBuffer)) {
    module.PThread?.terminateAllThreads();
    throw new Error('the threaded wasm module did not get a shared memory');
  }
  // The same bridge tfjs's init() attaches (backend_wasm.ts).
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}

let started: Promise<number> | null = null;

/**
 * Starts the threaded SIMD build with `threads` XNNPACK threads and registers it as the 'wasm'
 * backend (replacing tfjs's single-threaded factory; kernel registrations are per backend name, so
 * bnlab's kernels stay). Resolves to the pool size XNNPACK reports. Throws (leaving the usual
 * single-threaded 'wasm' in place) when the build cannot start or when a 'wasm' backend is already
 * initialised, since replacing it would drop its tensors. Idempotent: later calls return the first result.
 */
export function useThreadedWasm(threads: number): Promise<number> {
  started ??= (async () => {
    if ((tf.engine().registry as Record<string, unknown>).wasm) {
      throw new Error('a single-threaded wasm backend is already initialised');
    }
    const module = await withLogicalCores(2 * threads, () => loadThreadedModule(threads));
    let backend: BackendWasm;
    try {
      setThreadsCount(threads);
      backend = new BackendWasm(module as never); // creates XNNPACK's pthreadpool
    } catch (error) {
      module.PThread.terminateAllThreads();
      throw error;
    } finally {
      unrefWorkers(module);
    }
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => backend, WASM_PRIORITY);
    return (module.tfjs!.getThreadsCount as () => number)();
  })();
  return started;
}
