import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../schema/events.ts';
import { EventLog } from './event-log.ts';

const step = (runId: string, n: number): RunEvent => ({ type: 'stepEnd', runId, step: n, epoch: 0, loss: 1, accuracy: 0.5, lr: 1e-3, msPerImage: 1 });
const bn = (runId: string, n: number): RunEvent => ({ type: 'bnStats', runId, step: n, epoch: 0, layers: [] });
const log = (n: number): RunEvent => ({ type: 'log', runId: 'r', level: 'info', message: `line ${n}` });

describe('EventLog', () => {
  it('numbers events from 1 and returns those after a seq, optionally of one run', () => {
    const events = new EventLog();
    for (let i = 1; i <= 5; i++) events.append(step(i % 2 ? 'a' : 'b', i));
    expect(events.lastSeq).toBe(5);
    expect(events.after(0).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events.after(3).map((e) => e.seq)).toEqual([4, 5]);
    expect(events.after(0, { runId: 'b' }).map((e) => e.seq)).toEqual([2, 4]);
    expect(events.after(1, { upToSeq: 3 }).map((e) => e.seq)).toEqual([2, 3]);
  });

  it('keeps every stepEnd but thins bnStats to an even stride once over the bound, newest kept', () => {
    const events = new EventLog({ bnStatsPerRun: 10, logs: 100 });
    for (let i = 0; i < 100; i++) {
      events.append(step('r', i));
      events.append(bn('r', i));
    }
    const kept = events.after(0).filter((e) => e.event.type === 'bnStats').map((e) => (e.event as { step: number }).step);
    expect(events.after(0).filter((e) => e.event.type === 'stepEnd')).toHaveLength(100);
    expect(kept.length).toBeLessThanOrEqual(11);
    expect(kept.length).toBeGreaterThanOrEqual(6);
    expect(kept.at(-1)).toBe(99);
    const strides = new Set(kept.slice(0, -1).map((s, i, all) => (i ? s - all[i - 1] : null)).filter((d) => d !== null));
    expect(strides.size).toBe(1); // evenly spaced (apart from the newest)
    // seqs stay increasing after thinning, and a resume still finds its place
    const seqs = events.after(0).map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(events.after(150)[0].seq).toBeGreaterThan(150);
  });

  it('thins each run on its own', () => {
    const events = new EventLog({ bnStatsPerRun: 4, logs: 100 });
    for (let i = 0; i < 20; i++) events.append(bn('a', i));
    for (let i = 0; i < 3; i++) events.append(bn('b', i));
    expect(events.after(0, { runId: 'b' })).toHaveLength(3);
    expect(events.after(0, { runId: 'a' }).length).toBeLessThanOrEqual(5);
  });

  it('keeps only the newest log lines beyond the bound', () => {
    const events = new EventLog({ bnStatsPerRun: 10, logs: 3 });
    for (let i = 0; i < 10; i++) events.append(log(i));
    expect(events.after(0).map((e) => (e.event as { message: string }).message)).toEqual(['line 7', 'line 8', 'line 9']);
    expect(events.lastSeq).toBe(10);
  });
});
