/**
 * Direct access to the tfjs wasm backend's heap for bnlab's gradient kernels.
 *
 * Every float32 tensor on the wasm backend lives in one WebAssembly.Memory at
 * `dataIdMap.get(dataId).memoryOffset`. Kernels here read inputs and write outputs there in place
 * (no dataSync, no copies) and call the backend's own compiled kernels (XNNPACK matMul, transpose)
 * for the heavy linear algebra. The heap can grow on any allocation, which detaches old views:
 * take views only after the last allocation of a step.
 */
import * as tf from '@tensorflow/tfjs';

type DataId = object;

/** The parts of tfjs-backend-wasm's BackendWasm that these kernels rely on (4.22). */
export interface WasmBackendInternals {
  wasm: {
    HEAPF32: Float32Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    asm?: { memory?: WebAssembly.Memory };
    /** the threaded build's (shared) heap; absent from the single-threaded build */
    wasmMemory?: WebAssembly.Memory;
  };
  dataIdMap: { get(dataId: DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

export function asWasmBackend(backend: unknown): WasmBackendInternals {
  const candidate = backend as Partial<WasmBackendInternals>;
  if (!candidate?.wasm?.HEAPF32 || !candidate.dataIdMap || !candidate.makeOutput) {
    throw new Error('bnlab wasm kernels: expected the tfjs wasm backend (BackendWasm) as backend');
  }
  return candidate as WasmBackendInternals;
}

/** A Float32Array over a tensor's bytes in the wasm heap (valid until the next allocation). */
export function heapF32(backend: WasmBackendInternals, info: tf.TensorInfo): Float32Array {
  if (info.dtype !== 'float32') {
    throw new Error(`bnlab wasm kernels: float32 tensors only, got ${info.dtype}`);
  }
  const entry = backend.dataIdMap.get(info.dataId);
  if (!entry) throw new Error('bnlab wasm kernels: tensor data is not on the wasm backend');
  const size = tf.util.sizeFromShape(info.shape);
  return new Float32Array(backend.wasm.HEAPF32.buffer, entry.memoryOffset, size);
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapOffset(backend: WasmBackendInternals, info: tf.TensorInfo): number {
  const entry = backend.dataIdMap.get(info.dataId);
  if (!entry) throw new Error('bnlab wasm kernels: tensor data is not on the wasm backend');
  return entry.memoryOffset;
}

/** The same data seen with another shape of equal size (what the Reshape kernel does, no copy). */
export function reshaped(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  if (tf.util.sizeFromShape(shape) !== tf.util.sizeFromShape(info.shape)) {
    throw new Error(`bnlab wasm kernels: cannot view [${info.shape}] as [${shape}]`);
  }
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Runs one of the wasm backend's own kernels synchronously; the caller owns the result. */
export function runWasmKernel(
  backend: WasmBackendInternals,
  kernelName: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`bnlab wasm kernels: the wasm backend has no ${kernelName} kernel`);
  const out = kernel.kernelFunc({ inputs, backend: backend as never, attrs: attrs as never });
  if (Array.isArray(out)) throw new Error(`bnlab wasm kernels: ${kernelName} returned several outputs`);
  return out;
}

/** `a · b` for 2-D row-major a [m, k], b [k, n] via the backend's XNNPACK matMul (fast path). */
export function matMul(backend: WasmBackendInternals, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  return runWasmKernel(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

/** 2-D transpose [r, c] -> [c, r] with the backend's compiled Transpose kernel. */
export function transpose2d(backend: WasmBackendInternals, x: tf.TensorInfo): tf.TensorInfo {
  return runWasmKernel(backend, 'Transpose', { x }, { perm: [1, 0] });
}

export function release(backend: WasmBackendInternals, info: tf.TensorInfo): void {
  backend.disposeData(info.dataId);
}
