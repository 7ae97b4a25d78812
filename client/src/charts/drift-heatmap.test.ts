import { describe, expect, it } from 'vitest';
import { colourAt, niceTicks } from './drift-heatmap.ts';

describe('heatmap axis and colours', () => {
  it('step ticks are whole round numbers inside the range', () => {
    expect(niceTicks(0, 90, 5)).toEqual([0, 20, 40, 60, 80]);
    expect(niceTicks(1, 6, 15)).toEqual([1, 2, 3, 4, 5, 6]); // never fractional steps
    expect(niceTicks(5, 5, 4)).toEqual([5]);
  });

  it('colours run from the first to the last viridis stop', () => {
    expect(colourAt(0)).toEqual([68, 1, 84]);
    expect(colourAt(1)).toEqual([253, 231, 37]);
    expect(colourAt(2)).toEqual([253, 231, 37]);
  });
});
