/**
 * A faster Conv2DBackpropInput on the tfjs wasm backend.
 *
 * The wasm backend has this kernel, but as plain loops: ~90 ms for a 1×1 layer that XNNPACK's
 * matMul does in ~8 ms. For 1×1, stride 1, unpadded convolutions dx [P, Ci] = dy [P, Co] · Wᵀ
 * (W viewed as [Ci, Co]). Other NHWC geometries (dilation 1) use the same product with
 * W viewed as [K, Co], K = KH·KW·Ci: cols [P, K] = dy · Wᵀ, then dx = col2im(cols), the adjoint of
 * im2col (SIMD module), a few images at a time. tfjs computes this gradient even for a model's
 * first convolution (its fused conv2d gradient returns dx and dW together), where the original
 * loops cost ~8 % of a MobileNet training step. Without the SIMD module, the original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { isPointwise } from './conv2d-backprop-filter.ts';
import { convGeometry, type ConvGeometryAttrs } from './conv-geometry.ts';
import { convSimd } from './simd-module.ts';
import { asWasmBackend, heapF32, heapOffset, matMul, release, reshaped, transpose2d, type WasmBackendInternals } from './wasm-heap.ts';

/** Upper bound on one cols chunk (floats, 16 MiB); larger gradients go a few images at a time. */
export const conv2DBackpropInputLimits = { maxColumnFloats: 1 << 22 };

/** dx = col2im(dy · Wᵀ) for any stride/padding (dilation 1), in chunks of whole images. */
function generalInputGradient(
  backend: WasmBackendInternals,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  g: tf.backend_util.Conv2DInfo,
  inputShape: number[],
): tf.TensorInfo | null {
  const simd = convSimd(backend);
  if (!simd) return null;
  const k = g.filterHeight * g.filterWidth * g.inChannels;
  const co = g.outChannels;
  const pixelsPerImage = g.outHeight * g.outWidth;
  const imagesPerChunk = Math.max(1, Math.min(g.batchSize, Math.floor(conv2DBackpropInputLimits.maxColumnFloats / (pixelsPerImage * k))));
  const wT = transpose2d(backend, reshaped(filter, [k, co])); // [Co, K]
  const dx = backend.makeOutput([...inputShape], 'float32');
  heapF32(backend, dx).fill(0);
  for (let b0 = 0; b0 < g.batchSize; b0 += imagesPerChunk) {
    const b1 = Math.min(g.batchSize, b0 + imagesPerChunk);
    const rows = (b1 - b0) * pixelsPerImage;
    const whole = b0 === 0 && b1 === g.batchSize;
    const dyChunk = whole ? reshaped(dy, [rows, co]) : backend.makeOutput([rows, co], 'float32');
    if (!whole) heapF32(backend, dyChunk).set(heapF32(backend, dy).subarray(b0 * pixelsPerImage * co, b1 * pixelsPerImage * co));
    const cols = matMul(backend, dyChunk, wT); // [rows, K]
    if (!whole) release(backend, dyChunk);
    simd.col2im(heapOffset(backend, cols), heapOffset(backend, dx), b0, b1, g.inHeight, g.inWidth, g.inChannels,
      g.outHeight, g.outWidth, g.filterHeight, g.filterWidth, g.strideHeight, g.strideWidth, g.padInfo.top, g.padInfo.left);
    release(backend, cols);
  }
  release(backend, wT);
  return dx;
}

export const CONV2D_BACKPROP_INPUT = 'Conv2DBackpropInput';

interface Attrs extends ConvGeometryAttrs {
  inputShape: [number, number, number, number];
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Wraps the backend's own kernel (kept as the fallback for non-pointwise geometry). */
export function pointwiseConv2DBackpropInputConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs as unknown as Attrs;
    const dataFormatIsNHWC = attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC';
    if (dataFormatIsNHWC && dy.dtype === 'float32' && filter.dtype === 'float32') {
      const g = convGeometry(CONV2D_BACKPROP_INPUT, attrs.inputShape, filter.shape, attrs, false);
      if (isPointwise(g)) {
        const backend = asWasmBackend(args.backend);
        const pixels = g.batchSize * g.inHeight * g.inWidth;
        const wT = transpose2d(backend, reshaped(filter, [g.inChannels, g.outChannels])); // [Co, Ci]
        const dx = matMul(backend, reshaped(dy, [pixels, g.outChannels]), wT);
        release(backend, wT);
        return reshaped(dx, [...attrs.inputShape]);
      }
      if (g.dilationHeight === 1 && g.dilationWidth === 1) {
        const dx = generalInputGradient(asWasmBackend(args.backend), dy, filter, g, attrs.inputShape);
        if (dx) return dx;
      }
    }
    return original.kernelFunc(args as never);
  };
  return {
    kernelName: CONV2D_BACKPROP_INPUT,
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  };
}
