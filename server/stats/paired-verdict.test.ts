/**
 * Reference values: `python3 tools/reference/comparison-stats.py` (numpy + scipy.stats.t, scipy
 * 1.17.1), keys "paired_small", "paired_five", "paired_clear", "paired_one": the inputs (bit
 * strings, one per seed) and the outputs are copied from its output below.
 */
import { describe, expect, it } from 'vitest';
import { pairedVerdict, parseCorrectness } from './paired-verdict.ts';

const rows = (bits: string[]) => bits.map(parseCorrectness);

const SMALL = {
  a: ["1101101110", "1111001110", "1101101011"],
  b: ["1001100110", "1101000111", "0101101010"],
  difference: 0.16666666666666666, standardError: 0.0816496580927726, df: 10.983050847457628, t: 2.041241452319315, pValue: 0.06600216887070852,
  ci95: [-0.013076860858121347, 0.3464101941914547],
};

const FIVE = {
  a: ["011111111111001111010111111111110111111110111111111111101111", "111111111111111110111111111011111011111110111111011111101111", "011010111111111101110101111100110111111011111011010101111101", "111101101011111111111111101111101111111011011111111101111111", "111111111111100111011111111011111111111111110111110001101111"],
  b: ["011101111011101111001111011101111111111111110111111001101111", "111111111111110101111111100111101011111111111110111001101101", "111011101111111110111011111101111011111110011101111111111111", "111011101111101110111111110011110111111110111111011111101111", "010111111111111101011111101111111011111010111111111011101111"],
  difference: 0.02, standardError: 0.039106065630728916, df: 8.538600535231874, t: 0.5114296127065343, pValue: 0.6220114750087372,
  ci95: [-0.06919814833833006, 0.10919814833833007],
};

const CLEAR = {
  a: ["111111111111111111110111101111111111111111011111111011111111", "111111111111101111011111111111101111111111011111111111111111", "111111111111110111111111110111111111111011111111111111111111", "111111101111101111111111101111111111111111111111111111111111", "011111111111111111111111100111111111111110111111111011111111"],
  b: ["111111111111101110111111100011000011111011111101111011101111", "011111111111101111111101110111101111111111101110110111000111", "011111110110001110110011111011110111110110011011110111100111", "111101000111110001100111101011100111101110111111111111111111", "111101101001100001000110111011100010111001111001110011100111"],
  difference: 0.20666666666666667, standardError: 0.04781378663199972, df: 10.307903040920046, t: 4.32232377362795, pValue: 0.0014053877695673375,
  ci95: [0.10056069361012147, 0.31277263972321184],
};

const ONE = {
  a: ["011111111111001111010111111111110111111110111111111111101111"],
  b: ["011101111011101111001111011101111111111111110111111001101111"],
  difference: 0.06666666666666667, standardError: 0.05757170261178304, df: 59.0, t: 1.1579762911688178, pValue: 0.25153984395669954,
  ci95: [-0.04853404416818341, 0.18186737750151674],
};

function expectMatches(result: ReturnType<typeof pairedVerdict>, ref: typeof SMALL) {
  expect(result.difference).toBeCloseTo(ref.difference, 12);
  expect(result.standardError).toBeCloseTo(ref.standardError, 12);
  expect(result.df).toBeCloseTo(ref.df, 9);
  expect(result.t).toBeCloseTo(ref.t, 10);
  expect(result.pValue).toBeCloseTo(ref.pValue, 10);
  expect(result.ci95[0]).toBeCloseTo(ref.ci95[0], 9);
  expect(result.ci95[1]).toBeCloseTo(ref.ci95[1], 9);
}

describe('pairedVerdict', () => {
  it('3 seeds x 10 images: p = 0.066, not distinguishable (matches numpy/scipy)', () => {
    const result = pairedVerdict('A', rows(SMALL.a), 'B', rows(SMALL.b));
    expectMatches(result, SMALL);
    expect(result.verdict).toBe('not-distinguishable');
    expect(result.text).toBe('not distinguishable at 95 %');
    expect(result.seedVarianceIncluded).toBe(true);
  });
  it('5 seeds x 60 images, 2 points apart: not distinguishable', () => {
    const result = pairedVerdict('A', rows(FIVE.a), 'B', rows(FIVE.b));
    expectMatches(result, FIVE);
    expect(result.verdict).toBe('not-distinguishable');
  });
  it('5 seeds x 60 images, 21 points apart: a winner, named either way round', () => {
    const ab = pairedVerdict('freeze-all', rows(CLEAR.a), 'full', rows(CLEAR.b));
    expectMatches(ab, CLEAR);
    expect(ab.verdict).toBe('a-better');
    expect(ab.text).toBe('freeze-all better at 95 %');
    const ba = pairedVerdict('full', rows(CLEAR.b), 'freeze-all', rows(CLEAR.a));
    expect(ba.verdict).toBe('b-better');
    expect(ba.text).toBe('freeze-all better at 95 %');
    expect(ba.difference).toBeCloseTo(-CLEAR.difference, 12);
  });
  it('one seed: the image term only, flagged', () => {
    const result = pairedVerdict('A', rows(ONE.a), 'B', rows(ONE.b));
    expectMatches(result, ONE);
    expect(result.seedVarianceIncluded).toBe(false);
  });
  it('seed-to-seed spread widens the interval: the same per-image flips with shifted seeds stop being significant', () => {
    // 40 images; A gets images 0..11 right that B gets wrong, in every seed: significant.
    const run = (right: number) => '1'.repeat(right) + '0'.repeat(40 - right);
    const b = [run(10), run(10), run(10)];
    const a = [run(22), run(22), run(22)];
    expect(pairedVerdict('A', rows(a), 'B', rows(b)).verdict).toBe('a-better');
    // The same mean difference (0.3), but the seeds disagree: +0.6, +0.6, -0.3.
    const b2 = [run(10), run(10), run(34)];
    const a2 = [run(34), run(34), run(22)];
    const shifted = pairedVerdict('A', rows(a2), 'B', rows(b2));
    expect(shifted.difference).toBeCloseTo(0.3, 12);
    expect(shifted.verdict).toBe('not-distinguishable');
  });
  it("images not scored in some run ('-') are left out of every run", () => {
    const withGap = pairedVerdict('A', rows(['1-10', '1-11']), 'B', rows(['0-10', '001-']));
    expect(withGap.images).toBe(2);
  });
  it('identical predictions: difference 0, p = 1', () => {
    const same = rows(['1100', '1010']);
    const result = pairedVerdict('A', same, 'B', same);
    expect(result).toMatchObject({ difference: 0, pValue: 1, verdict: 'not-distinguishable' });
  });
  it('refuses runs on different val sets or seed counts', () => {
    expect(() => pairedVerdict('A', rows(['110']), 'B', rows(['1100']))).toThrow(/same val images/);
    expect(() => pairedVerdict('A', rows(['110', '111']), 'B', rows(['110']))).toThrow(/same number of seeds/);
    expect(() => parseCorrectness('10x')).toThrow(/'x' at position 2/);
  });
});
