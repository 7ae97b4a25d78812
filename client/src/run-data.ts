/**
 * Run events folded into series the charts read: per-step loss/accuracy, per-epoch train/val,
 * per-snapshot BN drift by layer. Pure data (no DOM), so it can be tested in Node.
 */
import type { BnLayerDrift, EpochEndEvent, LogEvent, RunEvent, RunFinishedEvent, RunStartedEvent } from '../../server/schema/events.ts';

/** Drift measures a chart can show; see BnLayerDrift in server/schema/events.ts for the formulas. */
export const DRIFT_METRICS = {
  meanShift: 'mean shift  mean_c |μ−μ₀| / √(σ₀²+ε)',
  logVarRatio: 'log-variance ratio  mean_c |log(σ²/σ₀²)|',
  symmetricKl: 'symmetric KL  mean_c KL(N,N₀)+KL(N₀,N)',
} as const;
export type DriftMetric = keyof typeof DRIFT_METRICS;

/** The y-axis title for each measure: its name and unit (the formula is in DRIFT_METRICS, the picker's text). */
export const DRIFT_AXIS: Record<DriftMetric, string> = {
  meanShift: 'mean shift (σ₀ units)',
  logVarRatio: 'log-variance ratio (nats)',
  symmetricKl: 'symmetric KL (nats)',
};

export interface StepPoint {
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
  msPerImage: number;
}

export interface DriftSnapshot {
  step: number;
  epoch: number;
  byLayer: Map<string, BnLayerDrift>;
  /** Σ over layers of meanShift (the summary's totalMeanShift at the end of a run) */
  totalMeanShift: number;
}

export class RunSeries {
  started: RunStartedEvent | null = null;
  finished: RunFinishedEvent | null = null;
  readonly steps: StepPoint[] = [];
  readonly epochs: EpochEndEvent[] = [];
  readonly snapshots: DriftSnapshot[] = [];
  readonly logs: LogEvent[] = [];
  /** BN layer names in network order */
  layers: string[] = [];

  constructor(readonly runId: string) {}

  get policy(): string {
    return this.started?.policy.name ?? this.finished?.summary?.policy ?? this.runId;
  }

  get lastStep(): number {
    return this.steps.length ? this.steps[this.steps.length - 1].step : 0;
  }

  apply(event: RunEvent): void {
    switch (event.type) {
      case 'runStarted':
        this.started = event;
        if (event.backbone.bnLayers.length) this.layers = [...event.backbone.bnLayers];
        break;
      case 'stepEnd':
        // a resumed run replays the steps after its checkpoint: the replay replaces them
        while (this.steps.length && this.steps[this.steps.length - 1].step >= event.step) this.steps.pop();
        while (this.snapshots.length && this.snapshots[this.snapshots.length - 1].step >= event.step) this.snapshots.pop();
        while (this.epochs.length && this.epochs[this.epochs.length - 1].step >= event.step) this.epochs.pop();
        this.steps.push({ step: event.step, epoch: event.epoch, loss: event.loss, accuracy: event.accuracy, msPerImage: event.msPerImage });
        break;
      case 'epochEnd':
        this.epochs.push(event);
        break;
      case 'bnStats': {
        const byLayer = new Map(event.layers.map((l) => [l.layer, l]));
        if (!this.layers.length) this.layers = event.layers.map((l) => l.layer);
        const totalMeanShift = event.layers.reduce((sum, l) => sum + l.meanShift, 0);
        this.snapshots.push({ step: event.step, epoch: event.epoch, byLayer, totalMeanShift });
        break;
      }
      case 'log':
        this.logs.push(event);
        break;
      case 'runFinished':
        this.finished = event;
        break;
      default:
        break;
    }
  }

  /** The layer's value of `metric` at the latest snapshot (0 when never measured). */
  latest(layer: string, metric: DriftMetric): number {
    for (let i = this.snapshots.length - 1; i >= 0; i--) {
      const drift = this.snapshots[i].byLayer.get(layer);
      if (drift) return drift[metric];
    }
    return 0;
  }
}

/** The `n` layers with the largest latest `metric`, over one or several runs (max across runs). */
export function mostDrifting(runs: RunSeries[], metric: DriftMetric, n: number): string[] {
  const score = new Map<string, number>();
  for (const run of runs) {
    for (const layer of run.layers) score.set(layer, Math.max(score.get(layer) ?? 0, run.latest(layer, metric)));
  }
  return [...score.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([layer]) => layer);
}

/** All runs of one job, by run id, in the order they first appeared. */
export class JobData {
  readonly runs = new Map<string, RunSeries>();

  ensure(runId: string): RunSeries {
    let run = this.runs.get(runId);
    if (!run) this.runs.set(runId, (run = new RunSeries(runId)));
    return run;
  }

  apply(event: RunEvent): RunSeries {
    const run = this.ensure(event.runId);
    run.apply(event);
    return run;
  }
}
