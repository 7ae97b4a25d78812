/**
 * Decoded images kept in memory so that epoch 2+ (and further runs on the same data in one
 * process, e.g. `compare` over several policies) never decode a file again.
 *
 * Keyed by (path, targetSize, resize mode), because the decoded pixels depend on the network input
 * size and on how the image is fitted to it ('crop' keeps the aspect, 'squash'/'pad' do not).
 * Budget: `maxBytes` of pixel data (default DEFAULT_CACHE_BYTES = 1.5 GiB). At 224 px input an
 * image is cached at shorter side 258, about 258 x 344 x 3 = 266 kB for a 4:3 photo, so the
 * default holds ~5,900 such images (ants-bees: 398 images, ~106 MB). When the budget is full, new
 * images are simply not admitted (no eviction): with a reshuffled order every epoch, LRU would
 * evict exactly the images needed next and hit nothing, whereas a fixed resident set keeps a hit
 * rate of budget / dataset size.
 */
import type { ResizeMode } from '../schema/recipe.ts';
import type { DecodedImage } from './decode.ts';

export const DEFAULT_CACHE_BYTES = 1.5 * 1024 ** 3;

export class DecodedImageCache {
  readonly maxBytes: number;
  private readonly images = new Map<string, DecodedImage>();
  private usedBytes = 0;
  /** Images refused because the budget was full. */
  rejected = 0;

  constructor(opts: { maxBytes?: number } = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
    if (!(this.maxBytes >= 0)) throw new RangeError(`cache maxBytes must be >= 0, got ${this.maxBytes}`);
  }

  get bytes(): number {
    return this.usedBytes;
  }

  get count(): number {
    return this.images.size;
  }

  get(path: string, targetSize: number, resize: ResizeMode = 'crop'): DecodedImage | undefined {
    return this.images.get(cacheKey(path, targetSize, resize));
  }

  /** Store an image; returns false (and stores nothing) if it would exceed the byte budget. */
  set(path: string, targetSize: number, image: DecodedImage, resize: ResizeMode = 'crop'): boolean {
    const key = cacheKey(path, targetSize, resize);
    const previous = this.images.get(key);
    const delta = image.data.byteLength - (previous?.data.byteLength ?? 0);
    if (this.usedBytes + delta > this.maxBytes) {
      this.rejected++;
      return false;
    }
    this.images.set(key, image);
    this.usedBytes += delta;
    return true;
  }

  clear(): void {
    this.images.clear();
    this.usedBytes = 0;
    this.rejected = 0;
  }
}

function cacheKey(path: string, targetSize: number, resize: ResizeMode): string {
  return `${targetSize}\u0000${resize}\u0000${path}`;
}

let processCache: DecodedImageCache | null = null;

/** One cache for the whole process, used by datasets that are not given their own. */
export function sharedDecodedImageCache(): DecodedImageCache {
  processCache ??= new DecodedImageCache();
  return processCache;
}
