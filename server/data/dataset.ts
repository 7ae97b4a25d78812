/**
 * A labelled list of image files served as NHWC float batches, decoded once and cached.
 *
 * Order and randomness: the epoch order is a Fisher–Yates shuffle seeded by hashSeed(seed, epoch)
 * (or item order without shuffle); each sample's crop/flip uses its own stream seeded by
 * hashSeed(seed, epoch, itemIndex), so the pixels of a batch do not depend on decode timing,
 * concurrency or cache state.
 * Loading: up to `decodeConcurrency` (default 4) decodes run at once, in order, up to two batches
 * ahead of the batch being consumed: while the caller trains on batch k, batch k+1 is decoding.
 * Failures: a file that does not decode is not yielded; it is recorded once in `skipped` (and
 * passed to `onSkipped`) and not tried again in later epochs. Batches are filled from the next
 * good files, so every batch but the last has exactly batchSize images.
 */
import type { Preprocessing } from '../schema/preprocessing.ts';
import type { ResizeMode } from '../schema/recipe.ts';
import { planSample, renderSample, type AugmentOptions } from './augment.ts';
import { DecodedImageCache, sharedDecodedImageCache } from './cache.ts';
import { decodeImage, ImageDecodeError, type DecodedImage } from './decode.ts';
import type { DiskImageCache } from './disk-cache.ts';
import { createRng, hashSeed, shuffleInPlace } from './random.ts';
import type { ImageItem, SkippedFile } from './scan.ts';

export { DecodedImageCache, DEFAULT_CACHE_BYTES, sharedDecodedImageCache } from './cache.ts';

export interface ImageDatasetOptions {
  items: ImageItem[];
  /** Network input size: batches are imageSize x imageSize x 3. */
  imageSize: number;
  preprocessing: Preprocessing;
  /** null: eval transform (the whole decoded square, or its center crop for 'crop'). */
  augment: AugmentOptions | null;
  /** how an image is fitted to imageSize before cropping (see decode.ts); default 'crop' */
  resize?: ResizeMode;
  /** Defaults to the process-wide sharedDecodedImageCache(). */
  cache?: DecodedImageCache;
  /** Decoded images on disk, shared between processes (disk-cache.ts); consulted after `cache`. Default none. */
  diskCache?: DiskImageCache | null;
  decodeConcurrency?: number;
  /** Decompression-bomb guard passed to decodeImage (default 50 megapixels). */
  maxInputPixels?: number;
  /** Called once per file that fails to decode, when it fails. */
  onSkipped?: (file: SkippedFile) => void;
}

export interface BatchOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  epoch: number;
}

export interface ImageBatch {
  /** NHWC, count x imageSize x imageSize x 3, already preprocessed. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  paths: string[];
  /** position of each sample in the dataset's `items` */
  indices: number[];
}

export interface DecodeStats {
  /** Files handed to the decoder (successful or not). */
  decodes: number;
  cacheHits: number;
  /** Decodes read back from the disk cache instead. */
  diskHits: number;
  failures: number;
}

export class ImageDataset {
  readonly items: readonly ImageItem[];
  readonly imageSize: number;
  readonly preprocessing: Preprocessing;
  readonly augment: AugmentOptions | null;
  readonly resize: ResizeMode;
  readonly cache: DecodedImageCache;
  readonly skipped: SkippedFile[] = [];
  readonly decodeStats: DecodeStats = { decodes: 0, cacheHits: 0, diskHits: 0, failures: 0 };
  readonly diskCache: DiskImageCache | null;
  private readonly decodeConcurrency: number;
  private readonly maxInputPixels: number | undefined;
  private readonly onSkipped: ((file: SkippedFile) => void) | undefined;
  private readonly failed = new Set<string>();

  constructor(opts: ImageDatasetOptions) {
    if (!Number.isInteger(opts.imageSize) || opts.imageSize < 1) throw new RangeError(`imageSize must be a positive integer, got ${opts.imageSize}`);
    if (opts.augment) {
      const [low, high] = opts.augment.scale;
      if (!(low > 0 && low <= high && high <= 1)) throw new RangeError(`augment.scale must satisfy 0 < low <= high <= 1, got [${low}, ${high}]`);
    }
    this.items = opts.items;
    this.imageSize = opts.imageSize;
    this.preprocessing = opts.preprocessing;
    this.augment = opts.augment;
    this.resize = opts.resize ?? 'crop';
    this.cache = opts.cache ?? sharedDecodedImageCache();
    this.diskCache = opts.diskCache ?? null;
    this.decodeConcurrency = Math.max(1, Math.floor(opts.decodeConcurrency ?? 4));
    this.maxInputPixels = opts.maxInputPixels;
    this.onSkipped = opts.onSkipped;
  }

  /** Items not (yet) known to be undecodable. */
  get size(): number {
    return this.items.length - this.failed.size;
  }

  async *batches(opts: BatchOptions): AsyncGenerator<ImageBatch> {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    const order = this.epochOrder(opts);

    const prefetch = new OrderedPrefetch(order.length, Math.max(2 * opts.batchSize, this.decodeConcurrency), this.decodeConcurrency, (k) =>
      this.load(order[k]!),
    );
    try {
      let pending: Array<{ index: number; image: DecodedImage }> = [];
      for (let k = 0; k < order.length; k++) {
        const image = await prefetch.take(k);
        if (image) pending.push({ index: order[k]!, image });
        if (pending.length === opts.batchSize) {
          yield this.assemble(pending, opts);
          pending = [];
        }
      }
      if (pending.length) yield this.assemble(pending, opts);
    } finally {
      prefetch.stop();
    }
  }

  /**
   * Item indices in the order `batches(opts)` visits them (files known to be undecodable left
   * out, unless `leaveOutKnownFailures` is false: the order a fresh dataset would shuffle). When
   * every listed file decodes, batch k of `batches(opts)` is order[k*batchSize ...].
   */
  epochOrder(opts: Pick<BatchOptions, 'shuffle' | 'seed' | 'epoch'>, leaveOutKnownFailures = true): number[] {
    const order: number[] = [];
    for (let i = 0; i < this.items.length; i++) if (!leaveOutKnownFailures || !this.failed.has(this.items[i]!.path)) order.push(i);
    if (opts.shuffle) shuffleInPlace(order, createRng(hashSeed(opts.seed, opts.epoch)));
    return order;
  }

  /** The batch of the given items, rendered exactly as `batches(opts)` renders them (undecodable ones left out). */
  async renderBatch(indices: number[], opts: Pick<BatchOptions, 'seed' | 'epoch'>): Promise<ImageBatch> {
    const samples: Array<{ index: number; image: DecodedImage }> = [];
    for (const index of indices) {
      const image = await this.load(index);
      if (image) samples.push({ index, image });
    }
    return this.assemble(samples, { batchSize: indices.length, shuffle: false, ...opts });
  }

  /** Decoded image of item `index` from cache or disk; null (and recorded) if it cannot be decoded. */
  async load(index: number): Promise<DecodedImage | null> {
    const item = this.items[index];
    if (!item) throw new RangeError(`no item ${index}`);
    const cached = this.cache.get(item.path, this.imageSize, this.resize);
    if (cached) {
      this.decodeStats.cacheHits++;
      return cached;
    }
    if (this.failed.has(item.path)) return null;
    const decodeOptions = { targetSize: this.imageSize, maxInputPixels: this.maxInputPixels, resize: this.resize };
    const fromDisk = await this.diskCache?.get(item.path, decodeOptions);
    if (fromDisk) {
      this.decodeStats.diskHits++;
      this.cache.set(item.path, this.imageSize, fromDisk);
      return fromDisk;
    }
    this.decodeStats.decodes++;
    try {
      const image = await decodeImage(item.path, decodeOptions);
      this.cache.set(item.path, this.imageSize, image, this.resize);
      await this.diskCache?.put(item.path, decodeOptions, image);
      return image;
    } catch (error) {
      this.decodeStats.failures++;
      const reason = error instanceof ImageDecodeError ? error.reason : `unreadable file: ${(error as Error).message}`;
      this.recordSkip({ path: item.path, reason });
      return null;
    }
  }

  private recordSkip(file: SkippedFile): void {
    if (this.failed.has(file.path)) return;
    this.failed.add(file.path);
    this.skipped.push(file);
    this.onSkipped?.(file);
  }

  private assemble(samples: Array<{ index: number; image: DecodedImage }>, opts: BatchOptions): ImageBatch {
    const sampleLength = this.imageSize * this.imageSize * 3;
    const images = new Float32Array(samples.length * sampleLength);
    const labels = new Int32Array(samples.length);
    const paths: string[] = [];
    const indices: number[] = [];
    samples.forEach(({ index, image }, slot) => {
      const item = this.items[index]!;
      const rng = createRng(hashSeed(opts.seed, opts.epoch, index));
      const plan = planSample(image.width, image.height, this.augment, rng);
      renderSample(image, plan, this.imageSize, this.preprocessing, images, slot * sampleLength);
      labels[slot] = item.label;
      paths.push(item.path);
      indices.push(index);
    });
    return { images, labels, count: samples.length, paths, indices };
  }
}

/**
 * Runs task(0..n-1) with at most `concurrency` in flight and never more than `lookahead` positions
 * past the last one taken; results are taken in order.
 */
class OrderedPrefetch<T> {
  private readonly results: Array<Promise<T> | undefined>;
  private nextToStart = 0;
  private nextToTake = 0;
  private active = 0;
  private stopped = false;
  private readonly waiters = new Map<number, () => void>();

  constructor(
    private readonly n: number,
    private readonly lookahead: number,
    private readonly concurrency: number,
    private readonly task: (k: number) => Promise<T>,
  ) {
    this.results = new Array(n);
    this.pump();
  }

  async take(k: number): Promise<T> {
    this.nextToTake = k + 1;
    this.pump();
    if (!this.results[k]) await new Promise<void>((resolve) => this.waiters.set(k, resolve));
    const result = this.results[k]!;
    this.results[k] = undefined; // let the image go once the consumer has it
    return result;
  }

  stop(): void {
    this.stopped = true;
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.nextToStart < this.n && this.nextToStart < this.nextToTake + this.lookahead) {
      const k = this.nextToStart++;
      this.active++;
      const promise = this.task(k).finally(() => {
        this.active--;
        this.pump();
      });
      promise.catch(() => {}); // surfaced by take(); avoid an unhandled rejection if never taken
      this.results[k] = promise;
      this.waiters.get(k)?.();
      this.waiters.delete(k);
    }
  }
}
