/** `--checkpoint <run>`: a checkpoint folder, or a run id under the checkpoints folder (BNLAB_CHECKPOINTS_DIR). */
import fs from 'node:fs';
import path from 'node:path';
import type { BnlabConfig } from '../config.ts';

export function resolveCheckpointDir(spec: string, config: Pick<BnlabConfig, 'checkpointsDir'>): string {
  const direct = path.resolve(spec);
  if (fs.existsSync(path.join(direct, 'model.json'))) return direct;
  const byRun = path.join(config.checkpointsDir, spec);
  if (fs.existsSync(path.join(byRun, 'model.json'))) return byRun;
  throw new Error(`--checkpoint ${spec}: no model.json in ${direct}${byRun !== direct ? ` nor in ${byRun}` : ''}`);
}
