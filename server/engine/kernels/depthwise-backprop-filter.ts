/**
 * DepthwiseConv2dNativeBackpropFilter for the tfjs wasm backend (missing upstream, tfjs #8474).
 *
 * dW[kh, kw, c, m] = Σ_{b, yr, yc} x[b, yr·sh + kh − top, yc·sw + kw − left, c] · dy[b, yr, yc, c·M + m]
 * (NHWC, M = channel multiplier, out-of-image taps contribute 0). Runs directly on the wasm heap:
 * SIMD wasm loops (simd/conv.c) for M = 1, typed-array loops otherwise; both accumulate
 * in float64 (the SIMD loops per output row in float32 first).
 */
import * as tf from '@tensorflow/tfjs';
import { convGeometry, type ConvGeometryAttrs } from './conv-geometry.ts';
import { convArgs, convSimd } from './simd-module.ts';
import { asWasmBackend, heapF32, heapOffset } from './wasm-heap.ts';

export const DEPTHWISE_BACKPROP_FILTER = 'DepthwiseConv2dNativeBackpropFilter';

interface Attrs extends ConvGeometryAttrs {
  filterShape: [number, number, number, number];
}

/** Writes the depthwise filter gradient for NHWC `x`, `dy` into `dW` (layout [KH, KW, C, M]). */
export function depthwiseFilterGradient(
  x: Float32Array,
  dy: Float32Array,
  geometry: tf.backend_util.Conv2DInfo,
  dW: Float32Array,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = geometry;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = geometry;
  const top = geometry.padInfo.top;
  const left = geometry.padInfo.left;
  const multiplier = outChannels / inChannels;
  const acc = new Float64Array(filterHeight * filterWidth * outChannels);

  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      const dyRow = (b * outHeight + yr) * outWidth * outChannels;
      for (let kh = 0; kh < filterHeight; kh++) {
        const xr = yr * strideHeight + kh - top;
        if (xr < 0 || xr >= inHeight) continue;
        const xRow = (b * inHeight + xr) * inWidth * inChannels;
        for (let kw = 0; kw < filterWidth; kw++) {
          const accBase = (kh * filterWidth + kw) * outChannels;
          // Output columns whose tap kw lands inside the image: 0 <= yc·sw + kw − left < inWidth.
          const ycMin = Math.max(0, Math.ceil((left - kw) / strideWidth));
          const ycMax = Math.min(outWidth, Math.floor((inWidth - 1 + left - kw) / strideWidth) + 1);
          for (let yc = ycMin; yc < ycMax; yc++) {
            const xo = xRow + (yc * strideWidth + kw - left) * inChannels;
            const dyo = dyRow + yc * outChannels;
            if (multiplier === 1) {
              for (let c = 0; c < inChannels; c++) acc[accBase + c] += x[xo + c] * dy[dyo + c];
            } else {
              for (let d = 0; d < outChannels; d++) {
                acc[accBase + d] += x[xo + ((d / multiplier) | 0)] * dy[dyo + d];
              }
            }
          }
        }
      }
    }
  }
  // acc is laid out [KH, KW, C·M], which is exactly [KH, KW, C, M].
  for (let i = 0; i < acc.length; i++) dW[i] = acc[i];
}

function depthwiseBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  const geometry = convGeometry(DEPTHWISE_BACKPROP_FILTER, x.shape, attrs.filterShape, attrs, true);
  const backend = asWasmBackend(args.backend);
  const out = backend.makeOutput([...attrs.filterShape], 'float32');
  const simd = geometry.outChannels === geometry.inChannels ? convSimd(backend) : null;
  if (simd) {
    const size = tf.util.sizeFromShape(attrs.filterShape);
    const accPointer = backend.wasm._malloc(size * 8) >>> 0;
    try {
      new Float64Array(backend.wasm.HEAPF32.buffer, accPointer, size).fill(0);
      simd.depthwise_filter_grad(heapOffset(backend, x), heapOffset(backend, dy), accPointer, ...convArgs(geometry));
      const acc = new Float64Array(backend.wasm.HEAPF32.buffer, accPointer, size);
      heapF32(backend, out).set(acc);
    } finally {
      backend.wasm._free(accPointer);
    }
    return out;
  }
  // Views after the last allocation: makeOutput may grow (and detach) the heap.
  depthwiseFilterGradient(heapF32(backend, x), heapF32(backend, dy), geometry, heapF32(backend, out));
  return out;
}

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: DEPTHWISE_BACKPROP_FILTER,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc,
};
