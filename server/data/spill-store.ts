/**
 * Float32 arrays held outside the tfjs/wasm heap under a byte budget, written to disk past it.
 *
 * Why: walks over a whole data set (single-walk BN recalibration, stats/activation-walk.ts; the
 * frozen-prefix feature cache, train/frozen-prefix.ts) keep one activation per image between
 * passes. The wasm heap only grows and is capped at 4 GiB, so those arrays live in ordinary JS
 * memory; and a data set whose activations exceed the budget still works, at disk speed.
 *
 * Admission is first come, first kept (no eviction), like the decoded-image cache (cache.ts):
 * every entry is read once per pass in a fixed order, where LRU would evict exactly the entry
 * needed next. Spilled entries are one file each in a private temporary folder (created on the
 * first spill, removed by `close()`); values read back are bit-identical.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Default budget of in-memory bytes (1 GiB); override per use or with the variable named by the caller. */
export const DEFAULT_SPILL_BUDGET_BYTES = 1024 ** 3;

/**
 * A budget in bytes from an environment variable given in MiB (e.g. BNLAB_WALK_MEMORY_MB=512),
 * or `fallback` when unset. Bad values fail loudly, naming the variable.
 */
export function budgetFromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const mib = Number(raw);
  if (!Number.isFinite(mib) || mib < 0) throw new Error(`${name} must be a number of MiB >= 0, got '${raw}'`);
  return Math.floor(mib * 1024 * 1024);
}

export interface SpillStoreOptions {
  /** bytes kept in memory before entries go to disk (default DEFAULT_SPILL_BUDGET_BYTES) */
  budgetBytes?: number;
  /** parent folder of the spill folder (default os.tmpdir()) */
  dir?: string;
}

export class SpillStore {
  readonly budgetBytes: number;
  private readonly parent: string;
  private readonly memory = new Map<string, Float32Array>();
  private readonly disk = new Map<string, { file: string; length: number }>();
  private folder: string | null = null;
  private memoryBytes = 0;
  private nextFile = 0;
  /** peak bytes held in memory / on disk, for reports */
  peakMemoryBytes = 0;
  diskBytes = 0;
  peakDiskBytes = 0;

  constructor(opts: SpillStoreOptions = {}) {
    this.budgetBytes = opts.budgetBytes ?? DEFAULT_SPILL_BUDGET_BYTES;
    if (!(this.budgetBytes >= 0)) throw new RangeError(`spill budget must be >= 0 bytes, got ${this.budgetBytes}`);
    this.parent = opts.dir ?? os.tmpdir();
  }

  get bytesInMemory(): number {
    return this.memoryBytes;
  }

  get spilled(): boolean {
    return this.peakDiskBytes > 0;
  }

  has(key: string): boolean {
    return this.memory.has(key) || this.disk.has(key);
  }

  /** Store `data` under `key` (replacing any earlier value). The store keeps the array itself: do not modify it afterwards. */
  put(key: string, data: Float32Array): void {
    this.delete(key);
    if (this.memoryBytes + data.byteLength <= this.budgetBytes) {
      this.memory.set(key, data);
      this.memoryBytes += data.byteLength;
      this.peakMemoryBytes = Math.max(this.peakMemoryBytes, this.memoryBytes);
      return;
    }
    const file = path.join(this.spillFolder(), `${this.nextFile++}.f32`);
    fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.disk.set(key, { file, length: data.length });
    this.diskBytes += data.byteLength;
    this.peakDiskBytes = Math.max(this.peakDiskBytes, this.diskBytes);
  }

  /** The array stored under `key`; throws when there is none. */
  get(key: string): Float32Array {
    const held = this.memory.get(key);
    if (held) return held;
    const spilled = this.disk.get(key);
    if (!spilled) throw new Error(`spill store: nothing stored under '${key}'`);
    const bytes = fs.readFileSync(spilled.file);
    if (bytes.byteLength !== spilled.length * 4) throw new Error(`spill file ${spilled.file} has ${bytes.byteLength} bytes, expected ${spilled.length * 4}`);
    // readFileSync may return a view into a shared pool: copy into an array of our own.
    const out = new Float32Array(spilled.length);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  delete(key: string): void {
    const held = this.memory.get(key);
    if (held) {
      this.memoryBytes -= held.byteLength;
      this.memory.delete(key);
    }
    const spilled = this.disk.get(key);
    if (spilled) {
      fs.rmSync(spilled.file, { force: true });
      this.diskBytes -= spilled.length * 4;
      this.disk.delete(key);
    }
  }

  /** Drop everything and remove the spill folder. */
  close(): void {
    this.memory.clear();
    this.disk.clear();
    this.memoryBytes = 0;
    this.diskBytes = 0;
    if (this.folder) fs.rmSync(this.folder, { recursive: true, force: true });
    this.folder = null;
  }

  private spillFolder(): string {
    this.folder ??= fs.mkdtempSync(path.join(this.parent, 'bnlab-spill-'));
    return this.folder;
  }
}
