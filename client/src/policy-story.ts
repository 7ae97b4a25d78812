/**
 * One sentence per policy of a finished comparison saying what happened, from the numbers the runs
 * measured (never fixed figures): the reader of the demo learns why freeze-all sits near chance,
 * what train-bn's train-mode vs inference-mode gap means, and whether PreciseBN closed it.
 * Pure, tested in policy-story.test.ts.
 */
import type { RunSummary } from '../../server/schema/events.ts';

const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
/** percentage points between two accuracies that count as a real difference on a small val set */
const MARGIN = 0.05;

export interface PolicyOutcome {
  policy: string;
  summary: RunSummary;
}

export function policyStories(outcomes: PolicyOutcome[], classCount: number): Map<string, string> {
  const chance = classCount > 0 ? 1 / classCount : 0;
  const byPolicy = new Map(outcomes.map((o) => [o.policy, o.summary]));
  const stories = new Map<string, string>();
  for (const { policy, summary: s } of outcomes) {
    const acc = pct(s.valAccuracy);
    const drift = s.totalMeanShift.toPrecision(3);
    const trainMode = s.valTrainModeAccuracy;
    const nearChance = chance > 0 && s.valAccuracy < chance + MARGIN;
    let text: string;
    if (policy === 'freeze-all') {
      text = `freeze-all kept the pretrained BN statistics (total drift ${drift}) and reached ${acc}` +
        (nearChance ? `, about chance (${pct(chance)} for ${classCount} classes): normalised with the source data's statistics, the shifted images reach the head as features it cannot separate.` : '.');
    } else if (policy === 'train-bn') {
      text = `train-bn let the running statistics follow the new data (total drift ${drift}): ${acc} with the running statistics at inference`;
      if (trainMode !== null && trainMode - s.valAccuracy > MARGIN) {
        text += ` but ${pct(trainMode)} with batch statistics (BN in training mode): the running averages (EMA) lag behind the statistics of the current weights, and inference uses the lagging ones.`;
      } else if (trainMode !== null) {
        text += `, and ${pct(trainMode)} with batch statistics: the running averages have caught up.`;
      } else text += '.';
    } else if (policy === 'train-bn+precise-bn') {
      const plain = byPolicy.get('train-bn');
      text = `train-bn + PreciseBN trained the same way, then recomputed the population statistics over the training data: ${acc}`;
      if (plain) {
        const closed = s.valAccuracy - plain.valAccuracy > MARGIN;
        text += ` against ${pct(plain.valAccuracy)} without it` + (closed ? ', closing the EMA lag.' : ': here the lag was not what held accuracy back.');
      } else text += '.';
    } else if (policy === 'adabn') {
      text = `adabn recomputed the BN statistics on the new data once before training and then froze them (total drift ${drift}): ${acc}` +
        (nearChance ? ', about chance.' : '.');
    } else if (policy === 'full') {
      text = `full trained every layer: ${acc} (total drift ${drift}).`;
    } else {
      text = `${policy}: ${acc} (total drift ${drift}).`;
    }
    stories.set(policy, text);
  }
  return stories;
}
