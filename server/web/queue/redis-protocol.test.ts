import { describe, expect, it } from 'vitest';
import { entryFields, parseEntry, streamKey } from './redis-protocol.ts';

describe('redis stream entries', () => {
  it('round-trip every kind through XADD fields', () => {
    const entries = [
      { k: 'started', d: { worker: 'host:42' } },
      { k: 'event', d: { type: 'log', runId: 'r', level: 'info', message: 'hi' } },
      { k: 'progress', d: { batches: 3, images: 48 } },
      { k: 'ended', d: { status: 'completed', result: null, error: null } },
    ] as const;
    for (const entry of entries) expect(parseEntry(entryFields(entry))).toEqual(entry);
  });

  it('drops malformed entries instead of throwing', () => {
    expect(parseEntry(['k', 'nonsense', 'd', '{}'])).toBeNull();
    expect(parseEntry(['k', 'event', 'd', '{not json'])).toBeNull();
    expect(parseEntry([])).toBeNull();
  });

  it('keys one stream per task', () => {
    expect(streamKey('cmp-1-train-bn')).toBe('bnlab:task:cmp-1-train-bn');
  });
});
