import { describe, expect, it } from 'vitest';
import { EarlyStopping, ReduceOnPlateau } from './plateau.ts';

describe('EarlyStopping', () => {
  it('stops after `patience` epochs without an improvement larger than minDelta', () => {
    const stop = new EarlyStopping({ patience: 2, minDelta: 0.01 });
    const losses = [0.5, 0.4, 0.395, 0.41, 0.3];
    const decisions = losses.map((l, epoch) => stop.update(epoch, l));
    // epoch 2 improves by 0.005 < minDelta: no improvement; epoch 3 neither → stop at epoch 3
    expect(decisions.slice(0, 3)).toEqual([null, null, null]);
    expect(decisions[3]).toMatch(/not improved on 0\.4000 \(epoch 2\) for 2 epochs \(patience 2\)/);
  });
  it('an improvement resets the count; NaN never improves', () => {
    const stop = new EarlyStopping({ patience: 2, minDelta: 0 });
    expect([0.5, 0.6, 0.4, 0.45, NaN].map((l, e) => stop.update(e, l) !== null)).toEqual([false, false, false, false, true]);
  });
});

describe('ReduceOnPlateau', () => {
  it('multiplies the rate by factor after patience flat epochs, then counts again, down to minLr', () => {
    const plateau = new ReduceOnPlateau({ patience: 1, factor: 0.5, minDelta: 0, minLr: 0.0003 });
    expect(plateau.update(0, 0.5, 0.001)).toBeNull();
    expect(plateau.update(1, 0.5, 0.001)).toMatch(/learning rate 0\.00100 → 0\.000500/);
    expect(plateau.lr(0.001)).toBeCloseTo(0.0005, 12);
    expect(plateau.update(2, 0.6, 0.001)).toMatch(/0\.000500 → 0\.000300/);
    expect(plateau.lr(0.001)).toBeCloseTo(0.0003, 12);
    expect(plateau.update(3, 0.6, 0.001)).toBeNull(); // already at minLr
    expect(plateau.lr(0.001)).toBeCloseTo(0.0003, 12);
  });
  it('leaves the rate alone while val loss improves', () => {
    const plateau = new ReduceOnPlateau({ patience: 1, factor: 0.1, minDelta: 0, minLr: 0 });
    [0.5, 0.4, 0.3].forEach((l, e) => expect(plateau.update(e, l, 0.01)).toBeNull());
    expect(plateau.lr(0.01)).toBe(0.01);
  });
});
