/**
 * Small seeded randomness shared by the data pipeline and anyone else who needs reproducible draws
 * (splits, shuffles, augmentation). Math.random is never used where a run must be reproducible.
 */

/** A generator of uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a 32-bit state PRNG (Tommy Ettinger's), fast, good enough for shuffles and
 * augmentation, and identical on every platform. The seed is reduced to 32 bits (`seed >>> 0`
 * after mixing), so seeds that differ only above 2^32 give the same stream.
 */
export function createRng(seed: number): Rng {
  let state = hashSeed(seed);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mix any number of integers into one 32-bit seed (murmur3 finaliser per part), so that e.g.
 * (seed, epoch, index) gives independent streams: hashSeed(1, 2) !== hashSeed(2, 1).
 * Non-integer or huge parts are folded: low 32 bits and the bits above 2^32 both count.
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    const value = Number.isFinite(part) ? Math.trunc(part) : 0;
    const low = value >>> 0;
    const high = Math.floor(value / 4294967296) >>> 0;
    h = mix32(h ^ low);
    h = mix32(h ^ high);
  }
  return h >>> 0;
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Fisher–Yates shuffle in place; returns the same array for chaining. */
export function shuffleInPlace<T>(array: T[], rng: Rng): T[] {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = array[i]!;
    array[i] = array[j]!;
    array[j] = tmp;
  }
  return array;
}

/** Uniform float in [low, high). */
export function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng();
}

/** Uniform integer in [low, high] (both inclusive). */
export function randomInt(rng: Rng, low: number, high: number): number {
  return low + Math.floor(rng() * (high - low + 1));
}
