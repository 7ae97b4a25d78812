import { describe, expect, it } from 'vitest';
import { DecodedImageCache, DEFAULT_CACHE_BYTES, sharedDecodedImageCache } from './cache.ts';
import type { DecodedImage } from './decode.ts';

const image = (bytes: number): DecodedImage => ({ data: new Uint8Array(bytes), width: bytes / 3, height: 1 });

describe('DecodedImageCache', () => {
  it('keys by path and target size', () => {
    const cache = new DecodedImageCache();
    const a = image(30);
    cache.set('/x.png', 224, a);
    expect(cache.get('/x.png', 224)).toBe(a);
    expect(cache.get('/x.png', 128)).toBeUndefined();
    expect(cache.get('/y.png', 224)).toBeUndefined();
    expect(cache.bytes).toBe(30);
    expect(cache.count).toBe(1);
  });

  it('refuses new images beyond the byte budget and keeps the resident ones', () => {
    const cache = new DecodedImageCache({ maxBytes: 100 });
    expect(cache.set('/a', 1, image(60))).toBe(true);
    expect(cache.set('/b', 1, image(60))).toBe(false);
    expect(cache.set('/c', 1, image(30))).toBe(true);
    expect(cache.bytes).toBe(90);
    expect(cache.rejected).toBe(1);
    expect(cache.get('/a', 1)).toBeDefined();
    expect(cache.get('/b', 1)).toBeUndefined();
    // Replacing an entry counts only the difference.
    expect(cache.set('/a', 1, image(63))).toBe(true);
    expect(cache.bytes).toBe(93);
    cache.clear();
    expect([cache.bytes, cache.count]).toEqual([0, 0]);
  });

  it('has a 1.5 GiB default and one shared instance per process', () => {
    expect(new DecodedImageCache().maxBytes).toBe(DEFAULT_CACHE_BYTES);
    expect(DEFAULT_CACHE_BYTES).toBe(1.5 * 1024 ** 3);
    expect(sharedDecodedImageCache()).toBe(sharedDecodedImageCache());
  });
});
