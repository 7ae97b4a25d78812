import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../server/schema/events.ts';
import { policyStories } from './policy-story.ts';

const summary = (policy: string, valAccuracy: number, valTrainModeAccuracy: number | null): RunSummary => ({
  runId: policy, policy, valAccuracy, valLoss: 1, valTrainModeAccuracy, seconds: 1, steps: 10, totalMeanShift: 2.5, skippedFiles: [], checkpointDir: '/x',
});

describe('policyStories', () => {
  it('says chance, EMA lag and whether PreciseBN closed it from the measured numbers', () => {
    const stories = policyStories([
      { policy: 'freeze-all', summary: summary('freeze-all', 0.25, 0.3) },
      { policy: 'train-bn', summary: summary('train-bn', 0.275, 0.608) },
      { policy: 'train-bn+precise-bn', summary: summary('train-bn', 0.55, 0.6) },
      { policy: 'adabn', summary: summary('adabn', 0.492, 0.5) },
    ], 4);
    expect(stories.get('freeze-all')).toMatch(/25\.0 %, about chance \(25\.0 % for 4 classes\)/);
    expect(stories.get('train-bn')).toMatch(/27\.5 % .* but 60\.8 % with batch statistics .* lag/);
    expect(stories.get('train-bn+precise-bn')).toMatch(/55\.0 % against 27\.5 % without it, closing the EMA lag/);
    expect(stories.get('adabn')).toMatch(/49\.2 %\.$/);
  });

  it('does not claim a lag or a fix the numbers do not show', () => {
    const stories = policyStories([
      { policy: 'train-bn', summary: summary('train-bn', 0.8, 0.81) },
      { policy: 'train-bn+precise-bn', summary: summary('train-bn', 0.81, 0.81) },
    ], 4);
    expect(stories.get('train-bn')).toMatch(/caught up/);
    expect(stories.get('train-bn+precise-bn')).toMatch(/not what held accuracy back/);
  });
});
