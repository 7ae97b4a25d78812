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
