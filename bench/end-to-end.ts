/**
 * End-to-end benchmark: a 5-seed comparison of `freeze-all` and `adabn` on ants-bees with
 * MobileNet v1 α0.25@224, 5 epochs, augmentation off, batch 16 — what a user waits for. Each seed
 * is one `runComparison` (what `bnlab compare` runs) and all seeds run in this one process, so the
 * frozen-prefix cache (server/train/frozen-prefix.ts) is shared across the runs, as in a
 * comparison. Everything is timed: backbone loading, decoding (fresh BNLAB_CACHE_DIR and decoded-
 * image caches: the first run decodes every file), AdaBN recalibration, training, per-epoch
 * validation, checkpoints.
 *
 *   node --import tsx bench/end-to-end.ts --data <ants-bees> [--seeds 5] [--epochs 5] [--batch 16] [--uncached 0|1]
 * Prints `BENCH_RESULT <json>` (EndToEndResult). --uncached 1 also times the same comparison with
 * BNLAB_FROZEN_PREFIX=0 (the whole model every step), for what the cache buys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../server/config.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { type RunEvent } from '../server/schema/events.ts';
import { parseRecipe } from '../server/schema/recipe.ts';
import { runComparison } from '../server/commands/compare.ts';
import { clearFrozenPrefixCache } from '../server/train/frozen-prefix.ts';
import { benchArg, processUsage, runBenchChild } from './result-line.ts';

export const END_TO_END_POLICIES = ['freeze-all', 'adabn'] as const;

export interface EndToEndPass {
  /** wall seconds of the whole comparison (all seeds and policies) */
  seconds: number;
  /** seconds per run, in order (seed-major) */
  runSeconds: number[];
  /** each run's frozen-prefix log line */
  notes: string[];
  valAccuracy: number[];
}

export interface EndToEndResult {
  status: 'ok' | 'unavailable' | 'error';
  message?: string;
  seeds: number;
  epochs: number;
  batch: number;
  policies: string[];
  trainCount: number;
  valCount: number;
  stepsPerEpoch: number;
  cached: EndToEndPass | null;
  uncached: EndToEndPass | null;
  cpuSeconds: number;
  peakRssMiB: number;
  wallSeconds?: number;
}

async function main(): Promise<EndToEndResult> {
  const data = benchArg('data', '');
  const seeds = Number(benchArg('seeds', '5'));
  const epochs = Number(benchArg('epochs', '5'));
  const batch = Number(benchArg('batch', '16'));
  const base = { seeds, epochs, batch, policies: [...END_TO_END_POLICIES], trainCount: 0, valCount: 0, stepsPerEpoch: 0, cached: null, uncached: null };
  if (!fs.existsSync(data)) return { ...base, status: 'unavailable', message: `no data folder ${data}`, ...processUsage() };
  const backend = await selectBackend('wasm');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-e2e-'));
  let shape = { trainCount: 0, valCount: 0, stepsPerEpoch: 0 };

  const pass = async (label: string, frozenPrefix: boolean): Promise<EndToEndPass> => {
    process.env.BNLAB_FROZEN_PREFIX = frozenPrefix ? '1' : '0';
    clearFrozenPrefixCache();
    // fresh caches: the first run decodes every image, like a first comparison on new data
    const config = { ...loadConfig(), checkpointsDir: path.join(work, label, 'checkpoints'), cacheDir: path.join(work, label, 'cache') };
    const runSeconds: number[] = [];
    const notes: string[] = [];
    const valAccuracy: number[] = [];
    const onEvent = (event: RunEvent) => {
      if (event.type === 'runStarted') shape = { trainCount: event.trainCount, valCount: event.valCount, stepsPerEpoch: event.stepsPerEpoch };
      if (event.type === 'log' && event.code === 'frozen-prefix') notes.push(event.message);
      if (event.type === 'runFinished' && event.summary) {
        runSeconds.push(event.summary.seconds);
        valAccuracy.push(event.summary.valAccuracy);
      }
    };
    const start = performance.now();
    for (let seed = 0; seed < seeds; seed++) {
      const recipe = parseRecipe({
        backbone: 'mobilenet_v1_0.25_224',
        data,
        epochs,
        batchSize: batch,
        seed,
        augment: { randomResizedCrop: false, horizontalFlip: false },
      });
      await runComparison(recipe, [...END_TO_END_POLICIES], { comparisonId: `${label}-seed${seed}`, config, onEvent, backend });
      process.stderr.write(`[bench]   end-to-end ${label}: seed ${seed} done (${((performance.now() - start) / 1000).toFixed(0)} s)\n`);
    }
    return { seconds: (performance.now() - start) / 1000, runSeconds, notes, valAccuracy };
  };

  try {
    const cached = await pass('cached', true);
    const uncached = benchArg('uncached', '0') === '1' ? await pass('uncached', false) : null;
    return { ...base, status: 'ok', ...shape, cached, uncached, ...processUsage() };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

runBenchChild(main);
