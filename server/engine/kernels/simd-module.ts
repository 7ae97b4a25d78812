/**
 * bnlab's SIMD wasm module (simd/conv.c, built by simd/build.sh) instantiated on the tfjs wasm
 * backend's own memory, so its loops read and write tensors in place. Pointers are heap byte offsets.
 * Returns null (callers use their typed-array loops) when the module cannot be instantiated or when
 * disabled with BNLAB_WASM_SIMD=0 or `simdOptions.enabled = false`.
 */
import { readFileSync } from 'node:fs';
import type { WasmBackendInternals } from './wasm-heap.ts';

type ConvArgs = [
  batch: number, inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number,
  filterHeight: number, filterWidth: number, strideHeight: number, strideWidth: number, top: number, left: number,
];

export interface ConvSimd {
  /** acc (float64, [KH, KW, C], caller-zeroed) += Σ x ⊙ dy over all taps; multiplier 1. */
  depthwise_filter_grad(x: number, dy: number, acc: number, ...geometry: ConvArgs): void;
  /** dx (float32, NHWC) = depthwise input gradient of dy with filter w [KH, KW, C, 1]. */
  depthwise_input_grad(dy: number, w: number, dx: number, ...geometry: ConvArgs): void;
  /** cols (float32 [rows, KH·KW·C]) = im2col of images [b0, b1) of x (zeros for padding). */
  im2col(x: number, cols: number, b0: number, b1: number, ...geometry: Im2colArgs): void;
  /** acc (float64 [C], caller-zeroed) += column sums of x [rows, C]. */
  column_sums(x: number, acc: number, rows: number, channels: number): void;
  /** out = full ∘ v (or v ∘ full) with v [C] broadcast along the last axis (C = 1: a scalar). */
  binary_broadcast(op: number, full: number, vec: number, out: number, rows: number, channels: number, vecFirst: number): void;
  /** out [rows, C] = (x − mean) ⊙ a + offset, per channel vectors of length C. */
  batch_norm_apply(x: number, mean: number, a: number, offset: number, out: number, rows: number, channels: number): void;
  /** acc (float64 [C], caller-zeroed) += Σ_r (x[r, c] − mean[c])² for x [rows, C]. */
  column_centred_squares(x: number, mean: number, acc: number, rows: number, channels: number): void;
  /** sumDy[c] += Σ_r dy[r, c]; sumDyCentred[c] += Σ_r dy[r, c]·(x[r, c] − mean[c]) (float64, caller-zeroed). */
  batch_norm_grad_sums(dy: number, x: number, mean: number, sumDy: number, sumDyCentred: number, rows: number, channels: number): void;
  /** dx[r, c] = kDy[c]·dy[r, c] + kX[c]·(x[r, c] − mean[c]) + k1[c]. */
  batch_norm_grad_apply(dy: number, x: number, mean: number, kDy: number, kX: number, k1: number, dx: number, rows: number, channels: number): void;
  /** acc (float64 [Ci, Co], caller-zeroed) += xᵀ · dy for x [rows, Ci], dy [rows, Co]. */
  pointwise_filter_grad(x: number, dy: number, acc: number, rows: number, inChannels: number, outChannels: number): void;
  /** dx[i] = dy[i] where 0 < y[i] < 6, else 0. */
  relu6_grad_from_output(dy: number, y: number, dx: number, count: number): void;
  /** dx (float32 NHWC, images [b0, b1) caller-zeroed) += col2im of cols [rows, KH·KW·C] (adjoint of im2col). */
  col2im(cols: number, dx: number, b0: number, b1: number, ...geometry: Im2colArgs): void;
}

type Im2colArgs = [
  inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number,
  filterHeight: number, filterWidth: number, strideHeight: number, strideWidth: number, top: number, left: number,
];

export const simdOptions = { enabled: process.env.BNLAB_WASM_SIMD !== '0' };

const instances = new WeakMap<WebAssembly.Memory, ConvSimd | null>();
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
    if (module) kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ConvSimd;
  } catch (error) {
    compiled.set(kind, null);
    console.warn(`bnlab: SIMD training kernels unavailable (${(error as Error).message}); using JS loops`);
  }
  instances.set(memory, kernels);
  return kernels;
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
