/**
 * Runs that outlive the server: every run folder under the checkpoints directory holds a
 * metrics.jsonl (one RunEvent per line, written by the training loop as it goes), so the dashboard
 * can show a finished run after a restart. Comparisons are not folders of their own (their runs are
 * `<comparisonId>-<policy>` siblings), so the dashboard keeps a small manifest per comparison in
 * `<checkpointsDir>/.dashboard/comparisons/<id>.json` to regroup them.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { policyName } from '../schema/policy-names.ts';
import type { CheckpointMeta } from '../schema/checkpoint.ts';
import type { RunEvent } from '../schema/events.ts';
import type { PolicySpec, Recipe } from '../schema/recipe.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { comparisonManifestsDir, RUN_FILES } from './files.ts';
import { comparisonRunOrder } from './run-ids.ts';


export interface StoredRun {
  runId: string;
  dir: string;
  metricsFile: string;
  meta: CheckpointMeta | null;
  modifiedMs: number;
}

export interface ComparisonManifest {
  format: 'bnlab-dashboard-comparison@1';
  comparisonId: string;
  name: string;
  createdAt: string;
  recipe: Recipe;
  policySpecs: PolicySpec[];
  policies: string[];
  /** run ids in the order the comparison ran them */
  runIds: string[];
  /** policy of each run id (with recipe.seeds > 1 there are several runs per policy) */
  runPolicies?: string[];
}

/** The manifest of a comparison, written by the dashboard queue and by `bnlab compare` alike. */
export function comparisonManifest(comparisonId: string, recipe: Recipe, policySpecs: PolicySpec[], createdAt: string, name?: string): ComparisonManifest {
  const policies = policySpecs.map(policyName);
  const runs = comparisonRunOrder(comparisonId, recipe, policySpecs);
  return {
    format: 'bnlab-dashboard-comparison@1',
    comparisonId,
    name: name ?? recipe.name ?? `${policies.join(' vs ')} on ${path.basename(recipe.data)}`,
    createdAt,
    recipe,
    policySpecs,
    policies,
    runIds: runs.map((r) => r.runId),
    runPolicies: runs.map((r) => r.policy),
  };
}

const EVENT_TYPES = new Set(['runStarted', 'stepEnd', 'bnStats', 'epochEnd', 'log', 'checkpoint', 'runFinished']);

/** Run folders (those with a metrics file), oldest first. Hidden folders are skipped. */
export async function scanCheckpoints(checkpointsDir: string): Promise<StoredRun[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(checkpointsDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const runs: StoredRun[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = path.join(checkpointsDir, entry.name);
    const metricsFile = path.join(dir, RUN_FILES.metrics);
    let modifiedMs: number;
    try {
      modifiedMs = (await fs.stat(metricsFile)).mtimeMs;
    } catch {
      continue;
    }
    runs.push({ runId: entry.name, dir, metricsFile, meta: await readCheckpointMeta(dir), modifiedMs });
  }
  return runs.sort((a, b) => a.modifiedMs - b.modifiedMs || a.runId.localeCompare(b.runId));
}

async function readCheckpointMeta(dir: string): Promise<CheckpointMeta | null> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, RUN_FILES.meta), 'utf8')) as CheckpointMeta;
    return meta?.format === 'bnlab-checkpoint@1' ? meta : null;
  } catch {
    return null;
  }
}

/**
 * Every well-formed event line of a metrics file. A line that does not parse (the last one, cut
 * short by a kill mid-write) or is not an event is skipped, never fatal.
 */
export async function readMetricsFile(file: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  const lines = readline.createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (!line.trim()) continue;
      try {
        const value = JSON.parse(line) as RunEvent;
        if (value && EVENT_TYPES.has(value.type) && typeof value.runId === 'string') events.push(value);
      } catch {
        // partial line
      }
    }
  } catch {
    // unreadable file: whatever was read so far
  }
  return events;
}

/** Write (or replace) a comparison manifest atomically: temp file + rename. */
export async function writeComparisonManifest(checkpointsDir: string, manifest: ComparisonManifest): Promise<void> {
  const dir = comparisonManifestsDir(checkpointsDir);
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, `${manifest.comparisonId}.json`), JSON.stringify(manifest, null, 2));
}

export async function readComparisonManifests(checkpointsDir: string): Promise<ComparisonManifest[]> {
  const dir = comparisonManifestsDir(checkpointsDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const out: ComparisonManifest[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    try {
      const manifest = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as ComparisonManifest;
      if (manifest?.format === 'bnlab-dashboard-comparison@1' && Array.isArray(manifest.runIds)) out.push(manifest);
    } catch {
      // a torn manifest loses the grouping only; its runs still show up on their own
    }
  }
  return out;
}
