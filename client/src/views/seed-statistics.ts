/**
 * A comparison's statistics over seeds (schema/comparison.ts, computed by the server when every run
 * has ended): per policy the mean val accuracy with its 95 % interval and each seed's value as a
 * point on one shared axis, and the pairwise verdicts. A winner is highlighted only where the
 * paired test says so at 95 %; everything else reads "not distinguishable".
 */
import type { ComparisonReport, PairedVerdict, PolicySeedStats } from '../../../server/schema/comparison.ts';
import { h } from '../dom.ts';

const pct = (x: number) => `${(x * 100).toFixed(1)}`;

/** The policies that beat every other one at 95 % (at most one); none when any pair is undecided. */
export function significantWinner(report: ComparisonReport): string | null {
  for (const candidate of report.policies.map((p) => p.policy)) {
    const wins = report.verdicts.every((v) => {
      if (v.a !== candidate && v.b !== candidate) return true;
      return (v.a === candidate && v.verdict === 'a-better') || (v.b === candidate && v.verdict === 'b-better');
    });
    if (wins && report.policies.length > 1) return candidate;
  }
  return null;
}

/** One row's interval strip: the 95 % interval as a bar, the mean as a tick, each seed as a dot (0–100 %). */
function strip(stats: PolicySeedStats, lo: number, hi: number): HTMLElement {
  const at = (x: number) => `${(((x - lo) / (hi - lo)) * 100).toFixed(2)}%`;
  const { mean, ci95, values } = stats.valAccuracy;
  const parts: HTMLElement[] = [];
  if (ci95) parts.push(h('span', { class: 'ci-bar', style: `left:${at(ci95[0])};width:calc(${at(ci95[1])} - ${at(ci95[0])})`, title: `95 % interval ${pct(ci95[0])}–${pct(ci95[1])} %` }));
  parts.push(h('span', { class: 'ci-mean', style: `left:${at(mean)}`, title: `mean ${pct(mean)} %` }));
  values.forEach((v, i) => parts.push(h('span', { class: 'ci-seed', 'data-seed-point': '', style: `left:${at(v)}`, title: `seed ${stats.seeds[i]}: ${pct(v)} %` })));
  return h('div', { class: 'ci-strip' }, parts);
}

export function seedStatisticsPanel(report: ComparisonReport): HTMLElement {
  const winner = significantWinner(report);
  const all = report.policies.flatMap((p) => [...p.valAccuracy.values, ...(p.valAccuracy.ci95 ?? [])]);
  const lo = Math.max(0, Math.min(...all) - 0.02);
  const hi = Math.min(1, Math.max(...all) + 0.02);
  const oneSeed = report.seeds.length < 2;
  const verdictRow = (v: PairedVerdict) =>
    h('tr', { 'data-verdict': v.verdict },
      h('td', {}, `${v.a} vs ${v.b}`),
      h('td', { class: 'num' }, `${pct(v.difference)} [${pct(v.ci95[0])}, ${pct(v.ci95[1])}]`),
      h('td', { class: 'num' }, v.pValue < 0.001 ? '< 0.001' : v.pValue.toFixed(3)),
      h('td', {}, v.text),
    );
  return h('section', { class: 'seed-statistics', 'data-seed-statistics': '' },
    h('h2', {}, `Over ${report.seeds.length} seed${oneSeed ? '' : 's'} (${report.seeds.join(', ')}), ${report.valImages} val images`),
    h('p', { class: 'muted' },
      oneSeed
        ? 'One seed: no interval over seeds, and the verdicts cover image sampling only. Run 5 or more seeds before choosing a policy.'
        : 'Mean val accuracy with its 95 % Student-t interval over seeds (bar) and each seed (dots). A policy is named the winner only when a paired test over the same seeds and images separates it from every other one at 95 %.'),
    h('p', { 'data-winner': winner ?? '' },
      winner
        ? oneSeed
          ? `With this one seed, ${winner} is better than every other policy on these val images at 95 % — image sampling only; another seed may rank them differently.`
          : h('b', {}, `${winner} is better than every other policy at 95 %.`)
        : 'No policy is better than all the others at 95 %: the differences in this table are within what the seeds and the val images make uncertain.'),
    h('table', { class: 'seed-table' },
      h('thead', {}, h('tr', {}, ['policy', 'val acc. % (mean)', '95 % interval', 'per seed', `${pct(lo)} … ${pct(hi)} %`, 'not converged'].map((c) => h('th', {}, c)))),
      h('tbody', {}, report.policies.map((p) =>
        h('tr', { 'data-policy': p.policy, class: p.policy === winner ? 'winner' : '' },
          h('td', {}, p.policy),
          h('td', { class: 'num' }, pct(p.valAccuracy.mean)),
          h('td', { class: 'num' }, p.valAccuracy.ci95 ? `${pct(p.valAccuracy.ci95[0])}–${pct(p.valAccuracy.ci95[1])}` : '–'),
          h('td', { class: 'num' }, p.valAccuracy.values.map(pct).join(', ')),
          h('td', {}, strip(p, lo, hi)),
          h('td', { class: 'num' }, String(p.notConverged)),
        ))),
    ),
    h('h3', {}, 'Paired verdicts (A − B, accuracy points, 95 % interval)'),
    h('table', { class: 'verdict-table' },
      h('thead', {}, h('tr', {}, ['pair', 'A − B', 'p', 'verdict'].map((c) => h('th', {}, c)))),
      h('tbody', {}, report.verdicts.map(verdictRow)),
    ),
  );
}
