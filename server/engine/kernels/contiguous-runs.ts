/**
 * Slice and constant padding on the tfjs wasm backend as a few long copies. A slice whose trailing
 * axes are whole is a set of contiguous runs of the source (one per index of the leading axes), and
 * padding is the same picture the other way round (x is a slice of the padded output). The
 * backend's own Slice walks element by element there and took ~15 % of a MobileNetV2 train-bn step,
 * in the gradient of its ZeroPadding2D layers (PadV2's gradient slices the padding off dy); its
 * PadV2 forward another ~4 %. Here each run is one `copyWithin` on the heap. Values are copied,
 * so results are the backend's to the bit (contiguous-runs.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend } from './wasm-heap.ts';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Shortest run worth a copy call of its own; shorter runs stay with the backend's kernel. */
const MIN_RUN_ELEMENTS = 32;

interface RunPlan {
  /** element offset of each run in the source, in output order */
  starts: number[];
  length: number;
}

/** The contiguous runs of slice(begin, size) of a row-major `shape`, or null when they are short. */
export function sliceRuns(shape: number[], begin: number[], size: number[]): RunPlan | null {
  const rank = shape.length;
  let axis = rank - 1; // the outermost axis of the contiguous tail
  while (axis > 0 && begin[axis] === 0 && size[axis] === shape[axis]) axis--;
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
  const length = size[axis] * strides[axis];
  if (length < MIN_RUN_ELEMENTS) return null;
  const starts: number[] = [];
  const index = new Array<number>(axis).fill(0);
  const count = size.slice(0, axis).reduce((a, b) => a * b, 1);
  for (let run = 0; run < count; run++) {
    let start = begin[axis] * strides[axis];
    for (let d = 0; d < axis; d++) start += (begin[d] + index[d]) * strides[d];
    starts.push(start);
    for (let d = axis - 1; d >= 0 && ++index[d] === size[d]; d--) index[d] = 0; // odometer
  }
  return { starts, length };
}

export function contiguousSliceConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { begin, size } = (args.attrs ?? {}) as { begin?: number | number[]; size?: number | number[] };
    if ((x.dtype === 'float32' || x.dtype === 'int32') && begin !== undefined && size !== undefined && x.shape.length > 0) {
      const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
      const plan = s.every((v) => v > 0) ? sliceRuns(x.shape, b, s) : null;
      if (plan) {
        const backend = asWasmBackend(args.backend);
        const out = backend.makeOutput(s, x.dtype);
        // after makeOutput: the heap may have grown, so offsets and views are taken now
        const heap = backend.wasm.HEAPF32; // 4-byte elements, float32 and int32 alike
        const from = backend.dataIdMap.get(x.dataId)!.memoryOffset / 4;
        let to = backend.dataIdMap.get(out.dataId)!.memoryOffset / 4;
        for (const start of plan.starts) {
          heap.copyWithin(to, from + start, from + start + plan.length);
          to += plan.length;
        }
        return out;
      }
    }
    return original.kernelFunc(args as never);
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/** PadV2 (constant padding) as a fill and one copy per run of x. */
export function contiguousPadConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { paddings, constantValue } = (args.attrs ?? {}) as { paddings?: [number, number][]; constantValue?: number };
    if ((x.dtype === 'float32' || x.dtype === 'int32') && paddings?.length === x.shape.length && x.shape.length > 0 && x.shape.every((v) => v > 0)) {
      const outShape = x.shape.map((n, d) => paddings[d][0] + n + paddings[d][1]);
      const plan = paddings.every(([before, after]) => before >= 0 && after >= 0) ? sliceRuns(outShape, paddings.map((p) => p[0]), x.shape) : null;
      if (plan) {
        const backend = asWasmBackend(args.backend);
        const out = backend.makeOutput(outShape, x.dtype);
        const heap = backend.wasm.HEAPF32;
        const from = backend.dataIdMap.get(x.dataId)!.memoryOffset / 4;
        const to = backend.dataIdMap.get(out.dataId)!.memoryOffset / 4;
        const total = tf.util.sizeFromShape(outShape);
        if (x.dtype === 'int32') new Int32Array(heap.buffer, to * 4, total).fill(constantValue ?? 0);
        else heap.fill(constantValue ?? 0, to, to + total);
        let source = from;
        for (const start of plan.starts) {
          heap.copyWithin(to + start, source, source + plan.length);
          source += plan.length;
        }
        return out;
      }
    }
    return original.kernelFunc(args as never);
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
