/**
 * Real bnlab servers for tests: ephemeral 127.0.0.1 port, a temporary checkpoints folder and a
 * temporary data root holding a tiny image-folder dataset (files only need the right names for the
 * API; nothing decodes them in these tests).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type BnlabConfig } from '../../server/config.ts';
import { createServer, type BnlabServer, type ServerOptions } from '../../server/web/app.ts';

export const SCRIPTED_WORKER = fileURLToPath(new URL('./scripted-worker.ts', import.meta.url));

export interface TestEnvironment {
  dir: string;
  dataRoot: string;
  dataset: string;
  config: BnlabConfig;
}

export function makeTestEnvironment(): TestEnvironment {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-web-'));
  const dataRoot = path.join(dir, 'data');
  const dataset = path.join(dataRoot, 'shapes');
  for (const cls of ['circle', 'square']) {
    fs.mkdirSync(path.join(dataset, cls), { recursive: true });
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dataset, cls, `${i}.png`), '');
  }
  const config: BnlabConfig = {
    ...loadConfig({}),
    dataRoots: [dataRoot],
    checkpointsDir: path.join(dir, 'checkpoints'),
    cacheDir: path.join(dir, 'cache'),
    modelsDir: null,
  };
  return { dir, dataRoot, dataset, config };
}

export interface RunningServer {
  server: BnlabServer;
  url: string;
  env: TestEnvironment;
  close(): Promise<void>;
}

export async function startTestServer(
  env: TestEnvironment = makeTestEnvironment(),
  options: Partial<ServerOptions> = {},
): Promise<RunningServer> {
  const server = createServer({
    config: env.config,
    flushMs: 100,
    ...options,
    queue: { workerFile: SCRIPTED_WORKER, stopGraceMs: 3000, redisUrl: null, ...options.queue },
  });
  const { url } = await server.listen();
  return { server, url, env, close: () => server.close() };
}

/** A recipe the scripted worker understands; `script` goes into its name. */
export function scriptedRecipe(env: TestEnvironment, script = 'steps=20,delayMs=5', extra: Record<string, unknown> = {}) {
  return { name: `script:${script}`, backbone: 'demo', data: env.dataset, epochs: 1, ...extra };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json().catch(() => null)) as any, headers: response.headers };
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json().catch(() => null)) as any, headers: response.headers };
}

/** Poll until `check` returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitForJob(url: string, id: string, statuses: string[], timeoutMs = 30_000) {
  return waitFor(async () => {
    const { body } = await getJson(`${url}api/runs/${id}`);
    return statuses.includes(body?.status) ? body : null;
  }, timeoutMs, `${id} to reach ${statuses.join('/')}`);
}
