/**
 * Load on loopback (issue 6): a real dashboard server (in this process, 127.0.0.1, ephemeral port)
 * runs the demo recipe through the real training worker, alternately with no socket clients and
 * with N socket.io clients subscribed to the run from before its first event to its end. Measured:
 * the training step time with and without clients, this process's memory, and that every client
 * received every event (seq 1..last, no gaps, no repeats) including the final result.
 *
 * Conditions are interleaved in ABBA order (none, clients, clients, none, ...) after one warm-up
 * run, so drift in the shared machine's load hits both alike; the slowdown compares the
 * conditions' medians. The clients live in this process too, so their parsing competes with the
 * worker for the CPU as the server's sending does: a pessimistic setup for the slowdown.
 *
 * Bounded: a fixed number of runs of a fixed recipe, hard timeouts on every wait and on the test,
 * every client closed and the server shut down at the end.
 *   npx vitest run test/reliability/load.test.ts                      (50 clients, 2 rounds)
 *   BNLAB_LONG_TESTS=1 npx vitest run test/reliability/load.test.ts   (50 and 200 clients, 4 rounds)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_RECIPE_FILE, loadConfig, PROJECT_ROOT, type BnlabConfig } from '../../server/config.ts';
import type { RunEvent } from '../../server/schema/events.ts';
import type { Recipe } from '../../server/schema/recipe.ts';
import { createServer, type BnlabServer } from '../../server/web/app.ts';
import type { Job } from '../../server/web/queue/job.ts';
import type { EventEnvelope, JobSummary } from '../../server/schema/api.ts';
import type { EventsMessage } from '../../server/schema/socket.ts';
import { SuiteRecorder, type LoadRecord, type LoadRunRecord } from './summary.ts';

const LONG = process.env.BNLAB_LONG_TESTS === '1';
const COMMAND = `${LONG ? 'BNLAB_LONG_TESTS=1 ' : ''}npx vitest run test/reliability/load.test.ts`;
const PLAN = LONG ? { clientCounts: [50, 200], rounds: 4 } : { clientCounts: [50], rounds: 2 };
/** The target, reported; the assertion is looser so a busy shared machine cannot flake it. */
const TARGET_SLOWDOWN = 0.05;
const ASSERTED_SLOWDOWN = 0.25;
const ASSERTED_HEAP_GROWTH_MB = 100;
const FLUSH_MS = 250; // the server's default
const RUN_TIMEOUT_MS = 60_000;
const MB = 1024 * 1024;

const recorder = new SuiteRecorder(LONG ? 'load-long' : 'load', COMMAND);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-load-'));
const config: BnlabConfig = {
  ...loadConfig({}),
  checkpointsDir: path.join(work, 'checkpoints'),
  cacheDir: path.join(work, 'cache'),
  modelsDir: null,
  backend: process.env.BNLAB_BACKEND ?? null,
};
const demoRecipe = JSON.parse(fs.readFileSync(DEMO_RECIPE_FILE, 'utf8')) as Recipe;
const sockets = new Set<Socket>();
let server: BnlabServer | null = null;

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

function heap(): { heapMb: number; rssMb: number } {
  collectGarbage();
  collectGarbage();
  const m = process.memoryUsage();
  return { heapMb: m.heapUsed / MB, rssMb: m.rss / MB };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer!: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One socket.io client watching one job, as the dashboard page does (websocket transport). */
class Watcher {
  readonly envelopes: EventEnvelope[] = [];
  messages = 0;
  finalStatus: string | null = null;
  finishedAt: number | null = null;
  readonly socket: Socket;

  constructor(url: string) {
    this.socket = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.add(this.socket);
  }

  connected(): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
  }

  watch(jobId: string): void {
    this.socket.on('events', (m: EventsMessage) => {
      if (m.jobId !== jobId) return;
      this.messages += 1;
      this.envelopes.push(...m.events);
      if (m.events.some((e) => e.event.type === 'runFinished')) this.finishedAt = performance.now();
    });
    this.socket.on('job', (s: JobSummary) => {
      if (s.id === jobId) this.finalStatus = s.status;
    });
    this.socket.emit('subscribe', { jobId, afterSeq: 0 });
  }

  /** Seq 1..lastSeq, each once, in order. */
  complete(lastSeq: number): boolean {
    return this.envelopes.length === lastSeq && this.envelopes.every((e, i) => e.seq === i + 1);
  }

  gotFinal(): boolean {
    const finished = this.envelopes.find((e) => e.event.type === 'runFinished')?.event;
    return finished?.type === 'runFinished' && finished.status === 'completed' && this.finalStatus === 'completed';
  }

  close(): void {
    this.socket.close();
    sockets.delete(this.socket);
  }
}

interface Measured {
  record: LoadRunRecord;
  stepMsPerImage: number[];
}

/** Submit the demo run through the REST API, watch it with `clients` sockets, measure it. */
async function measureRun(url: string, condition: string, clients: number, round: number): Promise<Measured> {
  const queue = server!.queue;
  const watchers = Array.from({ length: clients }, () => new Watcher(url));
  await within(Promise.all(watchers.map((w) => w.connected())), 20_000, `${clients} clients to connect`);

  const stepMsPerImage: number[] = [];
  const stepArrivals: number[] = [];
  let finalRecordedAt: number | null = null;
  let runId = '';
  const onEvent = (job: Job, envelope: EventEnvelope) => {
    if (job.id !== runId) return;
    const event: RunEvent = envelope.event;
    if (event.type === 'stepEnd') {
      stepMsPerImage.push(event.msPerImage);
      stepArrivals.push(performance.now());
    } else if (event.type === 'runFinished') finalRecordedAt = performance.now();
  };
  let settle!: (summary: JobSummary) => void;
  const ended = new Promise<JobSummary>((resolve) => (settle = resolve));
  const onJob = (summary: JobSummary) => {
    if (summary.id === runId && !['queued', 'running'].includes(summary.status)) settle(summary);
  };
  queue.on('event', onEvent);
  queue.on('job', onJob);

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const sampler = setInterval(sample, 200);
  const cpuBefore = process.cpuUsage();
  loopDelay.enable();
  const t0 = performance.now();
  try {
    const response = await fetch(`${url}api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(demoRecipe),
    });
    const body = (await response.json()) as { runId?: string; error?: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    runId = body.runId!;
    // The worker takes a second or more to start, so every client is subscribed before event 1;
    // subscribing with afterSeq 0 would replay anything earlier anyway.
    for (const w of watchers) w.watch(runId);
    const summary = await within(ended, RUN_TIMEOUT_MS, `run ${runId} to end`);
    const runSeconds = (performance.now() - t0) / 1000;
    expect(summary.status, summary.error ?? '').toBe('completed');
    const lastSeq = summary.lastSeq;
    await within(
      (async () => {
        while (!watchers.every((w) => w.complete(lastSeq) && w.gotFinal())) await new Promise((r) => setTimeout(r, 50));
      })(),
      10_000,
      'every client to receive every event',
    ).catch(() => undefined); // counted below
    sample();
    loopDelay.disable();
    const deliveries = watchers.map((w) => w.finishedAt).filter((t): t is number => t !== null);
    const record: LoadRunRecord = {
      condition,
      clients,
      round,
      steps: stepMsPerImage.length,
      medianMsPerImage: median(stepMsPerImage),
      wallMsPerStep: (stepArrivals.at(-1)! - stepArrivals[0]) / Math.max(1, stepArrivals.length - 1),
      runSeconds,
      events: lastSeq,
      clientsComplete: watchers.filter((w) => w.complete(lastSeq)).length,
      clientsGotFinal: watchers.filter((w) => w.gotFinal()).length,
      messagesPerClient: clients ? watchers.reduce((sum, w) => sum + w.messages, 0) / clients : 0,
      finalDeliveryMaxMs: finalRecordedAt !== null && deliveries.length ? Math.max(...deliveries) - finalRecordedAt : null,
      peakRssMb: peakRss / MB,
      peakHeapMb: peakHeap / MB,
      eventLoopP99Ms: loopDelay.percentile(99) / 1e6,
      serverCpuSeconds: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(cpuBefore)),
    };
    return { record, stepMsPerImage };
  } finally {
    clearInterval(sampler);
    loopDelay.disable();
    queue.off('event', onEvent);
    queue.off('job', onJob);
    for (const w of watchers) w.close();
  }
}

afterAll(async () => {
  for (const socket of sockets) socket.close();
  sockets.clear();
  await server?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('load: socket clients watching a real training run', () => {
  it(
    `${PLAN.clientCounts.join(' and ')} clients vs none, ${PLAN.rounds} interleaved rounds`,
    async () => {
      server = createServer({ config, flushMs: FLUSH_MS });
      const { url, host } = await server.listen();
      expect(host).toBe('127.0.0.1');

      // Warm-up (not measured): generates the demo data if missing, fills file caches and tsx's cache.
      await measureRun(url, 'warm-up', 0, 0);
      const before = heap();

      const conditions = [{ name: 'none', clients: 0 }, ...PLAN.clientCounts.map((n) => ({ name: `${n} clients`, clients: n }))];
      const runs: LoadRunRecord[] = [];
      for (let round = 1; round <= PLAN.rounds; round++) {
        // ABBA order: a steady drift in the machine's load favours neither condition
        const order = round % 2 ? conditions : [...conditions].reverse();
        for (const c of order) runs.push((await measureRun(url, c.name, c.clients, round)).record);
      }
      const after = heap();

      const medianMsPerImage: Record<string, number> = {};
      const medianWall: Record<string, number> = {};
      const spread: Record<string, number> = {};
      const bestMsPerImage: Record<string, number> = {};
      for (const c of conditions) {
        const mine = runs.filter((r) => r.condition === c.name);
        const stepTimes = mine.map((r) => r.medianMsPerImage);
        medianMsPerImage[c.name] = median(stepTimes);
        medianWall[c.name] = median(mine.map((r) => r.wallMsPerStep));
        bestMsPerImage[c.name] = Math.min(...stepTimes);
        spread[c.name] = Math.max(...stepTimes) / bestMsPerImage[c.name] - 1;
      }
      // When identical runs of one condition already differ by more than the bound (neighbours on
      // the shared cores, or the other reliability suites running beside this one), a difference
      // between conditions says nothing: the figures are recorded, the bound is not asserted.
      const slowdownAsserted = Object.values(spread).every((x) => x <= ASSERTED_SLOWDOWN);
      const slowdown: Record<string, number> = {};
      const wallSlowdown: Record<string, number> = {};
      const bestSlowdown: Record<string, number> = {};
      for (const c of conditions.slice(1)) {
        bestSlowdown[c.name] = bestMsPerImage[c.name] / bestMsPerImage.none - 1;
        slowdown[c.name] = medianMsPerImage[c.name] / medianMsPerImage.none - 1;
        wallSlowdown[c.name] = medianWall[c.name] / medianWall.none - 1;
      }
      const load: LoadRecord = {
        recipe: `recipes/demo.json (${demoRecipe.backbone} backbone, ${demoRecipe.epochs} epochs, batch ${demoRecipe.batchSize}, policy ${String(demoRecipe.policy)})`,
        flushMs: FLUSH_MS,
        transport: 'socket.io-client over websocket, in the server process',
        runs,
        medianMsPerImage,
        slowdown,
        wallSlowdown,
        bestMsPerImage,
        bestSlowdown,
        targetSlowdown: TARGET_SLOWDOWN,
        assertedSlowdownBound: ASSERTED_SLOWDOWN,
        spread,
        slowdownAsserted,
        heapBeforeMb: before.heapMb,
        heapAfterMb: after.heapMb,
        rssBeforeMb: before.rssMb,
        rssAfterMb: after.rssMb,
        assertedHeapGrowthMb: ASSERTED_HEAP_GROWTH_MB,
      };
      recorder.load = load;

      const watched = runs.filter((r) => r.clients > 0);
      const allDelivered = watched.every((r) => r.clientsComplete === r.clients && r.clientsGotFinal === r.clients);
      const heapGrowth = after.heapMb - before.heapMb;
      const fmt = (x: number) => `${x > 0 ? '+' : ''}${(100 * x).toFixed(1)} %`;
      const caseBase = { group: recorder.suite, outcome: 'ok' as const, crashed: false };
      recorder.record({
        ...caseBase,
        id: 'load-final-results',
        input: `${watched.length} runs watched by ${PLAN.clientCounts.join('/')} clients`,
        message: watched.map((r) => `${r.condition} round ${r.round}: ${r.clientsComplete}/${r.clients} got seq 1..${r.events}, ${r.clientsGotFinal}/${r.clients} got runFinished + completed`).join('; '),
        expected: 'every client gets every seq and the final result',
        passed: allDelivered,
      });
      for (const [name, value] of Object.entries(slowdown)) {
        recorder.record({
          ...caseBase,
          id: `load-slowdown-${name.replace(/\W+/g, '-')}`,
          input: `median ms/image per step, ${name} vs none (${PLAN.rounds} rounds each)`,
          message: `${medianMsPerImage[name].toFixed(3)} vs ${medianMsPerImage.none.toFixed(3)} ms/image: ${fmt(value)}; best runs ${bestMsPerImage[name].toFixed(3)} vs ${bestMsPerImage.none.toFixed(3)}: ${fmt(bestSlowdown[name])} (spread between identical runs: none ${fmt(spread.none)}, ${name} ${fmt(spread[name])}${slowdownAsserted ? '' : '; too noisy, bound not asserted'})`,
          // the target is met only when the measurement can resolve it: identical runs agreeing within it
          expected: `slowdown <= ${fmt(TARGET_SLOWDOWN)} with identical runs agreeing within ${fmt(TARGET_SLOWDOWN)} (issue 6 target; the test asserts <= ${fmt(ASSERTED_SLOWDOWN)})`,
          passed: value <= TARGET_SLOWDOWN && spread.none <= TARGET_SLOWDOWN && spread[name] <= TARGET_SLOWDOWN,
        });
      }
      recorder.record({
        ...caseBase,
        id: 'load-heap',
        input: 'heapUsed after GC, before the first measured run and after the last (clients closed)',
        message: `${before.heapMb.toFixed(1)} MB -> ${after.heapMb.toFixed(1)} MB (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(1)} MB)`,
        expected: `growth < ${ASSERTED_HEAP_GROWTH_MB} MB`,
        passed: heapGrowth < ASSERTED_HEAP_GROWTH_MB,
      });
      recorder.write();

      for (const r of watched) {
        expect(r.clientsComplete, `${r.condition} round ${r.round}: clients with every seq`).toBe(r.clients);
        expect(r.clientsGotFinal, `${r.condition} round ${r.round}: clients with the final result`).toBe(r.clients);
        // batched: at most one message per flush (plus one per status change), far fewer than events
        expect(r.messagesPerClient).toBeLessThanOrEqual(Math.ceil((r.runSeconds * 1000) / FLUSH_MS) + 10);
        expect(r.messagesPerClient).toBeLessThan(r.events / 2);
      }
      for (const r of runs) expect(r.steps).toBeGreaterThan(0);
      if (slowdownAsserted) {
        for (const value of [...Object.values(slowdown), ...Object.values(bestSlowdown)]) expect(value).toBeLessThanOrEqual(ASSERTED_SLOWDOWN);
      }
      else console.warn(`[load] step times too noisy to compare (spread ${JSON.stringify(spread)}); slowdown recorded, not asserted`);
      expect(heapGrowth).toBeLessThan(ASSERTED_HEAP_GROWTH_MB);
    },
    LONG ? 600_000 : 150_000,
  );
});
