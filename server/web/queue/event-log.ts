/**
 * The events of one job, numbered in arrival order (`seq` = 1, 2, 3, ...) and kept in memory with a
 * bound. Every stepEnd/epochEnd/runStarted/runFinished/checkpoint is kept; bnStats snapshots (the
 * bulky ones: one entry per BN layer) are thinned per run once there are more than
 * `bnStatsPerRun`: the stride doubles and only every stride-th snapshot stays (the newest is always
 * kept), so a long run keeps an evenly spaced history of bounded size. Log lines keep the newest
 * `logs`. Dropped events still had a seq, so sequence numbers can have gaps; they never repeat.
 */
import type { RunEvent } from '../../schema/events.ts';
import type { EventEnvelope } from '../../schema/api.ts';

export interface EventLogLimits {
  bnStatsPerRun: number;
  logs: number;
}

export const DEFAULT_EVENT_LOG_LIMITS: EventLogLimits = { bnStatsPerRun: 1000, logs: 2000 };

interface Entry {
  envelope: EventEnvelope;
  /** For bnStats: its index among the run's snapshots as they arrived (0, 1, 2, ...). */
  ordinal: number;
}

interface BnStatsTally {
  received: number;
  stored: number;
  stride: number;
}

export class EventLog {
  private entries: Entry[] = [];
  private nextSeq = 1;
  private readonly bnStats = new Map<string, BnStatsTally>();
  private logCount = 0;

  constructor(private readonly limits: EventLogLimits = DEFAULT_EVENT_LOG_LIMITS) {}

  /** Highest seq handed out so far (0 when empty). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Number an event and store it (unless thinning drops it). The envelope is returned either way. */
  append(event: RunEvent): EventEnvelope {
    const envelope: EventEnvelope = { seq: this.nextSeq++, event };
    if (event.type === 'bnStats') {
      const tally = this.bnStats.get(event.runId) ?? { received: 0, stored: 0, stride: 1 };
      this.bnStats.set(event.runId, tally);
      const ordinal = tally.received++;
      // The previous snapshot was kept only because it was the newest; drop it if off-stride.
      this.dropOffStrideTail(event.runId, tally);
      this.entries.push({ envelope, ordinal });
      tally.stored += 1;
      if (tally.stored > this.limits.bnStatsPerRun) this.thin(event.runId, tally);
    } else {
      this.entries.push({ envelope, ordinal: 0 });
      if (event.type === 'log' && ++this.logCount > this.limits.logs) this.dropOldestLog();
    }
    return envelope;
  }

  /** Stored envelopes with seq > afterSeq (and <= upToSeq), optionally only those of one run. */
  after(afterSeq: number, { runId, upToSeq }: { runId?: string; upToSeq?: number } = {}): EventEnvelope[] {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].envelope.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    const out: EventEnvelope[] = [];
    for (let i = lo; i < this.entries.length; i++) {
      const { envelope } = this.entries[i];
      if (upToSeq !== undefined && envelope.seq > upToSeq) break;
      if (runId === undefined || envelope.event.runId === runId) out.push(envelope);
    }
    return out;
  }

  private thin(runId: string, tally: BnStatsTally): void {
    tally.stride *= 2;
    const newest = this.lastBnStatsIndex(runId);
    this.entries = this.entries.filter((entry, index) => {
      const { event } = entry.envelope;
      if (event.type !== 'bnStats' || event.runId !== runId) return true;
      return entry.ordinal % tally.stride === 0 || index === newest;
    });
    tally.stored = this.entries.filter((e) => e.envelope.event.type === 'bnStats' && e.envelope.event.runId === runId)
      .length;
  }

  private dropOffStrideTail(runId: string, tally: BnStatsTally): void {
    if (tally.stride === 1) return;
    const index = this.lastBnStatsIndex(runId);
    if (index < 0) return;
    if (this.entries[index].ordinal % tally.stride !== 0) {
      this.entries.splice(index, 1);
      tally.stored -= 1;
    }
  }

  private lastBnStatsIndex(runId: string): number {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const { event } = this.entries[i].envelope;
      if (event.type === 'bnStats' && event.runId === runId) return i;
    }
    return -1;
  }

  private dropOldestLog(): void {
    const index = this.entries.findIndex((e) => e.envelope.event.type === 'log');
    if (index >= 0) {
      this.entries.splice(index, 1);
      this.logCount -= 1;
    }
  }
}
