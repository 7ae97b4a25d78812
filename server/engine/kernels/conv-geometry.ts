/**
 * Convolution geometry for bnlab's wasm gradient kernels: the same `computeConv2DInfo` the cpu
 * backend uses (so 'same' puts the extra row/column at the bottom/right, as TensorFlow does, and
 * explicit numeric pads work), restricted to what the kernels implement: NHWC and dilation 1.
 */
import * as tf from '@tensorflow/tfjs';

export interface ConvGeometryAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function convGeometry(
  kernelName: string,
  xShape: number[],
  filterShape: number[],
  attrs: ConvGeometryAttrs,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  const dilations = attrs.dilations ?? 1;
  const dilationList = typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (dilationList.some((d) => d !== 1)) {
    throw new Error(`${kernelName} (bnlab wasm kernel): dilation ${dilationList} is not supported, only 1`);
  }
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} (bnlab wasm kernel): data format ${attrs.dataFormat} is not supported, only NHWC`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}
