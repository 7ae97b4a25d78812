/**
 * Teachable Machine image projects: the export folder holds model.json + weights.bin (a tfjs layers
 * model: MobileNet cut at its last feature layer + pooling, then the user's small dense head) and
 * metadata.json (labels in output order, imageSize, versions). The @teachablemachine/image library
 * centre-crops to a square, resizes to imageSize and scales pixels to [-1, 1] (x / 127 - 1 in its
 * `capture`; bnlab's 'minus1to1' is x / 127.5 - 1, < 0.4 % apart), so a folder with this metadata
 * states its preprocessing. bnlab writes the same metadata.json beside its exports so that the
 * library (`tmImage.load(modelUrl, metadataUrl)`) loads them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const TEACHABLE_METADATA_FILE = 'metadata.json';
export const TEACHABLE_PACKAGE = '@teachablemachine/image';

/** The fields bnlab reads; the rest of the file is kept as it was (passthrough). */
const TeachableMetadataSchema = z
  .object({
    labels: z.array(z.string()).min(1),
    imageSize: z.number().int().positive().optional(),
    tmVersion: z.string().optional(),
    packageName: z.string().optional(),
    packageVersion: z.string().optional(),
    modelName: z.string().optional(),
    userMetadata: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();
export type TeachableMetadata = z.infer<typeof TeachableMetadataSchema>;

/**
 * `<dir>/metadata.json` when it is Teachable Machine image metadata (labels plus tmVersion or the
 * library's packageName); null when absent or some other metadata.json. A file that claims to be
 * Teachable Machine's but is malformed is an error naming the file and field.
 */
export function readTeachableMetadata(dir: string): TeachableMetadata | null {
  const file = path.join(dir, TEACHABLE_METADATA_FILE);
  if (!fs.existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null; // not ours to judge: some other tool's metadata.json
  }
  const claims = typeof raw === 'object' && raw !== null && ('tmVersion' in raw || (raw as { packageName?: unknown }).packageName === TEACHABLE_PACKAGE);
  if (!claims) return null;
  const parsed = TeachableMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new Error(`${file} looks like Teachable Machine metadata but is invalid: ${fields.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Metadata for a bnlab export in Teachable Machine's format. Fields of `base` (the metadata of the
 * model it came from) are kept; labels and imageSize are the exported model's.
 */
export function teachableMetadataFor(labels: string[], imageSize: number, base: TeachableMetadata | null, note: Record<string, unknown>): TeachableMetadata {
  return {
    tfjsVersion: base?.tfjsVersion ?? '1.3.1',
    tmVersion: base?.tmVersion ?? '2.4.4',
    packageVersion: base?.packageVersion ?? '0.8.5',
    packageName: TEACHABLE_PACKAGE,
    modelName: base?.modelName ?? 'bnlab-export',
    ...base,
    timeStamp: new Date().toISOString(),
    labels,
    imageSize,
    userMetadata: { ...(base?.userMetadata ?? {}), bnlab: note },
  };
}
