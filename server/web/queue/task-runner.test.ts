import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.ts';
import { RecipeSchema } from '../../schema/recipe.ts';
import { completedRunSummary, runTask } from './task-runner.ts';

const recipe = RecipeSchema.parse({ backbone: 'demo', data: 'data/demo' });

function runFolder(completed: boolean, finished: 'completed' | 'failed' | null) {
  const checkpointsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-task-'));
  const dir = path.join(checkpointsDir, 'run-1');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ format: 'bnlab-checkpoint@1', runId: 'run-1', completed }));
  const summary = { runId: 'run-1', policy: 'train-bn', valAccuracy: 0.5 };
  const lines = [{ type: 'runStarted', runId: 'run-1' }, ...(finished ? [{ type: 'runFinished', runId: 'run-1', status: finished, summary: finished === 'completed' ? summary : null }] : [])];
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return { config: { ...loadConfig({}), checkpointsDir }, summary };
}

describe('a second delivery of a task', () => {
  it('is a no-op for a run that finished for good: its summary, no child process', async () => {
    const { config, summary } = runFolder(true, 'completed');
    expect(completedRunSummary(config, 'run-1')).toEqual(summary);
    const events: unknown[] = [];
    const task = { id: 'run-1', jobId: 'run-1', kind: 'run' as const, recipe, client: 'local', submittedAt: '' };
    // a worker file that does not exist: spawning it would fail the task
    const outcome = await runTask(task, config, { onEvent: (e) => events.push(e), onProgress: () => undefined }, { workerFile: '/nonexistent.ts' }).outcome;
    expect(outcome).toEqual({ status: 'completed', result: summary, error: null });
    expect(events).toEqual([]);
  });

  it('runs again (resuming) when the run did not finish, or finished badly', () => {
    expect(completedRunSummary(runFolder(false, null).config, 'run-1')).toBeNull();
    expect(completedRunSummary(runFolder(true, 'failed').config, 'run-1')).toBeNull();
    expect(completedRunSummary(runFolder(true, 'completed').config, 'other-run')).toBeNull();
  });
});
