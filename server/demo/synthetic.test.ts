import { describe, expect, it } from 'vitest';
import { imageSeed, renderBatch, renderShapeImage, SHAPE_CLASSES, SOURCE_CLASSES, TARGET_CLASSES } from './synthetic.ts';

function meanAndStd(values: Uint8Array): { mean: number; std: number } {
  let sum = 0;
  let sumSq = 0;
  for (const v of values) {
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(sumSq / values.length - mean * mean) };
}

describe('synthetic shapes', () => {
  it('renders the same bytes for the same seed and different bytes for another seed', () => {
    for (const style of ['studio', 'night'] as const) {
      const a = renderShapeImage('star', style, 1234);
      const b = renderShapeImage('star', style, 1234);
      const c = renderShapeImage('star', style, 1235);
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
      expect(Buffer.from(a.data).equals(Buffer.from(c.data))).toBe(false);
    }
  });

  it('has disjoint pretraining and target label sets', () => {
    expect(SOURCE_CLASSES.filter((c) => (TARGET_CLASSES as readonly string[]).includes(c))).toEqual([]);
    expect(new Set(SHAPE_CLASSES).size).toBe(SOURCE_CLASSES.length + TARGET_CLASSES.length);
  });

  it('renders every class in both styles as RGB of the requested size, with a visible shape', () => {
    for (const shape of SHAPE_CLASSES) {
      for (const style of ['studio', 'night'] as const) {
        const image = renderShapeImage(shape, style, imageSeed(0, style, shape, 0), 48);
        expect(image.width).toBe(48);
        expect(image.data.length).toBe(48 * 48 * 3);
        // A shape on a background is not a flat image: pixel spread well above the sensor noise alone.
        expect(meanAndStd(image.data).std).toBeGreaterThan(style === 'studio' ? 15 : 5);
      }
    }
  });

  it('the night style is darker and lower-contrast than the studio style, with a blue cast', () => {
    const studio = renderBatch(TARGET_CLASSES, 'studio', 5, 3, 'stats');
    const night = renderBatch(TARGET_CLASSES, 'night', 5, 3, 'stats');
    const s = meanAndStd(studio.pixels);
    const n = meanAndStd(night.pixels);
    expect(n.mean).toBeLessThan(s.mean * 0.6);
    expect(n.std).toBeLessThan(s.std * 0.7);
    const channelMean = (pixels: Uint8Array, c: number) => {
      let sum = 0;
      for (let i = c; i < pixels.length; i += 3) sum += pixels[i];
      return sum / (pixels.length / 3);
    };
    expect(channelMean(night.pixels, 2)).toBeGreaterThan(channelMean(night.pixels, 0) * 1.5);
  });

  it('renderBatch is class-balanced and class-major', () => {
    const { labels, pixels, size } = renderBatch(SOURCE_CLASSES, 'studio', 4, 9, 'train', 32);
    expect(size).toBe(32);
    expect(pixels.length).toBe(SOURCE_CLASSES.length * 4 * 32 * 32 * 3);
    const counts = SOURCE_CLASSES.map((_, k) => labels.filter((l) => l === k).length);
    expect(counts).toEqual(SOURCE_CLASSES.map(() => 4));
    expect(labels.slice(0, 4)).toEqual([0, 0, 0, 0]);
    // The third image of class 'square' is exactly renderShapeImage with its derived seed.
    const expected = renderShapeImage('square', 'studio', imageSeed(9, 'train', 'square', 2), 32).data;
    const offset = (1 * 4 + 2) * expected.length;
    expect(Buffer.from(pixels.subarray(offset, offset + expected.length)).equals(Buffer.from(expected))).toBe(true);
  });

  // The RNG itself (uniformity, streams) is tested with server/data/random.ts.
  it('seeds differ across dataset seeds, splits, classes and indices', () => {
    const seeds = new Set<number>();
    for (const datasetSeed of [0, 1]) {
      for (const split of ['train', 'val']) for (const shape of TARGET_CLASSES) for (let i = 0; i < 50; i++) seeds.add(imageSeed(datasetSeed, split, shape, i));
    }
    expect(seeds.size).toBe(2 * 2 * TARGET_CLASSES.length * 50);
  });

  it('rejects unknown classes and styles', () => {
    expect(() => renderShapeImage('blob' as never, 'studio', 1)).toThrow(/unknown shape/);
    expect(() => renderShapeImage('circle', 'sepia' as never, 1)).toThrow(/unknown domain style/);
  });
});
