/**
 * Crops, flips and bilinear resampling of decoded RGB images into a network's float input, in pure
 * JS and seeded, so that a (seed, epoch, image) triple always gives the same pixels.
 *
 * Eval: resize the shorter side to `size`, then take the center size x size crop. Done in one
 * sampling step: the crop box is the centered square whose side is the image's shorter side.
 * Train: torchvision RandomResizedCrop semantics (area fraction ~ U(scale), log aspect ratio ~
 * U(log 3/4, log 4/3), 10 tries, then the fallback center crop clamped to the ratio range),
 * resampled to size x size, then a horizontal flip with probability 1/2 if enabled.
 * Sampling is bilinear with half-pixel centres (align_corners = false) and edge clamping:
 *   src = box.origin + (dst + 0.5) * box.extent / size - 0.5.
 * No antialiasing: the decoder already brought images to ~1.15 x size, so the remaining
 * downscale is small.
 */
import { IMAGENET_MEAN_STD, type Preprocessing } from '../schema/preprocessing.ts';
import type { DecodedImage } from './decode.ts';
import { randomInt, uniform, type Rng } from './random.ts';

/** A region of the source image in pixel units (may be fractional for the eval crop). */
export interface CropBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface AugmentOptions {
  randomResizedCrop: boolean;
  /** Range of the crop's area as a fraction of the image area, e.g. [0.35, 1]. */
  scale: [number, number];
  horizontalFlip: boolean;
}

/** Where to sample and whether to mirror; the plan for one sample. */
export interface SamplePlan {
  box: CropBox;
  flip: boolean;
}

export const ASPECT_RATIO_RANGE: readonly [number, number] = [3 / 4, 4 / 3];

/** The centered square with side min(width, height). */
export function centerCropBox(width: number, height: number): CropBox {
  const side = Math.min(width, height);
  return { x: (width - side) / 2, y: (height - side) / 2, width: side, height: side };
}

/**
 * torchvision RandomResizedCrop.get_params: integer box, area fraction in `scale`, aspect ratio
 * (width / height) log-uniform in `ratio`. After 10 failed tries: the largest centered box whose
 * aspect ratio is clamped into `ratio`.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  rng: Rng,
  ratio: readonly [number, number] = ASPECT_RATIO_RANGE,
): CropBox {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * uniform(rng, scale[0], scale[1]);
    const aspect = Math.exp(uniform(rng, logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { x: randomInt(rng, 0, width - w), y: randomInt(rng, 0, height - h), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/** The crop and flip for one sample: center crop when `augment` is null, random ones otherwise. */
export function planSample(width: number, height: number, augment: AugmentOptions | null, rng: Rng): SamplePlan {
  if (!augment) return { box: centerCropBox(width, height), flip: false };
  const box = augment.randomResizedCrop ? randomResizedCropBox(width, height, augment.scale, rng) : centerCropBox(width, height);
  const flip = augment.horizontalFlip ? rng() < 0.5 : false;
  return { box, flip };
}

/** out = pixel * scale + offset: 'minus1to1' x / 127.5 - 1, 'zero1' x / 255 (modes with one scale for all channels). */
export function preprocessingAffine(preprocessing: Preprocessing): { scale: number; offset: number } {
  switch (preprocessing) {
    case 'minus1to1':
      return { scale: 1 / 127.5, offset: -1 };
    case 'zero1':
      return { scale: 1 / 255, offset: 0 };
    default:
      throw new Error(`preprocessing ${JSON.stringify(preprocessing)} has no single scale; use channelAffine`);
  }
}

/**
 * Per-channel out[c] = pixel * scale[c] + offset[c] (RGB). Mean/std modes: scale = 1 / (255 std),
 * offset = -mean / std, i.e. (x / 255 - mean) / std. The scalar modes give three equal entries, the
 * same float64 numbers as preprocessingAffine, so their output is bit-identical.
 */
export function channelAffine(preprocessing: Preprocessing): { scale: [number, number, number]; offset: [number, number, number] } {
  if (preprocessing === 'minus1to1' || preprocessing === 'zero1') {
    const { scale, offset } = preprocessingAffine(preprocessing);
    return { scale: [scale, scale, scale], offset: [offset, offset, offset] };
  }
  const { mean, std } = preprocessing === 'imagenet' ? IMAGENET_MEAN_STD : preprocessing;
  if (!mean || !std) throw new Error(`unknown preprocessing ${JSON.stringify(preprocessing)}`);
  return {
    scale: [0, 1, 2].map((c) => 1 / (255 * std[c])) as [number, number, number],
    offset: [0, 1, 2].map((c) => -mean[c] / std[c]) as [number, number, number],
  };
}

/**
 * Bilinearly resample `plan.box` of `image` to size x size RGB floats, mirrored if `plan.flip`,
 * written NHWC at out[offset ...offset + size*size*3).
 *
 * Separable, and bit-for-bit equal to the direct per-pixel form
 *   out = (top + (bottom - top) * wy) * scale + bias,  top/bottom = lerp(src[c0], src[c1], wx)
 * (float64 arithmetic, float32 weights, float32 store): each needed source row is lerped
 * horizontally once into a float64 row buffer, and consecutive output rows reuse those rows
 * (at ~1.15x downscale most output rows need one new source row, on enlarged crops often none).
 * The flip is folded into the column taps. Scratch buffers are module-level and reused (the
 * function is synchronous, so nothing else can touch them mid-call).
 */
export function renderSample(
  image: DecodedImage,
  plan: SamplePlan,
  size: number,
  preprocessing: Preprocessing,
  out: Float32Array,
  offset: number,
): void {
  if (offset < 0 || offset + size * size * 3 > out.length) throw new RangeError('sample slot outside the output array');
  const { scale: [scaleR, scaleG, scaleB], offset: [biasR, biasG, biasB] } = channelAffine(preprocessing);
  const scratch = renderScratch(size);
  const cols = bilinearTaps(plan.box.x, plan.box.width, size, image.width, scratch.cols);
  const rows = bilinearTaps(plan.box.y, plan.box.height, size, image.height, scratch.rows);
  // Column taps as byte offsets into a source row, in output order (flip folded in).
  const left = scratch.left;
  const right = scratch.right;
  const wxs = scratch.wx;
  for (let ox = 0; ox < size; ox++) {
    const sx = plan.flip ? size - 1 - ox : ox;
    left[ox] = cols.low[sx]! * 3;
    right[ox] = cols.high[sx]! * 3;
    wxs[ox] = cols.weight[sx]!;
  }
  const src = image.data;
  const rowStride = image.width * 3;
  const rowLength = size * 3;
  // Two horizontally resampled source rows; `upperRow`/`lowerRow` say which source rows they hold.
  let upper = scratch.upper;
  let lower = scratch.lower;
  let upperRow = -1;
  let lowerRow = -1;
  let o = offset;
  for (let oy = 0; oy < size; oy++) {
    const r0 = rows.low[oy]!;
    const r1 = rows.high[oy]!;
    if (r0 !== upperRow) {
      if (r0 === lowerRow) {
        const t = upper;
        upper = lower;
        lower = t;
        upperRow = r0;
        lowerRow = -1;
      } else {
        resampleRow(src, r0 * rowStride, left, right, wxs, size, upper);
        upperRow = r0;
      }
    }
    if (r1 !== lowerRow) {
      if (r1 === upperRow) lower.set(upper);
      else resampleRow(src, r1 * rowStride, left, right, wxs, size, lower);
      lowerRow = r1;
    }
    const wy = rows.weight[oy]!;
    for (let i = 0; i < rowLength; i += 3) {
      const r = upper[i]!;
      const g = upper[i + 1]!;
      const b = upper[i + 2]!;
      out[o++] = (r + (lower[i]! - r) * wy) * scaleR + biasR;
      out[o++] = (g + (lower[i + 1]! - g) * wy) * scaleG + biasG;
      out[o++] = (b + (lower[i + 2]! - b) * wy) * scaleB + biasB;
    }
  }
}

/** row[ox*3 + c] = lerp(src[base + left[ox] + c], src[base + right[ox] + c], wx[ox]), in float64. */
function resampleRow(
  src: Uint8Array,
  base: number,
  left: Int32Array,
  right: Int32Array,
  wx: Float32Array,
  size: number,
  row: Float64Array,
): void {
  let j = 0;
  for (let ox = 0; ox < size; ox++) {
    const a = base + left[ox]!;
    const b = base + right[ox]!;
    const w = wx[ox]!;
    const a0 = src[a]!;
    const a1 = src[a + 1]!;
    const a2 = src[a + 2]!;
    row[j] = a0 + (src[b]! - a0) * w;
    row[j + 1] = a1 + (src[b + 1]! - a1) * w;
    row[j + 2] = a2 + (src[b + 2]! - a2) * w;
    j += 3;
  }
}

/** Bilinear taps along one axis: for each output index, two source indices and the second's weight. */
export interface BilinearTaps {
  low: Int32Array;
  high: Int32Array;
  /** Stored as float32: part of the bit-exact contract of renderSample. */
  weight: Float32Array;
}

/**
 * For each output index i < size: s = clamp(start + (i + 0.5) * extent / size - 0.5, 0, limit - 1),
 * low = floor(s), high = min(low + 1, limit - 1), weight = s - low (edge clamped).
 * Writes into `into` (arrays of length >= size) when given, else allocates.
 */
export function bilinearTaps(start: number, extent: number, size: number, limit: number, into?: BilinearTaps): BilinearTaps {
  const taps = into ?? { low: new Int32Array(size), high: new Int32Array(size), weight: new Float32Array(size) };
  if (taps.low.length < size || taps.high.length < size || taps.weight.length < size) throw new RangeError('tap arrays shorter than size');
  const { low, high, weight } = taps;
  const step = extent / size;
  for (let i = 0; i < size; i++) {
    const s = Math.min(limit - 1, Math.max(0, start + (i + 0.5) * step - 0.5));
    const base = Math.floor(s);
    low[i] = base;
    high[i] = Math.min(limit - 1, base + 1);
    weight[i] = s - base;
  }
  return taps;
}

interface RenderScratch {
  size: number;
  cols: BilinearTaps;
  rows: BilinearTaps;
  left: Int32Array;
  right: Int32Array;
  wx: Float32Array;
  upper: Float64Array;
  lower: Float64Array;
}

let scratchCache: RenderScratch | null = null;

/** Reusable buffers for one output size (reallocated only when the size changes). */
function renderScratch(size: number): RenderScratch {
  if (scratchCache?.size === size) return scratchCache;
  const taps = (): BilinearTaps => ({ low: new Int32Array(size), high: new Int32Array(size), weight: new Float32Array(size) });
  scratchCache = {
    size,
    cols: taps(),
    rows: taps(),
    left: new Int32Array(size),
    right: new Int32Array(size),
    wx: new Float32Array(size),
    upper: new Float64Array(size * 3),
    lower: new Float64Array(size * 3),
  };
  return scratchCache;
}
