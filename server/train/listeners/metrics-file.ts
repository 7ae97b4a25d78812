/**
 * The run's history on disk (runs/files.ts `metrics.jsonl`): every RunEvent appended as one JSON
 * line, synchronously, so the file holds every event the run emitted up to a crash.
 * Guarantee: after `start`, lines appear in emit order; a resumed run first drops the events past
 * its checkpoint's step (`truncateTo`), so its history has no duplicates.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RUN_FILES } from '../../runs/files.ts';
import type { RunEvent } from '../../schema/events.ts';

export class MetricsFile {
  readonly file: string;

  /** A fresh run (or a resume with no checkpoint yet) starts an empty history before its first event. */
  constructor(outDir: string, fresh: boolean) {
    this.file = path.join(outDir, RUN_FILES.metrics);
    if (fresh) fs.writeFileSync(this.file, '');
  }

  write(event: RunEvent): void {
    fs.appendFileSync(this.file, `${JSON.stringify(event)}\n`);
  }

  /** Per-epoch train and val losses recorded so far: the convergence flag of a resumed run sees every epoch. */
  epochLosses(): { train: number; val: number }[] {
    return fs
      .readFileSync(this.file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RunEvent)
      .flatMap((event) => (event.type === 'epochEnd' ? [{ train: event.train.loss, val: event.val.loss }] : []));
  }

  /** Keep only events up to the checkpoint's step (and no runFinished). */
  truncateTo(step: number): void {
    if (!fs.existsSync(this.file)) return;
    const kept = fs
      .readFileSync(this.file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .filter((line) => {
        const event = JSON.parse(line) as RunEvent;
        if (event.type === 'runFinished') return false;
        return !('step' in event) || event.step <= step;
      });
    fs.writeFileSync(this.file, kept.map((l) => `${l}\n`).join(''));
  }
}
