/**
 * Where bnlab looks for things. Everything is overridable by environment variable, so that CI can
 * point the project at ../shared without copying anything into the repository.
 *   BNLAB_MODELS_DIR  folder of pretrained tfjs layers backbones, one sub-folder per registry name
 *   BNLAB_DATA_ROOTS  folders (':'-separated) whose image folders the dashboard may offer and read
 *   BNLAB_CACHE_DIR   downloaded backbones (default ~/.cache/bnlab)
 *   BNLAB_BACKEND     wasm | cpu | tensorflow
 *   BNLAB_REDIS_URL   read by the dashboard queue and `bnlab worker` (server/web/queue/): BullMQ on
 *                     that Redis instead of the embedded queue
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BnlabConfig } from './schema/config.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The recipe commands and the dashboard's demo use when given none: embedded backbone, generated data. */
export const DEMO_RECIPE_FILE = path.join(PROJECT_ROOT, 'recipes', 'demo.json');

export type { BnlabConfig };


export function loadConfig(env: NodeJS.ProcessEnv = process.env): BnlabConfig {
  const demoDataDir = path.join(PROJECT_ROOT, 'data', 'demo');
  const extraRoots = (env.BNLAB_DATA_ROOTS ?? '').split(':').filter(Boolean).map((p) => path.resolve(p));
  return {
    modelsDir: env.BNLAB_MODELS_DIR ? path.resolve(env.BNLAB_MODELS_DIR) : null,
    dataRoots: [path.join(PROJECT_ROOT, 'data'), ...extraRoots],
    cacheDir: path.resolve(env.BNLAB_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'bnlab')),
    checkpointsDir: path.resolve(env.BNLAB_CHECKPOINTS_DIR ?? path.join(PROJECT_ROOT, 'checkpoints')),
    demoDataDir,
    backend: env.BNLAB_BACKEND ?? null,
  };
}
