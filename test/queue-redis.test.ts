/**
 * The BullMQ engine end to end, with a real redis-server started here, real `bnlab worker`
 * processes and the real training engine on the demo backbone (short runs):
 *  1. two workers and one dashboard run a 3-policy × 2-seed comparison; a socket client receives
 *     every run's events in order and the aggregated result;
 *  2. a worker SIGKILLed mid-run: the other worker takes the task over, resumes from the
 *     checkpoint and ends with the same weights as an uninterrupted run;
 *  3. the dashboard stopped and restarted mid-sweep: no run lost, queued ones run, and an open page
 *     (Chromium) reconnects without a reload and its step counters move again;
 *  4. cancel-all stops a comparison's running runs on their workers and drops its queued ones.
 * Without redis-server these are skipped with a warning, except in CI where that fails.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BnlabConfig } from '../server/config.ts';
import { ensureDemoDataset } from '../server/demo/make-dataset.ts';
import type { RunEvent } from '../server/schema/events.ts';
import { createServer, type BnlabServer } from '../server/web/app.ts';
import { ensureClientBuilt } from '../server/web/client-build.ts';
import type { JobSummary } from '../server/schema/api.ts';
import type { EventsMessage } from '../server/schema/socket.ts';
import { chromiumAvailable, launchChromium } from './support/chromium.ts';
import { getJson, postJson, waitFor, waitForJob } from './support/test-server.ts';
import { startBnlab, type BnlabProcess } from './support/bnlab-process.ts';
import { freePort, REDIS_SERVER_PATH, redisServerAvailable, startRedis, warnRedisMissing, type TestRedis } from './support/redis-server.ts';

const haveRedis = redisServerAvailable();
warnRedisMissing('test/queue-redis.test.ts');

/** Short demo runs: 3 steps per epoch (a checkpoint after each epoch). */
const demoRecipe = (extra: Record<string, unknown> = {}) => ({ backbone: 'demo', data: 'data/demo', epochs: 2, batchSize: 8, maxStepsPerEpoch: 3, logEvery: 2, ...extra });

describe('BullMQ queue on a real redis-server', () => {
  it.runIf(!haveRedis && process.env.CI)('has a redis-server to test with (CI)', () => {
    throw new Error(`no redis-server at ${REDIS_SERVER_PATH}: CI must install the Debian redis-server package`);
  });

  let redis: TestRedis;
  let config: BnlabConfig;
  let workerEnv: Record<string, string>;
  let server: BnlabServer;
  let url: string;
  const workers: BnlabProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];

  async function startWorker(): Promise<BnlabProcess> {
    const worker = startBnlab(['worker', '--concurrency', '1'], workerEnv);
    workers.push(worker);
    await worker.waitFor(/bnlab worker \S+:\d+: 1 at a time/);
    return worker;
  }

  beforeAll(async () => {
    if (!haveRedis) return;
    redis = await startRedis();
    cleanups.push(() => redis.stop());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-queue-'));
    config = { ...loadConfig({}), checkpointsDir: path.join(dir, 'checkpoints'), cacheDir: path.join(dir, 'cache'), modelsDir: null };
    await ensureDemoDataset(config); // once, before two workers would both make it
    workerEnv = {
      BNLAB_REDIS_URL: redis.url,
      BNLAB_CHECKPOINTS_DIR: config.checkpointsDir,
      BNLAB_CACHE_DIR: config.cacheDir,
      // a dead worker's task is taken over after ~3 s instead of 30
      BNLAB_WORKER_LOCK_MS: '3000',
      BNLAB_WORKER_STALLED_MS: '1000',
    };
    server = createServer({ config, flushMs: 100, queue: { redisUrl: redis.url } });
    cleanups.push(() => server.close());
    url = (await server.listen()).url;
    await Promise.all([startWorker(), startWorker()]);
  }, 60_000);

  afterAll(async () => {
    for (const worker of workers) await worker.kill('SIGKILL');
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it.runIf(haveRedis)('two workers run a 3-policy × 2-seed comparison; socket clients of two dashboards get every run in order and the aggregate', { timeout: 120_000 }, async () => {
    // a second dashboard on the same Redis and checkpoints: it hears of the job from the first
    const other = createServer({ config, flushMs: 100, queue: { redisUrl: redis.url } });
    cleanups.push(() => other.close());
    const otherUrl = (await other.listen()).url;
    const socket: Socket = connect(url, { transports: ['websocket'], forceNew: true });
    const otherSocket: Socket = connect(otherUrl, { transports: ['websocket'], forceNew: true });
    cleanups.push(() => void socket.close(), () => void otherSocket.close());
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    await new Promise<void>((resolve, reject) => otherSocket.once('connect', resolve).once('connect_error', reject));
    const envelopes: EventsMessage['events'] = [];
    const otherEnvelopes: EventsMessage['events'] = [];
    let final: JobSummary | null = null;
    let otherFinal: JobSummary | null = null;
    const created = await postJson(`${url}api/compare`, { recipe: demoRecipe({ epochs: 1 }), policies: ['freeze-all', 'train-bn', 'adabn'], seeds: [0, 1] });
    expect(created.status).toBe(201);
    const id = created.body.comparisonId as string;
    socket.on('events', (m: EventsMessage) => m.jobId === id && envelopes.push(...m.events));
    socket.on('job', (s: JobSummary) => {
      if (s.id === id && s.status === 'completed') final = s;
    });
    socket.emit('subscribe', { jobId: id, afterSeq: 0 });
    otherSocket.on('events', (m: EventsMessage) => m.jobId === id && otherEnvelopes.push(...m.events));
    otherSocket.on('job', (s: JobSummary) => {
      if (s.id === id && s.status === 'completed') otherFinal = s;
    });
    await waitFor(async () => (await getJson(`${otherUrl}api/runs/${id}`)).status === 200, 10_000, 'the second dashboard to know the job');
    otherSocket.emit('subscribe', { jobId: id, afterSeq: 0 });
    await waitFor(() => final && otherFinal, 110_000, 'the comparison to complete on both dashboards');
    const summary = final as unknown as JobSummary;

    // aggregated: six runs, each with its summary, run by both workers
    expect(summary.runs).toHaveLength(6);
    expect(summary.runs.every((r) => r.status === 'completed' && typeof r.summary?.valAccuracy === 'number')).toBe(true);
    expect(new Set(summary.runs.map((r) => r.worker)).size).toBe(2);
    // every event once, in seq order, each run complete and in step order
    await waitFor(() => envelopes.at(-1)?.seq === summary.lastSeq, 5000, 'the last events');
    expect(envelopes.map((e) => e.seq)).toEqual(Array.from({ length: summary.lastSeq }, (_, i) => i + 1));
    for (const run of summary.runs) {
      const events = envelopes.map((e) => e.event).filter((e) => e.runId === run.runId);
      expect(events[0].type).toBe('runStarted');
      expect(events.at(-1)).toMatchObject({ type: 'runFinished', status: 'completed' });
      const steps = events.filter((e): e is Extract<RunEvent, { type: 'stepEnd' }> => e.type === 'stepEnd').map((e) => e.step);
      expect(steps).toEqual([1, 2, 3]);
    }
    const seeds = summary.runs.map((r) => r.label);
    expect(seeds).toContain('adabn · seed 1');
    // the second dashboard saw the same events, each run in the same order (its own seqs, gap-free)
    const second = otherFinal as unknown as JobSummary;
    expect(second.runs.map((r) => [r.runId, r.status, r.worker])).toEqual(summary.runs.map((r) => [r.runId, r.status, r.worker]));
    await waitFor(() => otherEnvelopes.at(-1)?.seq === second.lastSeq, 5000, 'the last events on the second dashboard');
    expect(otherEnvelopes.map((e) => e.seq)).toEqual(Array.from({ length: second.lastSeq }, (_, i) => i + 1));
    const perRun = (list: EventsMessage['events']) => summary.runs.map((r) => list.filter((e) => e.event.runId === r.runId).map((e) => e.event));
    expect(perRun(otherEnvelopes)).toEqual(perRun(envelopes));
  });

  it.runIf(haveRedis)('a worker SIGKILLed mid-run: the other resumes from the checkpoint, same weights as uninterrupted', { timeout: 120_000 }, async () => {
    const recipe = demoRecipe({ seed: 5, epochs: 3, policy: 'train-bn' });
    let killed: string | null = null;
    const created = await postJson(`${url}api/runs`, recipe);
    const runId = created.body.runId as string;
    const onEvent = (job: { id: string; runs: Map<string, { worker: string | null }> }, envelope: { event: RunEvent }) => {
      if (killed || job.id !== runId || envelope.event.type !== 'checkpoint') return;
      killed = job.runs.get(runId)!.worker!;
      const pid = Number(killed.split(':').pop());
      workers.find((w) => w.child.pid === pid)?.child.kill('SIGKILL');
    };
    server.queue.on('event', onEvent);
    const job = await waitForJob(url, runId, ['completed', 'failed'], 90_000);
    server.queue.off('event', onEvent);
    expect(job.status).toBe('completed');
    expect(killed).not.toBeNull();
    expect(job.runs[0].worker).not.toBe(killed);
    const metrics = fs.readFileSync(path.join(config.checkpointsDir, runId, 'metrics.jsonl'), 'utf8');
    expect(metrics).toMatch(/"code":"resume"/);

    const reference = await postJson(`${url}api/runs`, recipe);
    await waitForJob(url, reference.body.runId, ['completed'], 60_000);
    const weights = (id: string) => fs.readFileSync(path.join(config.checkpointsDir, id, 'weights-9.bin'));
    expect(weights(runId).equals(weights(reference.body.runId)), 'resumed and uninterrupted weights are identical').toBe(true);
    await startWorker(); // two again for the next test
  });

  it.runIf(haveRedis)('the dashboard stopped and restarted mid-sweep: nothing lost, and the open page reconnects by itself', { timeout: 150_000 }, async () => {
    const port = await freePort();
    const dashboardEnv = { ...workerEnv, BNLAB_DATA_ROOTS: path.join(config.checkpointsDir, '..', 'data') };
    const second = path.join(dashboardEnv.BNLAB_DATA_ROOTS, 'demo-copy');
    fs.cpSync(config.demoDataDir, second, { recursive: true });
    const serve = () => {
      const dashboard = startBnlab(['serve', '--port', String(port)], dashboardEnv);
      cleanups.push(() => dashboard.kill('SIGKILL'));
      return dashboard;
    };
    await ensureClientBuilt();
    let dashboard = serve();
    const pageUrl = (await dashboard.waitFor(/bnlab dashboard: (\S+)/))[1];
    const created = await postJson(`${pageUrl}api/sweep`, {
      // policies whose frozen part cannot be cached (BN trains), and enough steps that runs are
      // still going after the restart: freeze-all's cached prefix finishes in well under a second
      recipe: demoRecipe({ epochs: 20, maxStepsPerEpoch: 5 }),
      backbones: ['demo'],
      datasets: ['data/demo', second],
      policies: ['train-bn', 'bn-stats-only'],
    });
    expect(created.status).toBe(201);
    const id = created.body.sweepId as string;

    const browser = haveChromium ? await launchChromium() : null;
    if (browser) cleanups.push(() => browser.close());
    const page = browser ? await browser.context.newPage() : null;
    if (page) {
      await page.goto(`${pageUrl}#/job/${id}`);
      await page.waitForSelector('.connection[data-state=connected]');
      await page.waitForFunction(() => /step [1-9]/.test(document.querySelector('.run-steps')?.textContent ?? ''), undefined, { timeout: 60_000 });
      await page.evaluate(() => ((window as unknown as { bnlabMarker: number }).bnlabMarker = 42));
    } else {
      await waitFor(async () => (await getJson(`${pageUrl}api/runs/${id}`)).body.runs.some((r: { step: number }) => r.step > 0), 60_000, 'a step');
    }

    // SIGTERM: the server shuts down cleanly and disconnects every socket ('io server disconnect'),
    // the case socket.io does not reconnect from by itself (a SIGKILL, 'transport close', it does)
    await dashboard.kill('SIGTERM');
    if (page) await page.waitForSelector('.connection[data-state=disconnected]');
    await new Promise((r) => setTimeout(r, 1000));
    dashboard = serve();
    await dashboard.waitFor(/bnlab dashboard:/);

    if (page) {
      await page.waitForSelector('.connection[data-state=connected]', { timeout: 30_000 });
      expect(await page.evaluate(() => (window as unknown as { bnlabMarker?: number }).bnlabMarker), 'no reload').toBe(42);
      // the step counters move again: the sum of the steps shown grows after the reconnect
      const stepsShown = () => [...document.querySelectorAll('[data-progress]')].reduce((sum, n) => sum + Number(/step (\d+)/.exec(n.textContent ?? '')?.[1] ?? 0), 0);
      const before = await page.evaluate(stepsShown);
      await page.waitForFunction(
        (previous) => [...document.querySelectorAll('[data-progress]')].reduce((sum, n) => sum + Number(/step (\d+)/.exec(n.textContent ?? '')?.[1] ?? 0), 0) > previous,
        before,
        { timeout: 60_000 },
      );
    }
    const job = await waitForJob(pageUrl, id, ['completed', 'failed', 'stopped'], 120_000);
    expect(job.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    if (page) await page.waitForSelector('[data-final-table][data-complete=true]');
  });

  it.runIf(haveRedis)('cancel-all stops the runs on their workers and drops the queued ones', { timeout: 90_000 }, async () => {
    const created = await postJson(`${url}api/compare`, { recipe: demoRecipe({ epochs: 50 }), policies: ['freeze-all', 'train-bn'], seeds: [0, 1] });
    const id = created.body.comparisonId as string;
    await waitFor(async () => (await getJson(`${url}api/runs/${id}`)).body.runs.some((r: { step: number }) => r.step > 0), 60_000, 'a run to step');
    expect((await postJson(`${url}api/runs/${id}/stop`, {})).status).toBe(200);
    const job = await waitForJob(url, id, ['stopped', 'completed', 'failed'], 60_000);
    expect(job.status).toBe('stopped');
    expect(job.runs.map((r: { status: string }) => r.status)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
    // the running ones were stopped mid-run by their worker, not run to the end
    expect(job.runs.every((r: { step: number }) => r.step < 150)).toBe(true);
  });
});

const haveChromium = chromiumAvailable();

