/**
 * The queue through the real server and real child processes (a scripted worker speaking the real
 * protocol): one job at a time, crashes and kills reported as failed runs without hurting the
 * server, stop, and runs read back from disk by a new server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  getJson,
  makeTestEnvironment,
  postJson,
  scriptedRecipe,
  startTestServer,
  waitFor,
  waitForJob,
  type RunningServer,
} from './support/test-server.ts';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(env = makeTestEnvironment(), queue: { maxQueued?: number; maxQueuedPerClient?: number } = {}) {
  const running = await startTestServer(env, { queue });
  servers.push(running);
  return running;
}

describe('run queue', () => {
  it('runs a job in a child process and keeps its full event history', async () => {
    const { url, env } = await start();
    const created = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=15,delayMs=2'));
    expect(created.status).toBe(201);
    const job = await waitForJob(url, created.body.runId, ['completed']);
    expect(job.runs[0]).toMatchObject({ status: 'completed', step: 15, totalSteps: 15 });
    const { body } = await getJson(`${url}api/runs/${created.body.runId}/metrics`);
    const types = body.events.map((e: { event: { type: string } }) => e.event.type);
    expect(types[0]).toBe('runStarted');
    expect(types.filter((t: string) => t === 'stepEnd')).toHaveLength(15);
    expect(types.at(-1)).toBe('runFinished');
    expect(body.events.map((e: { seq: number }) => e.seq)).toEqual(body.events.map((_: unknown, i: number) => i + 1));
    const later = await getJson(`${url}api/runs/${created.body.runId}/metrics?afterSeq=30`);
    expect(later.body.events[0].seq).toBe(31);
  });

  it('runs one job at a time: the second waits queued', async () => {
    const { url, env } = await start();
    const first = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=40,delayMs=20'));
    const second = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=2,delayMs=1'));
    await waitForJob(url, first.body.runId, ['running']);
    expect((await getJson(`${url}api/runs/${second.body.runId}`)).body.status).toBe('queued');
    await waitForJob(url, second.body.runId, ['completed']);
    expect((await getJson(`${url}api/runs/${first.body.runId}`)).body.status).toBe('completed');
  });

  it.each([
    ['exit', /exited with code 3/],
    ['kill', /killed by signal SIGKILL/],
    ['throw', /scripted failure at step 5/],
  ])('reports a worker that dies (%s) as a failed run and keeps serving', async (crash, message) => {
    const { url, env } = await start();
    const doomed = await postJson(`${url}api/runs`, scriptedRecipe(env, `steps=20,delayMs=2,crashAt=5,crash=${crash}`));
    const next = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=3,delayMs=1'));
    const job = await waitForJob(url, doomed.body.runId, ['failed']);
    expect(job.error).toMatch(message);
    const { body } = await getJson(`${url}api/runs/${doomed.body.runId}/metrics`);
    const finished = body.events.at(-1).event;
    expect(finished).toMatchObject({ type: 'runFinished', status: 'failed' });
    expect(finished.error).toMatch(message);
    expect((await getJson(`${url}api/health`)).status).toBe(200);
    await waitForJob(url, next.body.runId, ['completed']);
  });

  it('stops a running job and a queued one', async () => {
    const { url, env } = await start();
    const running = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=500,delayMs=20'));
    const queued = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=5'));
    await waitFor(async () => (await getJson(`${url}api/runs/${running.body.runId}`)).body.runs[0].step > 2, 20_000, 'steps');
    expect((await postJson(`${url}api/runs/${queued.body.runId}/stop`, {})).status).toBe(200);
    expect((await postJson(`${url}api/runs/${running.body.runId}/stop`, {})).status).toBe(200);
    const stopped = await waitForJob(url, running.body.runId, ['stopped']);
    expect(stopped.runs[0].status).toBe('stopped');
    expect((await getJson(`${url}api/runs/${queued.body.runId}`)).body.status).toBe('stopped');
    expect((await postJson(`${url}api/runs/${running.body.runId}/stop`, {})).status).toBe(409);
  });

  it('runs a comparison policy by policy and serves each member run on its own', async () => {
    const { url, env } = await start();
    const created = await postJson(`${url}api/compare`, {
      recipe: scriptedRecipe(env, 'steps=6,delayMs=1'),
      policies: ['freeze-all', 'train-bn', 'unfreeze-last:2'],
    });
    expect(created.status).toBe(201);
    const id = created.body.comparisonId;
    const job = await waitForJob(url, id, ['completed']);
    expect(job.runs.map((r: { runId: string }) => r.runId)).toEqual([`${id}-freeze-all`, `${id}-train-bn`, `${id}-unfreeze-last_2`]);
    expect(job.runs.every((r: { summary: unknown }) => r.summary)).toBe(true);
    const member = await getJson(`${url}api/runs/${id}-train-bn/metrics`);
    expect(member.body.jobId).toBe(id);
    expect(new Set(member.body.events.map((e: { event: { runId: string } }) => e.event.runId))).toEqual(new Set([`${id}-train-bn`]));
  });

  it('runs an inspect pass off the request path and serves its report', async () => {
    const { url, env } = await start();
    const created = await postJson(`${url}api/inspect`, scriptedRecipe(env));
    expect(created.status).toBe(202);
    const report = await waitFor(async () => {
      const { body } = await getJson(`${url}api/inspect/${created.body.inspectId}`);
      return body.status === 'completed' ? body : null;
    }, 20_000, 'inspect report');
    expect(report.report.recommendation.reason).toContain(env.dataset);
    expect((await getJson(`${url}api/inspect/run-unknown`)).status).toBe(404);
  });

  it('shows finished runs and comparisons again after a restart, read from the checkpoints folder', async () => {
    const env = makeTestEnvironment();
    const first = await start(env);
    const run = await postJson(`${first.url}api/runs`, scriptedRecipe(env, 'steps=4,delayMs=1'));
    const cmp = await postJson(`${first.url}api/compare`, { recipe: scriptedRecipe(env, 'steps=3,delayMs=1'), policies: ['freeze-all', 'adabn'] });
    await waitForJob(first.url, cmp.body.comparisonId, ['completed']);
    const before = (await getJson(`${first.url}api/runs/${run.body.runId}/metrics`)).body.events;
    await first.close();
    servers.length = 0;

    const second = await start(env);
    const { body } = await getJson(`${second.url}api/runs`);
    const ids = body.runs.map((j: { id: string }) => j.id);
    expect(ids).toContain(run.body.runId);
    expect(ids).toContain(cmp.body.comparisonId);
    expect(ids.filter((id: string) => id.startsWith(`${cmp.body.comparisonId}-`))).toEqual([]);
    const restored = await getJson(`${second.url}api/runs/${run.body.runId}`);
    expect(restored.body).toMatchObject({ status: 'completed', fromDisk: true });
    const after = (await getJson(`${second.url}api/runs/${run.body.runId}/metrics`)).body.events;
    expect(after).toEqual(before);
    const comparison = await getJson(`${second.url}api/runs/${cmp.body.comparisonId}`);
    expect(comparison.body.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'completed']);
  });

  it('queues unfinished jobs again after a restart: the running one resumes, the queued one runs', async () => {
    const env = makeTestEnvironment();
    const first = await start(env);
    const running = await postJson(`${first.url}api/runs`, scriptedRecipe(env, 'steps=2000,delayMs=5'));
    const queued = await postJson(`${first.url}api/runs`, scriptedRecipe(env, 'steps=3,delayMs=1'));
    await waitFor(async () => (await getJson(`${first.url}api/runs/${running.body.runId}`)).body.runs[0].step > 3, 20_000, 'steps');
    await first.close(); // the worker is let go mid-run, the second job never started
    servers.length = 0;
    const second = await start(env);
    const restored = (await getJson(`${second.url}api/runs/${running.body.runId}`)).body;
    expect(['queued', 'running']).toContain(restored.status);
    expect(restored.name).toBe('script:steps=2000,delayMs=5');
    await postJson(`${second.url}api/runs/${running.body.runId}/stop`, {});
    await waitForJob(second.url, queued.body.runId, ['completed']);
  });

  it('marks a run cut off outside the queue as interrupted and resumes it on request', async () => {
    const env = makeTestEnvironment();
    const first = await start(env);
    const run = await postJson(`${first.url}api/runs`, scriptedRecipe(env, 'steps=2000,delayMs=5'));
    await waitFor(async () => (await getJson(`${first.url}api/runs/${run.body.runId}`)).body.runs[0].step > 3, 20_000, 'steps');
    await first.close();
    servers.length = 0;
    // as if the run had been started by `bnlab train` (no queue record): it shows as interrupted
    fs.rmSync(path.join(env.config.checkpointsDir, '.queue'), { recursive: true, force: true });
    const second = await start(env);
    const restored = await getJson(`${second.url}api/runs/${run.body.runId}`);
    expect(restored.body).toMatchObject({ status: 'interrupted', resumable: true });
    expect((await postJson(`${second.url}api/runs/${run.body.runId}/resume`, {})).status).toBe(200);
    expect((await getJson(`${second.url}api/runs/${run.body.runId}`)).body.status).toMatch(/queued|running/);
    await postJson(`${second.url}api/runs/${run.body.runId}/stop`, {});
    await waitForJob(second.url, run.body.runId, ['stopped']);
    expect((await postJson(`${second.url}api/runs/${run.body.runId}/resume`, {})).status).toBe(200);
    await postJson(`${second.url}api/runs/${run.body.runId}/stop`, {});
  });

  it('refuses out-of-bounds recipes with field-named 400s and caps the queue with a 429', async () => {
    const { url, env } = await start(makeTestEnvironment(), { maxQueued: 3, maxQueuedPerClient: 2 });
    const bad = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=1', {
      epochs: 1e9, batchSize: 1e6, imageSize: 1e5, head: { hidden: [1e8] }, policy: { rules: [{ match: '([', trainable: true }] },
    }));
    expect(bad.status).toBe(400);
    expect(bad.body.fields.map((f: { field: string }) => f.field).sort()).toEqual(['batchSize', 'epochs', 'head.hidden.0', 'imageSize', 'policy.rules.0.match']);
    const cmpBad = await postJson(`${url}api/compare`, { recipe: scriptedRecipe(env), policies: [{ rules: [{ match: '*x' }] }] });
    expect(cmpBad.body.fields[0].field).toBe('policies.0.rules.0.match');
    const slow = scriptedRecipe(env, 'steps=500,delayMs=20');
    const accepted = [];
    for (let i = 0; i < 3; i++) accepted.push((await postJson(`${url}api/runs`, slow)).status);
    // one runs at once; two may wait for this client
    await waitFor(async () => (await getJson(`${url}api/health`)).body.queue.running === 1, 10_000, 'one running');
    expect(accepted).toEqual([201, 201, 201]);
    const refused = await postJson(`${url}api/runs`, slow);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatch(/limit 2 per client/);
    const cmp = await postJson(`${url}api/compare`, { recipe: slow, policies: ['freeze-all', 'adabn'] });
    expect(cmp.status).toBe(429);
    for (const job of (await getJson(`${url}api/runs`)).body.runs) await postJson(`${url}api/runs/${job.id}/stop`, {});
  });
});
