/**
 * bnlab's SIMD wasm module (simd/conv.c, built by simd/build.sh) instantiated on the tfjs wasm
 * backend's own memory, so its loops read and write tensors in place. Pointers are heap byte offsets.
 * Returns null (callers use their typed-array loops) when the module cannot be instantiated or when
 * disabled with BNLAB_WASM_SIMD=0 or `simdOptions.enabled = false`.
 * On the threaded backend (shared heap) the kernels also run on helper threads (simd-threads.ts):
 * `splitOptions.threads` in all (simd-split.ts). Results are the same for every count.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { splitKernels, splitOptions, type ConvArgs, type ConvSimd, type SimdExports } from './simd-split.ts';
import { SimdThreads } from './simd-threads.ts';
import { asWasmBackend, type WasmBackendInternals } from './wasm-heap.ts';

export type { ConvSimd } from './simd-split.ts';

export const simdOptions = { enabled: process.env.BNLAB_WASM_SIMD !== '0' };

const instances = new WeakMap<WebAssembly.Memory, ConvSimd | null>();
const pools = new WeakMap<WebAssembly.Memory, SimdThreads>();
/** Compiled modules by memory kind: a module declares a plain or a shared memory import, not both. */
const compiled = new Map<'plain' | 'shared', WebAssembly.Module | null>();

/**
 * The backend's heap: exported by the single-threaded build (`asm.memory`); created in JS and
 * imported by the threaded build (emscripten keeps it as `wasmMemory`, SharedArrayBuffer-backed).
 */
export function backendMemory(backend: WasmBackendInternals): WebAssembly.Memory | null {
  const memory = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

export function convSimd(backend: WasmBackendInternals): ConvSimd | null {
  if (!simdOptions.enabled) return null;
  const memory = backendMemory(backend);
  if (!memory) return null;
  if (instances.has(memory)) return instances.get(memory)!;
  const kind = memory.buffer instanceof SharedArrayBuffer ? 'shared' : 'plain';
  let kernels: ConvSimd | null = null;
  try {
    let module = compiled.get(kind);
    if (module === undefined) {
      const file = kind === 'shared' ? './simd/conv-shared.wasm' : './simd/conv.wasm';
      module = new WebAssembly.Module(readFileSync(new URL(file, import.meta.url)));
      compiled.set(kind, module);
    }
    if (module) {
      const raw = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdExports;
      const helpers = kind === 'shared' ? splitOptions.threads - 1 : 0;
      const pool = helpers > 0 ? new SimdThreads(raw, module, memory, helpers) : null;
      if (pool) pools.set(memory, pool);
      kernels = splitKernels(raw, pool);
    }
  } catch (error) {
    compiled.set(kind, null);
    console.warn(`bnlab: SIMD training kernels unavailable (${(error as Error).message}); using JS loops`);
  }
  instances.set(memory, kernels);
  return kernels;
}

/** True when the active backend is wasm with these bnlab kernels registered and the SIMD module loaded. */
export function simdKernelsUsable(...kernelNames: string[]): boolean {
  if (tf.getBackend() !== 'wasm' || kernelNames.some((name) => !tf.getKernel(name, 'wasm'))) return false;
  return convSimd(asWasmBackend(tf.backend())) !== null;
}

/** The helper threads of a backend's kernels (null: none, e.g. the single-threaded backend). */
export function simdThreadsOf(backend: WasmBackendInternals): SimdThreads | null {
  const memory = backendMemory(backend);
  return (memory && pools.get(memory)) ?? null;
}

/** Geometry arguments in the order the C kernels take them. */
export function convArgs(g: {
  batchSize: number; inHeight: number; inWidth: number; inChannels: number; outHeight: number; outWidth: number;
  filterHeight: number; filterWidth: number; strideHeight: number; strideWidth: number;
  padInfo: { top: number; left: number };
}): ConvArgs {
  return [
    g.batchSize, g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth,
    g.filterHeight, g.filterWidth, g.strideHeight, g.strideWidth, g.padInfo.top, g.padInfo.left,
  ];
}
