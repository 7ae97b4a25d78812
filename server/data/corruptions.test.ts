import { describe, expect, it } from 'vitest';
import {
  brightness,
  contrast,
  corruptImage,
  corruptionParameter,
  CORRUPTIONS,
  gaussianNoise,
  SEVERITY_PARAMETERS,
  solarize,
} from './corruptions.ts';
import type { DecodedImage } from './decode.ts';
import { createRng } from './random.ts';

function image(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  return { data, width, height };
}

const checker = image(32, 32, (x, y) => ((x >> 2) + (y >> 2)) % 2 === 0 ? [220, 200, 30] : [40, 60, 180]);

function meanAbsDiff(a: DecodedImage, b: DecodedImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

function variance(values: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i] / values.length;
  let v = 0;
  for (let i = 0; i < values.length; i++) v += (values[i] - mean) ** 2 / values.length;
  return v;
}

describe('corruption parameters', () => {
  it('has five severities for every corruption, growing harsher', () => {
    for (const name of CORRUPTIONS) expect(SEVERITY_PARAMETERS[name]).toHaveLength(5);
    expect(corruptionParameter('blur', 5)).toBe(6);
    expect(corruptionParameter('jpeg', 1)).toBe(25);
  });

  it('refuses unknown names and severities outside 1..5, naming the choices', () => {
    expect(() => corruptionParameter('fog', 1)).toThrow(/unknown corruption 'fog'.*gaussian-noise, blur/);
    expect(() => corruptionParameter('blur', 0)).toThrow(/severity must be an integer from 1 to 5, got 0/);
    expect(() => corruptionParameter('blur', 2.5)).toThrow(/severity/);
  });
});

describe('pixel corruptions', () => {
  it('contrast pulls each channel toward its own image mean by the factor', () => {
    // channel means: r (0+100)/2 = 50, g 150, b 100; factor 0.4: 50 ± 50·0.4, ...
    const two = image(2, 1, (x) => (x === 0 ? [0, 100, 200] : [100, 200, 0]));
    expect(Array.from(contrast(two, 0.4).data)).toEqual([30, 130, 140, 70, 170, 60]);
  });

  it('brightness raises the HSV value and keeps hue and saturation', () => {
    // V = 100/255 -> 151/255 (amount 0.2 = 51/255): every channel scales by 1.51; black becomes grey 51; white stays
    const three = image(3, 1, (x) => (x === 0 ? [100, 40, 0] : x === 1 ? [0, 0, 0] : [255, 255, 255]));
    expect(Array.from(brightness(three, 0.2).data)).toEqual([151, 60, 0, 51, 51, 51, 255, 255, 255]);
  });

  it('invert solarises above the threshold; threshold 0 is the full inversion', () => {
    const two = image(2, 1, (x) => (x === 0 ? [0, 100, 200] : [127, 128, 255]));
    expect(Array.from(solarize(two, 128).data)).toEqual([0, 100, 55, 127, 127, 0]);
    expect(Array.from(solarize(two, 0).data)).toEqual([255, 155, 55, 128, 127, 0]);
  });

  it('gaussian noise has the stated sigma and is the same for the same seed and key', async () => {
    const grey = image(64, 64, () => [128, 128, 128]);
    const noisy = gaussianNoise(grey, 0.08, createRng(3));
    const diffs = Array.from(noisy.data, (v) => (v - 128) / 255);
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    expect(Math.abs(mean)).toBeLessThan(0.003);
    expect(Math.sqrt(variance(diffs))).toBeCloseTo(0.08, 2);

    const a = await corruptImage(grey, 'gaussian-noise', 3, { seed: 1, key: 'ants/a.jpg' });
    const b = await corruptImage(grey, 'gaussian-noise', 3, { seed: 1, key: 'ants/a.jpg' });
    const otherKey = await corruptImage(grey, 'gaussian-noise', 3, { seed: 1, key: 'ants/b.jpg' });
    const otherSeed = await corruptImage(grey, 'gaussian-noise', 3, { seed: 2, key: 'ants/a.jpg' });
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(Buffer.from(a.data).equals(Buffer.from(otherKey.data))).toBe(false);
    expect(Buffer.from(a.data).equals(Buffer.from(otherSeed.data))).toBe(false);
  });

  it('blur smooths a checkerboard more at higher severity and keeps its size and mean', async () => {
    const mild = await corruptImage(checker, 'blur', 1, { seed: 0, key: '' });
    const harsh = await corruptImage(checker, 'blur', 5, { seed: 0, key: '' });
    expect([mild.width, mild.height]).toEqual([32, 32]);
    const red = (im: DecodedImage) => im.data.filter((_, i) => i % 3 === 0);
    expect(variance(red(harsh))).toBeLessThan(variance(red(mild)));
    expect(variance(red(mild))).toBeLessThan(variance(red(checker)));
    const meanOf = (v: Uint8Array) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(Math.abs(meanOf(red(harsh)) - meanOf(red(checker)))).toBeLessThan(6);
  });

  it('jpeg keeps the size and loses more detail at lower quality', async () => {
    const mild = await corruptImage(checker, 'jpeg', 1, { seed: 0, key: '' });
    const harsh = await corruptImage(checker, 'jpeg', 5, { seed: 0, key: '' });
    expect([harsh.width, harsh.height]).toEqual([32, 32]);
    expect(meanAbsDiff(mild, checker)).toBeGreaterThan(0);
    expect(meanAbsDiff(harsh, checker)).toBeGreaterThan(meanAbsDiff(mild, checker));
  });

  it('every corruption leaves its input unchanged', async () => {
    const copy = Uint8Array.from(checker.data);
    for (const name of CORRUPTIONS) await corruptImage(checker, name, 5, { seed: 0, key: 'x' });
    expect(Buffer.from(checker.data).equals(Buffer.from(copy))).toBe(true);
  });
});
