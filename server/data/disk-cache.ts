/**
 * Decoded images kept on disk, shared by every bnlab process on the machine.
 *
 * Why: each dashboard job runs in a fresh child process, so the in-memory DecodedImageCache
 * (cache.ts) starts empty every time and a 5-seed x 5-policy comparison decodes its data set 25
 * times. Reading back the decoded pixels is a plain file read, ~10x cheaper than JPEG decoding
 * plus a lanczos resize.
 *
 * Key: sha256 of the file's identity (absolute path, size, mtime) and of everything that changes
 * the decoded pixels: the target size (the decode resizes to decodedShorterSide(targetSize)), the
 * decompression-bomb limit and the libvips version; preprocessing (pixel scaling) and augmentation
 * are applied later, at render time, so one entry serves every recipe. A file that is edited gets
 * a new mtime and therefore a new key; old entries are never read again (no eviction: remove the
 * folder to reclaim space).
 * Format: 'BNLD', format version, width, height (uint32 little-endian), then width*height*3 RGB
 * bytes. Writes go to a temporary file in the same folder, renamed into place, so a concurrent
 * reader sees a whole entry or none; an entry of the wrong length or magic is treated as missing.
 * Location: <BNLAB_CACHE_DIR>/decoded-images (default ~/.cache/bnlab/decoded-images);
 * BNLAB_DISK_IMAGE_CACHE=0 turns it off.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ResizeMode } from '../schema/recipe.ts';
import sharp from 'sharp';
import { DEFAULT_MAX_INPUT_PIXELS, type DecodedImage } from './decode.ts';

const MAGIC = 0x444c4e42; // 'BNLD' little-endian
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;

export interface DiskCacheKeyOptions {
  targetSize: number;
  maxInputPixels?: number;
  /** how the image was fitted to targetSize (decode.ts); part of the key */
  resize?: ResizeMode;
}

export class DiskImageCache {
  /** entries read back / written / unusable (wrong length or magic) in this process */
  readonly stats = { hits: 0, misses: 0, writes: 0, invalid: 0 };

  constructor(readonly dir: string) {}

  /** The cached decode of `file`, or null when there is none for its current size and mtime. */
  async get(file: string, opts: DiskCacheKeyOptions): Promise<DecodedImage | null> {
    const entry = await this.entryPath(file, opts);
    if (!entry) return null;
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(entry);
    } catch {
      this.stats.misses++;
      return null;
    }
    const decoded = parseEntry(bytes);
    if (!decoded) {
      this.stats.invalid++;
      return null;
    }
    this.stats.hits++;
    return decoded;
  }

  /** Store the decode of `file` (atomic: temporary file + rename). Errors are swallowed: the cache is an optimisation. */
  async put(file: string, opts: DiskCacheKeyOptions, image: DecodedImage): Promise<void> {
    const entry = await this.entryPath(file, opts);
    if (!entry) return;
    const header = new Uint32Array([MAGIC, FORMAT_VERSION, image.width, image.height]);
    const temp = `${entry}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.mkdir(path.dirname(entry), { recursive: true });
      await fs.writeFile(temp, Buffer.concat([new Uint8Array(header.buffer), image.data]));
      await fs.rename(temp, entry);
      this.stats.writes++;
    } catch {
      await fs.rm(temp, { force: true }).catch(() => {});
    }
  }

  /** Where the entry for `file` as it is now lives; null when the file cannot be stat'ed. */
  async entryPath(file: string, opts: DiskCacheKeyOptions): Promise<string | null> {
    const absolute = path.resolve(file);
    let stat;
    try {
      stat = await fs.stat(absolute, { bigint: true });
    } catch {
      return null;
    }
    const identity = JSON.stringify({
      format: FORMAT_VERSION,
      path: absolute,
      size: String(stat.size),
      mtimeNs: String(stat.mtimeNs),
      targetSize: opts.targetSize,
      resize: opts.resize ?? 'crop',
      maxInputPixels: opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS,
      vips: sharp.versions.vips,
    });
    const key = createHash('sha256').update(identity).digest('hex');
    return path.join(this.dir, key.slice(0, 2), `${key}.rgb`);
  }
}

function parseEntry(bytes: Buffer): DecodedImage | null {
  if (bytes.length < HEADER_BYTES) return null;
  const magic = bytes.readUInt32LE(0);
  const version = bytes.readUInt32LE(4);
  const width = bytes.readUInt32LE(8);
  const height = bytes.readUInt32LE(12);
  if (magic !== MAGIC || version !== FORMAT_VERSION || bytes.length !== HEADER_BYTES + width * height * 3) return null;
  return { data: new Uint8Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, width * height * 3), width, height };
}

/** The machine-wide cache under `cacheDir` (config.cacheDir = BNLAB_CACHE_DIR), or null when BNLAB_DISK_IMAGE_CACHE=0. */
export function diskImageCache(cacheDir: string, env: NodeJS.ProcessEnv = process.env): DiskImageCache | null {
  if (env.BNLAB_DISK_IMAGE_CACHE === '0') return null;
  return new DiskImageCache(path.join(cacheDir, 'decoded-images'));
}
