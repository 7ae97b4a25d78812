/**
 * Val-loss plateau state machines, fed once per epoch (pure: no tensors, no timers).
 *
 * An epoch "improves" when its val loss is below best − minDelta (Keras' `min_delta` for a
 * monitored quantity in 'min' mode). After `patience` epochs in a row without improvement:
 *  - EarlyStopping says stop (Keras EarlyStopping; the last weights are kept, not the best ones,
 *    like Keras' default restore_best_weights = false);
 *  - ReduceOnPlateau multiplies the learning-rate scale by `factor`, never going below minLr, and
 *    starts counting again (Keras ReduceLROnPlateau with cooldown 0).
 * Both are opt-in recipe fields; without them a run trains exactly the epochs asked for.
 * Not checkpointed: a resumed run starts both counters afresh.
 */
import type { EarlyStoppingConfig, ReduceOnPlateauConfig } from '../schema/recipe.ts';

export class PlateauCounter {
  best = Infinity;
  bestEpoch = -1;
  /** epochs since the last improvement */
  wait = 0;

  constructor(private readonly minDelta: number) {}

  /** Returns true when this epoch improved on the best so far. */
  update(epoch: number, valLoss: number): boolean {
    if (valLoss < this.best - this.minDelta) {
      this.best = valLoss;
      this.bestEpoch = epoch;
      this.wait = 0;
      return true;
    }
    this.wait++;
    return false;
  }
}

export class EarlyStopping {
  private readonly counter: PlateauCounter;

  constructor(private readonly config: EarlyStoppingConfig) {
    this.counter = new PlateauCounter(config.minDelta);
  }

  /** Feed one epoch's val loss; returns the reason to stop, or null to go on. A NaN loss never improves. */
  update(epoch: number, valLoss: number): string | null {
    this.counter.update(epoch, valLoss);
    if (this.counter.wait < this.config.patience) return null;
    return `early stopping: val loss has not improved on ${this.counter.best.toFixed(4)} (epoch ${this.counter.bestEpoch + 1}) for ${this.counter.wait} epochs (patience ${this.config.patience})`;
  }
}

export class ReduceOnPlateau {
  /** multiplies the schedule's learning rate */
  scale = 1;
  private readonly counter: PlateauCounter;

  constructor(private readonly config: ReduceOnPlateauConfig) {
    this.counter = new PlateauCounter(config.minDelta);
  }

  /**
   * Feed one epoch's val loss with the learning rate the schedule gives (before scaling); returns a
   * message when the rate was just reduced.
   */
  update(epoch: number, valLoss: number, scheduledLr: number): string | null {
    this.counter.update(epoch, valLoss);
    if (this.counter.wait < this.config.patience) return null;
    this.counter.wait = 0;
    const before = scheduledLr * this.scale;
    const after = Math.max(this.config.minLr, before * this.config.factor);
    if (!(after < before)) return null;
    this.scale = after / scheduledLr;
    return `reduce on plateau: val loss has not improved on ${this.counter.best.toFixed(4)} for ${this.config.patience} epochs; learning rate ${before.toPrecision(3)} → ${after.toPrecision(3)}`;
  }

  lr(scheduledLr: number): number {
    return Math.max(Math.min(this.config.minLr, scheduledLr), scheduledLr * this.scale);
  }
}
