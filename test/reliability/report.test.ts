import { describe, expect, it } from 'vitest';
import { renderReport } from './report.ts';
import type { SuiteRecord } from './summary.ts';

const suites: SuiteRecord[] = [
  {
    suite: 'bad-input',
    command: 'npx vitest run x',
    finishedAt: '2026-01-01T00:00:00.000Z',
    seconds: 12.5,
    cases: [
      { id: 'ok-case', group: 'image', input: 'a | b', outcome: 'skipped', message: 'x.jpg: empty file', expected: 'empty file', passed: true, crashed: false },
      { id: 'bad-case', group: 'data', input: 'all corrupt', outcome: 'warning', message: 'run completed', expected: 'could be decoded', passed: false, crashed: false },
      { id: 'crash-case', group: 'data', input: 'boom', outcome: 'error', message: 'x is undefined', expected: 'nice', passed: false, crashed: true },
    ],
  },
  {
    suite: 'crash-safety',
    command: 'npx vitest run y',
    finishedAt: '2026-01-01T00:00:00.000Z',
    seconds: 20,
    cases: [],
    kills: [{ kill: 1, trigger: 'after step 3', atMs: 900, checkpointStep: null, checkpointLoads: true, tmpFilesLeft: 0, resumed: null }],
    extra: { killSeed: 7, weightTensorsDiffering: 0, metricsEqual: true, referenceSeconds: 3 },
  },
];

describe('RELIABILITY.md rendering', () => {
  const text = renderReport(suites, '2026-01-01T00:00:00.000Z');

  it('totals cases, failures and crashes from the records', () => {
    expect(text).toContain('| **all** | | | | **3** | **1** | **2** | **1** |');
    expect(text).toContain('| bad-input | `npx vitest run x` | 2026-01-01T00:00:00.000Z | 12.5 | 3 | 1 | 2 | 1 |');
  });

  it('lists each case under its group, escaping pipes, and the failures at the end', () => {
    expect(text).toContain('| ok-case | a \\| b | skipped: x.jpg: empty file | `empty file` | as expected |');
    expect(text).toContain('| crash-case | boom | error: x is undefined | `nice` | **CRASH** |');
    expect(text).toMatch(/## Not as expected\n\n- \*\*bad-case\*\* \(data\)/);
  });

  it('renders the kill table', () => {
    expect(text).toContain('| 1 | after step 3 | 900 | none yet | yes | 0 | killed before saying |');
    expect(text).toContain('| kills after which the checkpoint on disk loaded (or none existed yet) | 1 |');
  });
});

describe('RELIABILITY.md load section', () => {
  const run = (condition: string, clients: number, round: number, medianMsPerImage: number) => ({
    condition, clients, round, steps: 90, medianMsPerImage, wallMsPerStep: 50, runSeconds: 6, events: 150,
    clientsComplete: clients, clientsGotFinal: clients === 50 && round === 2 ? 49 : clients, messagesPerClient: 20,
    finalDeliveryMaxMs: clients ? 12.5 : null, peakRssMb: 100, peakHeapMb: 30, eventLoopP99Ms: 15, serverCpuSeconds: clients ? 0.6 : 0.3,
  });
  const load: SuiteRecord = {
    suite: 'load',
    command: 'npx vitest run z',
    finishedAt: '2026-01-01T00:00:00.000Z',
    seconds: 30,
    cases: [],
    load: {
      recipe: 'recipes/demo.json',
      flushMs: 250,
      transport: 'websocket',
      runs: [run('none', 0, 1, 2), run('50 clients', 50, 1, 2.2), run('50 clients', 50, 2, 2.2), run('none', 0, 2, 2)],
      medianMsPerImage: { none: 2, '50 clients': 2.2 },
      slowdown: { '50 clients': 0.1 },
      wallSlowdown: { '50 clients': -0.02 },
      bestMsPerImage: { none: 2, '50 clients': 2.1 },
      bestSlowdown: { '50 clients': 0.05 },
      targetSlowdown: 0.05,
      assertedSlowdownBound: 0.25,
      spread: { none: 0, '50 clients': 0.3 },
      slowdownAsserted: false,
      heapBeforeMb: 20,
      heapAfterMb: 23.5,
      rssBeforeMb: 80,
      rssAfterMb: 110,
      assertedHeapGrowthMb: 100,
    },
  };
  const text = renderReport([load], '2026-01-01T00:00:00.000Z');

  it('compares each condition with the baseline against the target, saying when it misses', () => {
    expect(text).toContain('## Load: load');
    expect(text).toContain('| none | 2 | 2.000 | 0.0 % | (baseline) | (baseline: 2.000) | (baseline) |  |  |');
    expect(text).toContain('| 50 clients | 2 | 2.200 | 30.0 % | +10.0 % | +5.0 % | -2.0 % | <= 5.0 % | **no** |');
    expect(text).toContain('Identical runs of one condition differed by up to 30.0 %, more than the 5.0 % target');
    const quiet = renderReport([{ ...load, load: { ...load.load!, slowdown: { '50 clients': 0.04 }, spread: { none: 0.02, '50 clients': 0.1 } } }], 'x');
    expect(quiet).toContain('| +4.0 % | +5.0 % | -2.0 % | <= 5.0 % | not resolved: runs differ by up to 10.0 % |');
    expect(text).toContain('**Inconclusive:** identical runs of one condition differed by more than 25.0 %');
  });

  it('counts runs and clients that missed the final result, and the heap growth', () => {
    expect(text).toContain("and the final result (runFinished + job 'completed') | 1 of 2 |");
    expect(text).toContain('| clients that missed an event or the final result, over all watched runs | 1 |');
    expect(text).toContain('20.0 MB → 23.5 MB (+3.5 MB; asserted < 100 MB)');
    expect(text).toContain('share of one core: no clients / 50 clients | 5.0 % / 10.0 % |');
    expect(text).toContain('| 2 | 50 clients | 90 | 2.200 | 50.0 | 6.0 | 0.60 | 150 | 50/50 | 49/50 | 20.0 | 12.5 | 100.0 | 15.0 |');
  });

  it('says when no load run was recorded', () => {
    expect(renderReport([], 'x')).toContain('No load run recorded yet');
  });
});
