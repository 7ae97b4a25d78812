/**
 * DepthwiseConv2dNativeBackpropInput for the tfjs wasm backend (missing upstream, tfjs #4326).
 *
 * dx[b, xr, xc, c] = Σ_{kh, kw, m} dy[b, yr, yc, c·M + m] · W[kh, kw, c, m]
 * over all (yr, kh), (yc, kw) with yr·sh + kh − top = xr and yc·sw + kw − left = xc (NHWC).
 * Computed by scattering each dy pixel onto the input pixels it came from, directly on the wasm
 * heap: SIMD wasm loops (simd/conv.c) for M = 1, typed-array loops otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { convGeometry, type ConvGeometryAttrs } from './conv-geometry.ts';
import { convArgs, convSimd } from './simd-module.ts';
import { asWasmBackend, heapF32, heapOffset } from './wasm-heap.ts';

export const DEPTHWISE_BACKPROP_INPUT = 'DepthwiseConv2dNativeBackpropInput';

interface Attrs extends ConvGeometryAttrs {
  inputShape: [number, number, number, number];
}

/** Writes the depthwise input gradient for NHWC `dy` and filter [KH, KW, C, M] into `dx`. */
export function depthwiseInputGradient(
  dy: Float32Array,
  filter: Float32Array,
  geometry: tf.backend_util.Conv2DInfo,
  dx: Float32Array,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = geometry;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = geometry;
  const top = geometry.padInfo.top;
  const left = geometry.padInfo.left;
  const multiplier = outChannels / inChannels;
  const weights = Float32Array.from(filter); // small; keeps the hot loop off the big heap view
  dx.fill(0);

  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      const dyRow = (b * outHeight + yr) * outWidth * outChannels;
      for (let kh = 0; kh < filterHeight; kh++) {
        const xr = yr * strideHeight + kh - top;
        if (xr < 0 || xr >= inHeight) continue;
        const dxRow = (b * inHeight + xr) * inWidth * inChannels;
        for (let kw = 0; kw < filterWidth; kw++) {
          const wBase = (kh * filterWidth + kw) * outChannels;
          const ycMin = Math.max(0, Math.ceil((left - kw) / strideWidth));
          const ycMax = Math.min(outWidth, Math.floor((inWidth - 1 + left - kw) / strideWidth) + 1);
          for (let yc = ycMin; yc < ycMax; yc++) {
            const xo = dxRow + (yc * strideWidth + kw - left) * inChannels;
            const dyo = dyRow + yc * outChannels;
            if (multiplier === 1) {
              for (let c = 0; c < inChannels; c++) dx[xo + c] += dy[dyo + c] * weights[wBase + c];
            } else {
              for (let c = 0; c < inChannels; c++) {
                let sum = 0;
                for (let m = 0; m < multiplier; m++) {
                  const d = c * multiplier + m;
                  sum += dy[dyo + d] * weights[wBase + d];
                }
                dx[xo + c] += sum;
              }
            }
          }
        }
      }
    }
  }
}

function depthwiseBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  const geometry = convGeometry(DEPTHWISE_BACKPROP_INPUT, attrs.inputShape, filter.shape, attrs, true);
  const backend = asWasmBackend(args.backend);
  const out = backend.makeOutput([...attrs.inputShape], 'float32');
  const simd = geometry.outChannels === geometry.inChannels ? convSimd(backend) : null;
  if (simd) {
    simd.depthwise_input_grad(heapOffset(backend, dy), heapOffset(backend, filter), heapOffset(backend, out), ...convArgs(geometry));
    return out;
  }
  depthwiseInputGradient(heapF32(backend, dy), heapF32(backend, filter), geometry, heapF32(backend, out));
  return out;
}

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: DEPTHWISE_BACKPROP_INPUT,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc,
};
