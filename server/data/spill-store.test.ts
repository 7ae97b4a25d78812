import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { budgetFromEnv, SpillStore } from './spill-store.ts';

describe('SpillStore', () => {
  it('keeps entries in memory up to the budget, spills the rest to disk, reads both back bit for bit, and cleans up', () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-spill-test-'));
    const store = new SpillStore({ budgetBytes: 16, dir: parent });
    const a = Float32Array.from([1, -0, NaN, 3.5]); // 16 bytes: fits
    const b = Float32Array.from([Infinity, 1e-40, -2]); // does not fit: spilled
    store.put('a', a);
    store.put('b', b.subarray(0, 3));
    expect(store.bytesInMemory).toBe(16);
    expect(store.spilled).toBe(true);
    expect(store.get('a')).toBe(a);
    const back = store.get('b');
    expect(new Uint8Array(back.buffer)).toEqual(new Uint8Array(b.buffer));
    expect(store.has('b')).toBe(true);
    store.delete('a');
    expect(store.bytesInMemory).toBe(0);
    store.put('c', Float32Array.from([7])); // room again
    expect(store.diskBytes).toBe(12);
    expect(() => store.get('a')).toThrow(/nothing stored under 'a'/);
    expect(fs.readdirSync(parent)).toHaveLength(1);
    store.close();
    expect(fs.readdirSync(parent)).toEqual([]);
    fs.rmSync(parent, { recursive: true });
  });

  it('reads budgets in MiB from the environment and names a bad variable', () => {
    expect(budgetFromEnv('X', 5, {})).toBe(5);
    expect(budgetFromEnv('X', 5, { X: '2' })).toBe(2 * 1024 * 1024);
    expect(() => budgetFromEnv('BNLAB_WALK_MEMORY_MB', 5, { BNLAB_WALK_MEMORY_MB: 'lots' })).toThrow(/BNLAB_WALK_MEMORY_MB must be a number of MiB >= 0, got 'lots'/);
  });
});
