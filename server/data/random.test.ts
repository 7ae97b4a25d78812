import { describe, expect, it } from 'vitest';
import { createRng, hashSeed, randomInt, shuffleInPlace } from './random.ts';

describe('createRng', () => {
  it('gives the same stream for the same seed and a different one for another seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const streamA = Array.from({ length: 20 }, a);
    expect(Array.from({ length: 20 }, b)).toEqual(streamA);
    expect(Array.from({ length: 20 }, c)).not.toEqual(streamA);
  });

  it('draws uniform floats in [0, 1)', () => {
    const rng = createRng(7);
    const draws = Array.from({ length: 20000 }, rng);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const lowHalf = draws.filter((v) => v < 0.5).length / draws.length;
    expect(Math.abs(lowHalf - 0.5)).toBeLessThan(0.02);
  });
});

describe('hashSeed', () => {
  it('depends on the order and the number of parts', () => {
    expect(hashSeed(1, 2)).not.toBe(hashSeed(2, 1));
    expect(hashSeed(1, 2)).not.toBe(hashSeed(1, 2, 0));
    expect(hashSeed(1, 2, 3)).toBe(hashSeed(1, 2, 3));
    expect(hashSeed(2 ** 40)).not.toBe(hashSeed(0));
  });
});

describe('shuffleInPlace', () => {
  it('permutes in place, reproducibly for a seed', () => {
    const values = Array.from({ length: 50 }, (_, i) => i);
    const a = shuffleInPlace([...values], createRng(3));
    const b = shuffleInPlace([...values], createRng(3));
    const c = shuffleInPlace([...values], createRng(4));
    expect(a).toEqual(b);
    expect(a).not.toEqual(values);
    expect(c).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(values);
  });

  it('puts every element at every position about equally often', () => {
    const rng = createRng(11);
    const counts = [0, 0, 0, 0];
    for (let t = 0; t < 4000; t++) counts[shuffleInPlace([0, 1, 2, 3], rng).indexOf(0)]!++;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(120);
  });
});

describe('randomInt', () => {
  it('covers both inclusive ends', () => {
    const rng = createRng(5);
    const seen = new Set(Array.from({ length: 500 }, () => randomInt(rng, 2, 5)));
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
  });
});
