import { describe, expect, it } from 'vitest';
import type { ComparisonReport, PairedVerdict, PolicySeedStats } from '../../../server/schema/comparison.ts';
import { significantWinner } from './seed-statistics.ts';

const policy = (name: string): PolicySeedStats => ({ policy: name } as PolicySeedStats);
const verdict = (a: string, b: string, v: PairedVerdict['verdict']): PairedVerdict => ({ a, b, verdict: v } as PairedVerdict);
const report = (names: string[], verdicts: PairedVerdict[]) => ({ policies: names.map(policy), verdicts } as ComparisonReport);

describe('significantWinner', () => {
  it('names a policy only when it beats every other one at 95 %', () => {
    const r = report(['a', 'b', 'c'], [verdict('a', 'b', 'a-better'), verdict('a', 'c', 'a-better'), verdict('b', 'c', 'not-distinguishable')]);
    expect(significantWinner(r)).toBe('a');
  });

  it('names none when one pair is not distinguishable', () => {
    const r = report(['a', 'b', 'c'], [verdict('a', 'b', 'a-better'), verdict('a', 'c', 'not-distinguishable'), verdict('b', 'c', 'b-better')]);
    expect(significantWinner(r)).toBeNull();
  });

  it('reads the b side of a pair', () => {
    const r = report(['a', 'b'], [verdict('a', 'b', 'b-better')]);
    expect(significantWinner(r)).toBe('b');
  });
});
