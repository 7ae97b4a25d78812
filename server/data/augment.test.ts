import { describe, expect, it } from 'vitest';
import {
  bilinearTaps,
  centerCropBox,
  channelAffine,
  planSample,
  preprocessingAffine,
  randomResizedCropBox,
  renderSample,
  type CropBox,
} from './augment.ts';
import type { DecodedImage } from './decode.ts';
import { createRng, type Rng } from './random.ts';

/** width x height image whose red channel is the x coordinate, green the y coordinate, blue 7. */
function coordinateImage(width: number, height: number): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x, y, 7], (y * width + x) * 3);
  }
  return { data, width, height };
}

/** Render with 'zero1' and undo the /255, giving pixel values back. */
function render(image: DecodedImage, box: CropBox, size: number, flip = false): Float32Array {
  const out = new Float32Array(size * size * 3);
  renderSample(image, { box, flip }, size, 'zero1', out, 0);
  return out.map((v) => v * 255);
}

const at = (pixels: Float32Array, size: number, x: number, y: number, c: number) => pixels[(y * size + x) * 3 + c]!;

describe('eval transform: resize shorter side, center crop', () => {
  it('takes the centered square of the shorter side', () => {
    expect(centerCropBox(12, 8)).toEqual({ x: 2, y: 0, width: 8, height: 8 });
    expect(centerCropBox(8, 13)).toEqual({ x: 0, y: 2.5, width: 8, height: 8 });
  });

  it('copies pixels exactly when no resize is needed', () => {
    const image = coordinateImage(12, 8);
    const pixels = render(image, centerCropBox(12, 8), 8);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        expect(at(pixels, 8, x, y, 0)).toBeCloseTo(x + 2, 4); // columns 2..9 of the source
        expect(at(pixels, 8, x, y, 1)).toBeCloseTo(y, 4);
        expect(at(pixels, 8, x, y, 2)).toBeCloseTo(7, 4);
      }
    }
  });

  it('averages neighbour pairs when halving (bilinear, half-pixel centres)', () => {
    const image = coordinateImage(12, 8);
    const pixels = render(image, centerCropBox(12, 8), 4);
    for (let x = 0; x < 4; x++) expect(at(pixels, 4, x, 0, 0)).toBeCloseTo(2 + 2 * x + 0.5, 4);
    for (let y = 0; y < 4; y++) expect(at(pixels, 4, 0, y, 1)).toBeCloseTo(2 * y + 0.5, 4);
  });

  it('interpolates linearly when enlarging and clamps at the edges', () => {
    const image = coordinateImage(4, 4);
    const pixels = render(image, centerCropBox(4, 4), 8);
    // src = (dst + 0.5) / 2 - 0.5: dst 0 -> -0.25 (clamped to 0), dst 3 -> 1.25, dst 7 -> 3.25 (clamped to 3)
    expect(at(pixels, 8, 0, 0, 0)).toBeCloseTo(0, 4);
    expect(at(pixels, 8, 3, 0, 0)).toBeCloseTo(1.25, 4);
    expect(at(pixels, 8, 7, 0, 0)).toBeCloseTo(3, 4);
  });

  it('is the plan when augmentation is off', () => {
    expect(planSample(300, 200, null, createRng(1))).toEqual({ box: centerCropBox(300, 200), flip: false });
  });
});

describe('horizontal flip and preprocessing', () => {
  it('mirrors columns', () => {
    const image = coordinateImage(6, 6);
    const straight = render(image, centerCropBox(6, 6), 6);
    const mirrored = render(image, centerCropBox(6, 6), 6, true);
    for (let y = 0; y < 6; y++) {
      for (let x = 0; x < 6; x++) expect(at(mirrored, 6, x, y, 0)).toBe(at(straight, 6, 5 - x, y, 0));
    }
  });

  it("maps 0..255 to [-1, 1] for 'minus1to1' and [0, 1] for 'zero1'", () => {
    const image: DecodedImage = { data: new Uint8Array([0, 255, 51]), width: 1, height: 1 };
    const out = new Float32Array(3 + 3);
    renderSample(image, { box: centerCropBox(1, 1), flip: false }, 1, 'minus1to1', out, 3);
    expect([...out.slice(3)].map((v) => +v.toFixed(5))).toEqual([-1, 1, 51 / 127.5 - 1].map((v) => +v.toFixed(5)));
    expect([...out.slice(0, 3)]).toEqual([0, 0, 0]); // other slots untouched
    renderSample(image, { box: centerCropBox(1, 1), flip: false }, 1, 'zero1', out, 0);
    expect(out[1]).toBeCloseTo(1, 6);
    expect(out[2]).toBeCloseTo(0.2, 6);
    expect(preprocessingAffine('minus1to1')).toEqual({ scale: 1 / 127.5, offset: -1 });
  });

  it('scales each channel by its own mean/std: imagenet and explicit values', () => {
    const image: DecodedImage = { width: 1, height: 1, data: new Uint8Array([255, 51, 0]) } as DecodedImage;
    const out = new Float32Array(3);
    renderSample(image, { box: centerCropBox(1, 1), flip: false }, 1, 'imagenet', out, 0);
    const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    [1, 0.2, 0].forEach((x, c) => expect(out[c]).toBeCloseTo((x - imagenet.mean[c]) / imagenet.std[c], 5));
    renderSample(image, { box: centerCropBox(1, 1), flip: false }, 1, { mean: [0.5, 0, 1], std: [0.5, 2, 1] }, out, 0);
    expect([...out].map((v) => +v.toFixed(5))).toEqual([1, 0.1, -1]);
    expect(channelAffine('zero1')).toEqual({ scale: [1 / 255, 1 / 255, 1 / 255], offset: [0, 0, 0] });
  });

  it('refuses a slot outside the output', () => {
    const image = coordinateImage(2, 2);
    expect(() => renderSample(image, { box: centerCropBox(2, 2), flip: false }, 2, 'zero1', new Float32Array(12), 1)).toThrow(RangeError);
  });
});

describe('randomResizedCropBox (torchvision semantics)', () => {
  it('stays inside the image with area and aspect ratio in range', () => {
    const rng = createRng(3);
    for (let t = 0; t < 2000; t++) {
      const box = randomResizedCropBox(300, 200, [0.08, 0.5], rng);
      expect(Number.isInteger(box.x) && Number.isInteger(box.y) && Number.isInteger(box.width) && Number.isInteger(box.height)).toBe(true);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(300);
      expect(box.y + box.height).toBeLessThanOrEqual(200);
      const area = (box.width * box.height) / (300 * 200);
      expect(area).toBeGreaterThan(0.07); // rounding of w and h moves the area slightly
      expect(area).toBeLessThan(0.52);
      const aspect = box.width / box.height;
      expect(aspect).toBeGreaterThan(0.7);
      expect(aspect).toBeLessThan(1.43);
    }
  });

  it('draws area fractions uniformly over the scale range', () => {
    const rng = createRng(9);
    const fractions = Array.from({ length: 4000 }, () => {
      const box = randomResizedCropBox(400, 400, [0.1, 0.3], rng);
      return (box.width * box.height) / 160000;
    });
    const mean = fractions.reduce((s, v) => s + v, 0) / fractions.length;
    expect(Math.abs(mean - 0.2)).toBeLessThan(0.01);
  });

  it('falls back to a ratio-clamped center crop when no try fits', () => {
    // A 100x10 strip cannot hold a box of the full area with aspect <= 4/3.
    expect(randomResizedCropBox(100, 10, [1, 1], createRng(0))).toEqual({ x: 43, y: 0, width: 13, height: 10 });
    expect(randomResizedCropBox(10, 100, [1, 1], createRng(0))).toEqual({ x: 0, y: 43, width: 10, height: 13 });
  });

  it('is reproducible for a seed', () => {
    const boxes = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 5 }, () => randomResizedCropBox(256, 340, [0.35, 1], rng));
    };
    expect(boxes(4)).toEqual(boxes(4));
    expect(boxes(4)).not.toEqual(boxes(5));
  });

  it('flips about half of the samples when enabled, never when disabled', () => {
    const rng = createRng(2);
    const on = { randomResizedCrop: true, scale: [0.35, 1] as [number, number], horizontalFlip: true };
    const flips = Array.from({ length: 2000 }, () => planSample(100, 80, on, rng).flip).filter(Boolean).length;
    expect(Math.abs(flips - 1000)).toBeLessThan(100);
    const off = { ...on, horizontalFlip: false, randomResizedCrop: false };
    expect(Array.from({ length: 50 }, () => planSample(100, 80, off, rng)).every((p) => !p.flip && p.box.width === 80)).toBe(true);
  });
});

/** The direct per-pixel form that renderSample's separable passes must reproduce bit for bit. */
function renderDirect(image: DecodedImage, box: CropBox, flip: boolean, size: number, preprocessing: 'zero1' | 'minus1to1'): Float32Array {
  const { scale, offset: bias } = preprocessingAffine(preprocessing);
  const cols = bilinearTaps(box.x, box.width, size, image.width);
  const rows = bilinearTaps(box.y, box.height, size, image.height);
  const src = image.data;
  const stride = image.width * 3;
  const out = new Float32Array(size * size * 3);
  let o = 0;
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      const sx = flip ? size - 1 - ox : ox;
      for (let c = 0; c < 3; c++) {
        const at = (r: number, x: number) => src[r * stride + x * 3 + c]!;
        const top = at(rows.low[oy]!, cols.low[sx]!) + (at(rows.low[oy]!, cols.high[sx]!) - at(rows.low[oy]!, cols.low[sx]!)) * cols.weight[sx]!;
        const bottom = at(rows.high[oy]!, cols.low[sx]!) + (at(rows.high[oy]!, cols.high[sx]!) - at(rows.high[oy]!, cols.low[sx]!)) * cols.weight[sx]!;
        out[o++] = (top + (bottom - top) * rows.weight[oy]!) * scale + bias;
      }
    }
  }
  return out;
}

function noiseImage(width: number, height: number, rng: Rng): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng() * 256);
  return { data, width, height };
}

describe('separable resampling', () => {
  it('equals the direct per-pixel bilinear form bit for bit (crops, enlargements, clamped and fractional boxes, flips)', () => {
    const rng = createRng(21);
    for (let t = 0; t < 300; t++) {
      const image = noiseImage(1 + Math.floor(rng() * 40), 1 + Math.floor(rng() * 40), rng);
      const size = 1 + Math.floor(rng() * 30);
      const box: CropBox =
        t % 3 === 0
          ? { x: rng() * image.width - 2, y: rng() * image.height - 2, width: 0.5 + rng() * image.width * 1.5, height: 0.5 + rng() * image.height * 1.5 }
          : planSample(image.width, image.height, { randomResizedCrop: true, scale: [0.05, 1], horizontalFlip: false }, rng).box;
      const flip = rng() < 0.5;
      const preprocessing = t % 2 ? 'minus1to1' : 'zero1';
      const out = new Float32Array(size * size * 3 + 5);
      renderSample(image, { box, flip }, size, preprocessing, out, 5);
      expect(out.subarray(5)).toEqual(renderDirect(image, box, flip, size, preprocessing));
    }
  });

  it('gives the same pixels whatever size was rendered before (scratch buffers are reused)', () => {
    const rng = createRng(4);
    const image = noiseImage(30, 20, rng);
    const plan = { box: { x: 3, y: 2, width: 17, height: 15 }, flip: true };
    const first = new Float32Array(12 * 12 * 3);
    renderSample(image, plan, 12, 'minus1to1', first, 0);
    renderSample(image, plan, 25, 'minus1to1', new Float32Array(25 * 25 * 3), 0);
    const again = new Float32Array(12 * 12 * 3);
    renderSample(image, plan, 12, 'minus1to1', again, 0);
    expect(again).toEqual(first);
  });
});

describe('bilinearTaps', () => {
  it('uses half-pixel centres and clamps both taps to the image', () => {
    const taps = bilinearTaps(0, 4, 8, 4);
    // s = (i + 0.5) / 2 - 0.5 clamped to [0, 3]
    expect([...taps.low]).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
    expect([...taps.high]).toEqual([1, 1, 1, 2, 2, 3, 3, 3]);
    expect([...taps.weight]).toEqual([0, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0]);
  });

  it('writes into given arrays and refuses ones that are too short', () => {
    const into = { low: new Int32Array(3), high: new Int32Array(3), weight: new Float32Array(3) };
    expect(bilinearTaps(1, 3, 3, 10, into)).toBe(into);
    expect([...into.low]).toEqual([1, 2, 3]);
    expect(() => bilinearTaps(0, 4, 4, 4, into)).toThrow(RangeError);
  });
});
