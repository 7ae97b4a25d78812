/**
 * Downloading a tfjs layers model (model.json + shards) into a cache folder. The files land in a
 * temporary sibling folder first and are renamed into place only once all are fetched and verified,
 * so a crash or a bad byte never leaves a half-written model where load.ts would pick it up.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BackboneError } from './errors.ts';
import { MODEL_JSON } from '../model/format.ts';
import { checkSha256, checkShardSizes, parseModelJson, sha256Hex, weightFiles } from './model-files.ts';
import { SOURCE_FILE } from './registry.ts';

export interface DownloadOptions {
  /** file -> sha256; null: files are not verified (a warning is returned) */
  sha256: Record<string, string> | null;
  /** per-file timeout */
  timeoutMs?: number;
  /** refuse downloads larger than this in total (default 1 GiB) */
  maxBytes?: number;
  fetchImpl?: typeof fetch;
}

export interface DownloadResult {
  dir: string;
  warnings: string[];
}

async function fetchBytes(url: string, opts: DownloadOptions, budget: { left: number }): Promise<Uint8Array> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await fetchImpl(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000), redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new BackboneError('download-failed', `could not fetch ${url}: ${(err as Error).message}${detail && detail !== (err as Error).message ? ` (${detail})` : ''}`);
  }
  if (!res.ok) throw new BackboneError('download-failed', `could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > budget.left) {
    throw new BackboneError('download-failed', `refusing ${url}: ${declared} bytes exceeds the download limit`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  budget.left -= bytes.byteLength;
  if (budget.left < 0) throw new BackboneError('download-failed', `refusing ${url}: the model exceeds the download limit`);
  return bytes;
}

/**
 * Fetch `modelJsonUrl` and every shard it lists (resolved relative to it) into `targetDir`.
 * If `targetDir` already holds a model (another process finished first), that one is kept.
 */
export async function downloadModel(modelJsonUrl: string, targetDir: string, opts: DownloadOptions): Promise<DownloadResult> {
  const warnings: string[] = [];
  const budget = { left: opts.maxBytes ?? 1024 ** 3 };
  const parent = path.dirname(targetDir);
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(targetDir)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    const jsonBytes = await fetchBytes(modelJsonUrl, opts, budget);
    const json = parseModelJson(Buffer.from(jsonBytes).toString('utf8'), modelJsonUrl);
    const sizes = new Map<string, number>();
    const hashes: Record<string, string> = { [MODEL_JSON]: sha256Hex(jsonBytes) };
    if (opts.sha256) checkSha256(MODEL_JSON, jsonBytes, opts.sha256, modelJsonUrl, true);
    await fs.writeFile(path.join(tmp, MODEL_JSON), jsonBytes);
    for (const file of weightFiles(json, modelJsonUrl)) {
      const url = new URL(file, modelJsonUrl).toString();
      const bytes = await fetchBytes(url, opts, budget);
      if (opts.sha256) checkSha256(file, bytes, opts.sha256, url, true);
      sizes.set(file, bytes.byteLength);
      hashes[file] = sha256Hex(bytes);
      await fs.mkdir(path.dirname(path.join(tmp, file)), { recursive: true });
      await fs.writeFile(path.join(tmp, file), bytes);
    }
    checkShardSizes(json, sizes, modelJsonUrl);
    if (!opts.sha256) warnings.push(`no sha256 is recorded for ${modelJsonUrl}; the downloaded files were not verified`);
    const source = { url: modelJsonUrl, downloadedAt: new Date().toISOString(), verified: opts.sha256 !== null, sha256: hashes };
    await fs.writeFile(path.join(tmp, SOURCE_FILE), JSON.stringify(source, null, 2));
    try {
      await fs.rename(tmp, targetDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
      // Someone else completed the same download first: keep theirs.
      await fs.rm(tmp, { recursive: true, force: true });
    }
    return { dir: targetDir, warnings };
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
