/**
 * Conv2DBackpropFilter for the tfjs wasm backend (missing upstream, tfjs #8474).
 *
 * dW[kh, kw, ci, co] = Σ_{b, yr, yc} x[b, yr·sh + kh − top, yc·sw + kw − left, ci] · dy[b, yr, yc, co]
 * (NHWC, out-of-image taps contribute 0). As matrices with P = B·Ho·Wo output pixels:
 * dW = colsᵀ · dy, with cols [P, KH·KW·Ci] the im2col of x. The product runs on the backend's own
 * XNNPACK matMul, which is fast only without transposed operands, so we compute
 * dWᵀ [Co, K] = dyᵀ [Co, P] · cols [P, K] and transpose the small result.
 * Pointwise convolutions (1×1, stride 1, no padding) skip im2col: cols is x itself, and with the SIMD
 * module dW = xᵀ · dy runs as register-blocked outer products (simd/conv.c) instead. With the SIMD
 * module, other geometries run im2col and the same outer products in it; without it, typed-array
 * im2col and the XNNPACK product.
 */
import * as tf from '@tensorflow/tfjs';
import { convGeometry, type ConvGeometryAttrs } from './conv-geometry.ts';
import { convSimd, type ConvSimd } from './simd-module.ts';
import {
  asWasmBackend,
  heapF32,
  heapOffset,
  matMul,
  release,
  reshaped,
  transpose2d,
  type WasmBackendInternals,
} from './wasm-heap.ts';

export const CONV2D_BACKPROP_FILTER = 'Conv2DBackpropFilter';

/** Upper bound on one im2col chunk (floats, 16 MiB); larger inputs go a few images at a time. */
export const conv2DBackpropFilterLimits = { maxColumnFloats: 1 << 22 };

interface Attrs extends ConvGeometryAttrs {
  filterShape: [number, number, number, number];
}

export function isPointwise(g: tf.backend_util.Conv2DInfo): boolean {
  return (
    g.filterHeight === 1 && g.filterWidth === 1 && g.strideHeight === 1 && g.strideWidth === 1 &&
    g.padInfo.top === 0 && g.padInfo.left === 0 && g.outHeight === g.inHeight && g.outWidth === g.inWidth
  );
}

/** Pointwise filter gradients use the SIMD outer-product kernel when the module loads (false: XNNPACK matMul). */
export const pointwiseFilterGradOptions = { simd: process.env.BNLAB_POINTWISE_SIMD !== '0' };

/**
 * Pointwise: dW [Ci, Co] = xᵀ · dy. With the SIMD module: register-blocked outer products straight
 * from x and dy (float64 accumulation across row blocks), about 2× faster than XNNPACK here, whose
 * matMul is built for many output rows, not for Ci rows and a reduction over every pixel. Otherwise
 * XNNPACK, transposing whichever operand has fewer channels.
 */
function pointwiseFilterGradient(
  backend: WasmBackendInternals,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const pixels = g.batchSize * g.inHeight * g.inWidth;
  const simd = pointwiseFilterGradOptions.simd ? convSimd(backend) : null;
  if (simd) {
    const count = g.inChannels * g.outChannels;
    const out = backend.makeOutput([1, 1, g.inChannels, g.outChannels], 'float32');
    const acc = backend.wasm._malloc(count * 8) >>> 0;
    try {
      new Float64Array(backend.wasm.HEAPF32.buffer, acc, count).fill(0);
      simd.pointwise_filter_grad(heapOffset(backend, x), heapOffset(backend, dy), acc, pixels, g.inChannels, g.outChannels);
      heapF32(backend, out).set(new Float64Array(backend.wasm.HEAPF32.buffer, acc, count));
    } finally {
      backend.wasm._free(acc);
    }
    return out;
  }
  const x2d = reshaped(x, [pixels, g.inChannels]);
  const dy2d = reshaped(dy, [pixels, g.outChannels]);
  if (g.inChannels <= g.outChannels) {
    const xT = transpose2d(backend, x2d);
    const out = matMul(backend, xT, dy2d);
    release(backend, xT);
    return reshaped(out, [1, 1, g.inChannels, g.outChannels]);
  }
  const dyT = transpose2d(backend, dy2d);
  const dWT = matMul(backend, dyT, x2d);
  release(backend, dyT);
  const out = transpose2d(backend, dWT);
  release(backend, dWT);
  return reshaped(out, [1, 1, g.inChannels, g.outChannels]);
}

/** Fills cols [rows, KH·KW·Ci] with the im2col of images [b0, b1) of x (zeros for padding). */
function im2col(x: Float32Array, g: tf.backend_util.Conv2DInfo, b0: number, b1: number, cols: Float32Array) {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = g;
  const { strideHeight, strideWidth } = g;
  const top = g.padInfo.top;
  const left = g.padInfo.left;
  const k = filterHeight * filterWidth * inChannels;
  let row = 0;
  for (let b = b0; b < b1; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      for (let yc = 0; yc < outWidth; yc++, row++) {
        let dst = row * k;
        for (let kh = 0; kh < filterHeight; kh++) {
          const xr = yr * strideHeight + kh - top;
          const rowInside = xr >= 0 && xr < inHeight;
          for (let kw = 0; kw < filterWidth; kw++, dst += inChannels) {
            const xc = yc * strideWidth + kw - left;
            if (!rowInside || xc < 0 || xc >= inWidth) {
              cols.fill(0, dst, dst + inChannels);
              continue;
            }
            const src = ((b * inHeight + xr) * inWidth + xc) * inChannels;
            for (let c = 0; c < inChannels; c++) cols[dst + c] = x[src + c];
          }
        }
      }
    }
  }
}

/** im2col sizes: K = KH·KW·Ci columns, output pixels per image, whole images per chunk (under the float limit). */
function im2colChunking(g: tf.backend_util.Conv2DInfo) {
  const k = g.filterHeight * g.filterWidth * g.inChannels;
  const pixelsPerImage = g.outHeight * g.outWidth;
  const imagesPerChunk = Math.max(1, Math.min(g.batchSize, Math.floor(conv2DBackpropFilterLimits.maxColumnFloats / (pixelsPerImage * k))));
  return { k, co: g.outChannels, pixelsPerImage, imagesPerChunk };
}

/**
 * Any geometry with the SIMD module: dW [K, Co] = colsᵀ · dy is a pointwise filter gradient of the
 * im2col matrix, so each chunk of whole images goes im2col → pointwise_filter_grad straight from dy's
 * rows (no transposes; float64 accumulation across chunks). XNNPACK's matMul is slow for this shape
 * for the same reason as in the pointwise case (a reduction over every output pixel).
 */
function simdGeneralFilterGradient(
  backend: WasmBackendInternals,
  simd: ConvSimd,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: tf.backend_util.Conv2DInfo,
  filterShape: number[],
): tf.TensorInfo {
  const { k, co, pixelsPerImage, imagesPerChunk } = im2colChunking(g);
  const out = backend.makeOutput([...filterShape], 'float32'); // [KH, KW, Ci, Co] == [K, Co]
  const cols = backend.makeOutput([imagesPerChunk * pixelsPerImage, k], 'float32');
  const acc = backend.wasm._malloc(k * co * 8) >>> 0;
  try {
    new Float64Array(backend.wasm.HEAPF32.buffer, acc, k * co).fill(0);
    const { inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = g;
    for (let b0 = 0; b0 < g.batchSize; b0 += imagesPerChunk) {
      const b1 = Math.min(g.batchSize, b0 + imagesPerChunk);
      simd.im2col(heapOffset(backend, x), heapOffset(backend, cols), b0, b1, inHeight, inWidth, inChannels,
        outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth, g.padInfo.top, g.padInfo.left);
      const dyChunk = heapOffset(backend, dy) + 4 * b0 * pixelsPerImage * co;
      simd.pointwise_filter_grad(heapOffset(backend, cols), dyChunk, acc, (b1 - b0) * pixelsPerImage, k, co);
    }
    heapF32(backend, out).set(new Float64Array(backend.wasm.HEAPF32.buffer, acc, k * co));
  } finally {
    backend.wasm._free(acc);
    release(backend, cols);
  }
  return out;
}

/** Any geometry, without the SIMD module: im2col in chunks of whole images, dWᵀ accumulated in float64 across chunks. */
function generalFilterGradient(
  backend: WasmBackendInternals,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: tf.backend_util.Conv2DInfo,
  filterShape: number[],
): tf.TensorInfo {
  const { k, co, pixelsPerImage, imagesPerChunk } = im2colChunking(g);
  const totalPixels = g.batchSize * pixelsPerImage;
  const dyT = transpose2d(backend, reshaped(dy, [totalPixels, co])); // [Co, P]
  const accT = new Float64Array(co * k);

  for (let b0 = 0; b0 < g.batchSize; b0 += imagesPerChunk) {
    const b1 = Math.min(g.batchSize, b0 + imagesPerChunk);
    const rows = (b1 - b0) * pixelsPerImage;
    const whole = b0 === 0 && b1 === g.batchSize;
    const cols = backend.makeOutput([rows, k], 'float32');
    const dyTChunk = whole ? dyT : backend.makeOutput([co, rows], 'float32');
    im2col(heapF32(backend, x), g, b0, b1, heapF32(backend, cols));
    if (!whole) {
      const all = heapF32(backend, dyT);
      const chunk = heapF32(backend, dyTChunk);
      const p0 = b0 * pixelsPerImage;
      for (let o = 0; o < co; o++) chunk.set(all.subarray(o * totalPixels + p0, o * totalPixels + p0 + rows), o * rows);
    }
    const partT = matMul(backend, dyTChunk, cols); // [Co, K]
    const part = heapF32(backend, partT);
    for (let i = 0; i < part.length; i++) accT[i] += part[i];
    release(backend, partT);
    release(backend, cols);
    if (!whole) release(backend, dyTChunk);
  }
  release(backend, dyT);

  const out = backend.makeOutput([...filterShape], 'float32');
  const dW = heapF32(backend, out); // [K, Co] == [KH, KW, Ci, Co]
  for (let o = 0; o < co; o++) for (let i = 0; i < k; i++) dW[i * co + o] = accT[o * k + i];
  return out;
}

function conv2DBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  const geometry = convGeometry(CONV2D_BACKPROP_FILTER, x.shape, attrs.filterShape, attrs, false);
  const backend = asWasmBackend(args.backend);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`${CONV2D_BACKPROP_FILTER} (bnlab wasm kernel): float32 only`);
  }
  if (isPointwise(geometry)) return pointwiseFilterGradient(backend, x, dy, geometry);
  const simd = convSimd(backend);
  return simd
    ? simdGeneralFilterGradient(backend, simd, x, dy, geometry, attrs.filterShape)
    : generalFilterGradient(backend, x, dy, geometry, attrs.filterShape);
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: CONV2D_BACKPROP_FILTER,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
