/**
 * Faster filter gradients (`Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`) for the
 * tfjs *cpu* backend, used only by the demo training script (scripts/train-demo-backbone.ts).
 *
 * Why: tfjs-backend-cpu 4.22 computes both with `TensorBuffer.get(b, r, c, d)` per multiply; measured
 * on the demo backbone, Conv2DBackpropFilter alone was ~95 % of a training step (about 1.2 s per
 * 64x64 image). The same sums over flat Float32Arrays, with the innermost loop running along
 * contiguous channels, are the same arithmetic without the per-element index calls.
 *
 *   conv:      dW[wr, wc, ci, co] = sum_{b, yr, yc} x[b, yr*sh + wr - padTop, yc*sw + wc - padLeft, ci] * dy[b, yr, yc, co]
 *   depthwise: dW[wr, wc, ci, q]  = sum_{b, yr, yc} x[b, yr*sh + wr - padTop, yc*sw + wc - padLeft, ci] * dy[b, yr, yc, ci*M + q]
 *
 * (NHWC, dilation 1, M = channel multiplier, out-of-range x rows/columns are the zero padding.)
 * Sums accumulate in float64, as the built-in kernels' JS-number dot products do.
 */
import * as tf from '@tensorflow/tfjs';

interface KernelArgs {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: { data: { get(id: object): { values: Float32Array } }; makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo };
  attrs: {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
    dilations?: [number, number] | number;
  };
}

export function conv2dBackpropFilterFlat({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat === 'NCHW') throw new Error('conv2dBackpropFilterFlat supports NHWC only');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const xValues = backend.data.get(x.dataId).values;
  const dyValues = backend.data.get(dy.dataId).values;

  const sums = new Float64Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      for (let yc = 0; yc < outWidth; yc++) {
        const dyOffset = ((b * outHeight + yr) * outWidth + yc) * outChannels;
        for (let wr = 0; wr < filterHeight; wr++) {
          const xr = yr * strideHeight + wr - padTop;
          if (xr < 0 || xr >= inHeight) continue;
          for (let wc = 0; wc < filterWidth; wc++) {
            const xc = yc * strideWidth + wc - padLeft;
            if (xc < 0 || xc >= inWidth) continue;
            const xOffset = ((b * inHeight + xr) * inWidth + xc) * inChannels;
            const wOffset = (wr * filterWidth + wc) * inChannels * outChannels;
            for (let ci = 0; ci < inChannels; ci++) {
              const xv = xValues[xOffset + ci];
              if (xv === 0) continue; // ReLU outputs are often zero
              const row = wOffset + ci * outChannels;
              for (let co = 0; co < outChannels; co++) sums[row + co] += xv * dyValues[dyOffset + co];
            }
          }
        }
      }
    }
  }
  return backend.makeTensorInfo(info.filterShape, 'float32', Float32Array.from(sums));
}

export function depthwiseConv2dBackpropFilterFlat({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dimRoundingMode, filterShape } = attrs;
  const dilations = attrs.dilations ?? 1;
  if ((Array.isArray(dilations) ? dilations : [dilations]).some((d) => d !== 1)) {
    throw new Error('depthwiseConv2dBackpropFilterFlat supports dilation 1 only');
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const multiplier = outChannels / inChannels;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const xValues = backend.data.get(x.dataId).values;
  const dyValues = backend.data.get(dy.dataId).values;

  // Layout [wr, wc, ci, q] flattens to (wr*fw + wc)*outChannels + ci*M + q: the dy channel index.
  const sums = new Float64Array(filterHeight * filterWidth * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      for (let yc = 0; yc < outWidth; yc++) {
        const dyOffset = ((b * outHeight + yr) * outWidth + yc) * outChannels;
        for (let wr = 0; wr < filterHeight; wr++) {
          const xr = yr * strideHeight + wr - padTop;
          if (xr < 0 || xr >= inHeight) continue;
          for (let wc = 0; wc < filterWidth; wc++) {
            const xc = yc * strideWidth + wc - padLeft;
            if (xc < 0 || xc >= inWidth) continue;
            const xOffset = ((b * inHeight + xr) * inWidth + xc) * inChannels;
            const wOffset = (wr * filterWidth + wc) * outChannels;
            for (let co = 0; co < outChannels; co++) {
              sums[wOffset + co] += xValues[xOffset + Math.floor(co / multiplier)] * dyValues[dyOffset + co];
            }
          }
        }
      }
    }
  }
  return backend.makeTensorInfo(info.filterShape, 'float32', Float32Array.from(sums));
}

const FLAT_KERNELS: Record<string, (args: KernelArgs) => tf.TensorInfo> = {
  Conv2DBackpropFilter: conv2dBackpropFilterFlat,
  DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dBackpropFilterFlat,
};

/** Replace the cpu backend's two filter-gradient kernels with the flat versions; returns a restore function. */
export function useFlatFilterGradientsOnCpu(): () => void {
  const originals = Object.keys(FLAT_KERNELS).map((kernelName) => {
    const original = tf.getKernel(kernelName, 'cpu');
    if (!original) throw new Error(`the tfjs cpu backend has no ${kernelName} kernel to replace`);
    tf.unregisterKernel(kernelName, 'cpu');
    tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: FLAT_KERNELS[kernelName] as unknown as tf.KernelFunc });
    return original;
  });
  return () => {
    for (const original of originals) {
      tf.unregisterKernel(original.kernelName, 'cpu');
      tf.registerKernel(original);
    }
  };
}
