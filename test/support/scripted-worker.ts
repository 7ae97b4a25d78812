/**
 * Test double for the training engine behind the run worker: speaks the real worker protocol
 * (serveJobs) but emits synthetic, well-formed RunEvents on a schedule read from the recipe name,
 * so queue, stream and crash handling can be tested fast and deterministically. It writes
 * metrics.jsonl like the real loop does, for the read-back-after-restart tests.
 *
 * recipe.name: `script:steps=40,delayMs=5,layers=4,crashAt=10,crash=exit|kill|throw`
 */
import fs from 'node:fs';
import path from 'node:path';
import { policyName } from '../../server/schema/policy-names.ts';
import type { RunEvent, RunSummary } from '../../server/schema/events.ts';
import type { Recipe } from '../../server/schema/recipe.ts';
import { comparisonRunId } from '../../server/runs/run-ids.ts';
import { serveJobs, type JobContext } from '../../server/web/queue/worker-protocol.ts';
import type { BnlabConfig } from '../../server/config.ts';

interface Script {
  steps: number;
  delayMs: number;
  layers: number;
  crashAt: number | null;
  crash: 'exit' | 'kill' | 'throw';
}

function readScript(recipe: Recipe): Script {
  const script: Script = { steps: 20, delayMs: 5, layers: 4, crashAt: null, crash: 'exit' };
  const spec = recipe.name?.startsWith('script:') ? recipe.name.slice('script:'.length) : '';
  for (const part of spec.split(',').filter(Boolean)) {
    const [key, value] = part.split('=');
    if (key === 'crash') script.crash = value as Script['crash'];
    else (script as unknown as Record<string, number>)[key] = Number(value);
  }
  return script;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fakeRun(recipe: Recipe, runId: string, config: BnlabConfig, { onEvent, signal }: JobContext): Promise<RunSummary> {
  const script = readScript(recipe);
  const dir = path.join(config.checkpointsDir, runId);
  fs.mkdirSync(dir, { recursive: true });
  const metrics = path.join(dir, 'metrics.jsonl');
  fs.writeFileSync(metrics, '');
  const emit = (event: RunEvent) => {
    fs.appendFileSync(metrics, `${JSON.stringify(event)}\n`);
    onEvent(event);
  };
  const layers = Array.from({ length: script.layers }, (_, i) => `bn_${i}`);
  const policy = policyName(recipe.policy);
  emit({
    type: 'runStarted', runId, time: new Date().toISOString(), recipe, backend: 'fake',
    backbone: { name: recipe.backbone, inputSize: 32, bnLayers: layers }, classes: ['a', 'b'],
    trainCount: 10, valCount: 4, stepsPerEpoch: script.steps, totalSteps: script.steps,
    policy: { name: policy, description: 'scripted', trainableLayers: [], bnTrainMode: [], bnAffineTrainable: [], bnMomentumKeras: null },
  });
  for (let step = 1; step <= script.steps; step++) {
    if (signal.aborted) {
      emit({ type: 'runFinished', runId, status: 'stopped', summary: null, error: 'stopped by request' });
      throw new Error('stopped by request');
    }
    if (script.crashAt === step) {
      if (script.crash === 'exit') process.exit(3);
      if (script.crash === 'kill') process.kill(process.pid, 'SIGKILL');
      throw new Error(`scripted failure at step ${step}`);
    }
    await sleep(script.delayMs);
    emit({ type: 'stepEnd', runId, step, epoch: 0, loss: 1 / step, accuracy: step / script.steps, lr: 0.001, msPerImage: 1 });
    emit({
      type: 'bnStats', runId, step, epoch: 0,
      layers: layers.map((layer, i) => ({ layer, meanShift: step * (i + 1) * 0.01, logVarRatio: 0.1, symmetricKl: 0.2, batchGap: 0.05, gammaChange: 0, betaChange: 0 })),
    });
  }
  emit({ type: 'epochEnd', runId, epoch: 0, step: script.steps, train: { loss: 0.5, accuracy: 0.8 }, val: { loss: 0.6, accuracy: 0.75 }, valTrainModeAccuracy: null });
  const summary: RunSummary = {
    runId, policy, valAccuracy: 0.75, valLoss: 0.6, valTrainModeAccuracy: null, seconds: 0.1, steps: script.steps,
    totalMeanShift: 1, skippedFiles: [], checkpointDir: dir,
  };
  emit({ type: 'runFinished', runId, status: 'completed', summary });
  return summary;
}

serveJobs({
  run: (job, context) => fakeRun(job.recipe, job.runId, job.config, context),
  async comparison(job, context) {
    const out: RunSummary[] = [];
    for (const policy of job.policies) {
      out.push(await fakeRun({ ...job.recipe, policy }, comparisonRunId(job.comparisonId, policyName(policy)), job.config, context));
    }
    return out;
  },
  async inspect(job) {
    return { images: 4, layers: [], ranking: [], recommendation: { policy: 'freeze-all', reason: `scripted for ${job.recipe.data}` } };
  },
  async adapt(job) {
    throw new Error(`the scripted worker does not run adapt jobs (${job.adaptId})`);
  },
});
