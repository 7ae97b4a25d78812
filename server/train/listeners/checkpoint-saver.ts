/**
 * Saves the run's checkpoint at the end of every epoch and of the run (checkpoint.ts: atomic,
 * model.json is the commit point), after checking that no weight became NaN or infinite, so the
 * last good checkpoint is never replaced by a diverged one. Emits a `checkpoint` event per save.
 */
import * as tf from '@tensorflow/tfjs';
import type { CheckpointMeta } from '../../schema/checkpoint.ts';
import type { RunEvent } from '../../schema/events.ts';
import { saveCheckpoint } from '../checkpoint.ts';

export class CheckpointSaver {
  constructor(
    private readonly outDir: string,
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.Optimizer,
    private readonly emit: (event: RunEvent) => void,
  ) {}

  async onEpochEnd(meta: CheckpointMeta): Promise<void> {
    await this.assertFiniteWeights(meta.step, meta.epoch);
    await saveCheckpoint(this.outDir, this.model, this.optimizer, meta);
    this.emit({ type: 'checkpoint', runId: meta.runId, step: meta.step, dir: this.outDir });
  }

  async onRunEnd(meta: CheckpointMeta): Promise<void> {
    await saveCheckpoint(this.outDir, this.model, this.optimizer, meta);
  }

  /** What the divergence errors say about the checkpoint a user can go back to. */
  lastGood(epoch: number): string {
    return epoch === 0 ? 'No checkpoint was written.' : `The last good checkpoint (end of epoch ${epoch}) is kept in ${this.outDir}.`;
  }

  /** After an update the loss of the *next* step shows divergence; weights are checked before they are saved. */
  private async assertFiniteWeights(step: number, epoch: number) {
    const finite = tf.tidy(() => tf.stack(this.model.getWeights().map((w) => tf.all(tf.isFinite(w)))).all());
    const ok = (await finite.data())[0] === 1;
    finite.dispose();
    if (!ok) throw new Error(`weights became NaN or infinite by step ${step} (epoch ${epoch + 1}): training diverged. ${this.lastGood(epoch)} Lower optimizer.lr and start again.`);
  }
}
