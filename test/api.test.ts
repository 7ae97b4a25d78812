/** REST API against a real server on an ephemeral loopback port: validation, paths, limits, headers. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson, scriptedRecipe, startTestServer, type RunningServer } from './support/test-server.ts';

let running: RunningServer;
let url: string;

beforeAll(async () => {
  running = await startTestServer();
  url = running.url;
  // A symlink inside the data root that leads outside it.
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-outside-'));
  fs.mkdirSync(path.join(outside, 'secret', 'cls'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'secret', 'cls', 'x.png'), '');
  fs.symlinkSync(path.join(outside, 'secret'), path.join(running.env.dataRoot, 'escape'));
  // A symlink loop must not hang the listing.
  fs.symlinkSync(running.env.dataRoot, path.join(running.env.dataset, 'loop'));
});
afterAll(async () => {
  await running.close();
});

const fieldsOf = (body: { fields?: { field: string }[] }) => (body.fields ?? []).map((f) => f.field).sort();

describe('read-only routes', () => {
  it('reports health and the backbones, including the embedded demo', async () => {
    expect((await getJson(`${url}api/health`)).body.ok).toBe(true);
    const { status, body } = await getJson(`${url}api/backbones`);
    expect(status).toBe(200);
    expect(body.backbones.map((b: { name: string }) => b.name)).toContain('demo');
  });

  it('lists the datasets under the data roots, and nothing a symlink leads to outside them', async () => {
    const { status, body } = await getJson(`${url}api/data`);
    expect(status).toBe(200);
    expect(body.datasets.map((d: { relative: string }) => d.relative)).toEqual(['shapes']);
    expect(body.datasets[0]).toMatchObject({ layout: 'class-folders', classes: ['circle', 'square'], imageCount: 6 });
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('lists a sub-folder named by a path inside a root', async () => {
    const { status, body } = await getJson(`${url}api/data?path=${encodeURIComponent(running.env.dataset)}`);
    expect(status).toBe(200);
    expect(body.folder).toBe(fs.realpathSync(running.env.dataset));
  });

  it('sets security headers', async () => {
    const response = await fetch(`${url}api/health`);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(response.headers.get('x-powered-by')).toBeNull();
  });

  it('answers 404 with JSON for unknown jobs and routes', async () => {
    expect((await getJson(`${url}api/runs/run-nope`)).status).toBe(404);
    expect((await getJson(`${url}api/runs/run-nope/metrics`)).status).toBe(404);
    expect((await getJson(`${url}api/nothing`)).status).toBe(404);
  });
});

describe('path traversal is refused', () => {
  const outsideVariants = (root: string) => [
    ['parent segment', '../'],
    ['nested parent segments', 'shapes/../../..'],
    ['absolute path outside', '/etc'],
    ['absolute path with parent inside root', `${root}/../`],
    ['percent-encoded dots and slash', '%2e%2e%2f%2e%2e%2fetc'],
    ['percent-encoded backslash', '..%5c..%5cetc'],
    ['backslash parents', '..\\..\\etc'],
    ['symlink escaping the root', `${root}/escape`],
    ['NUL byte', 'shapes\0/../../etc'],
  ];

  it.each([0, 1, 2, 3, 4, 5, 6, 7, 8])('GET /api/data variant %i', async (i) => {
    const [name, value] = outsideVariants(running.env.dataRoot)[i];
    const { status, body } = await getJson(`${url}api/data?path=${encodeURIComponent(value)}`);
    expect(status, name).toBe(400);
    expect(fieldsOf(body), name).toEqual(['query.path']);
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  it('refuses a doubly encoded traversal that arrives still encoded', async () => {
    const { status } = await getJson(`${url}api/data?path=%252e%252e%252fetc`);
    expect(status).toBe(400);
  });

  it.each([0, 1, 2, 3, 4, 7])('POST /api/runs with data variant %i', async (i) => {
    const [name, value] = outsideVariants(running.env.dataRoot)[i];
    const { status, body } = await postJson(`${url}api/runs`, scriptedRecipe(running.env, undefined, { data: value }));
    expect(status, name).toBe(400);
    expect(fieldsOf(body), name).toEqual(['data']);
  });

  it('refuses a backbone given as a URL or a path outside the roots', async () => {
    for (const backbone of ['https://example.com/model.json', 'file:///etc/passwd', '/etc']) {
      const { status, body } = await postJson(`${url}api/runs`, scriptedRecipe(running.env, undefined, { backbone }));
      expect(status, backbone).toBe(400);
      expect(fieldsOf(body)).toEqual(['backbone']);
    }
  });
});

describe('validation names the fields', () => {
  it('names every bad recipe field, including unknown ones', async () => {
    const { status, body } = await postJson(`${url}api/runs`, {
      data: running.env.dataset,
      epochs: 0,
      batchSize: 'sixteen',
      optimizer: { lr: -1 },
      policy: 'freeze-most',
      colour: 'blue',
    });
    expect(status).toBe(400);
    expect(fieldsOf(body)).toEqual(['backbone', 'batchSize', 'colour', 'epochs', 'optimizer.lr', 'policy'].sort());
    expect(body.error).toContain('epochs');
  });

  it('names the recipe and policy fields of a comparison', async () => {
    const bad = await postJson(`${url}api/compare`, { recipe: { ...scriptedRecipe(running.env), epochs: -2 }, policies: ['train-bn', 'nope'] });
    expect(bad.status).toBe(400);
    expect(fieldsOf(bad.body)).toEqual(['policies.1', 'recipe.epochs']);
    const duplicate = await postJson(`${url}api/compare`, { recipe: scriptedRecipe(running.env), policies: ['train-bn', 'train-bn'] });
    expect(duplicate.status).toBe(400);
    expect(fieldsOf(duplicate.body)).toEqual(['policies']);
    const empty = await postJson(`${url}api/compare`, { recipe: scriptedRecipe(running.env), policies: [] });
    expect(fieldsOf(empty.body)).toEqual(['policies']);
  });

  it('validates ids and query parameters', async () => {
    expect((await getJson(`${url}api/runs/${encodeURIComponent('../etc')}`)).status).toBe(400);
    expect(fieldsOf((await getJson(`${url}api/runs?kind=everything`)).body)).toEqual(['query.kind']);
    expect(fieldsOf((await getJson(`${url}api/data?path=x&extra=1`)).body)).toEqual(['query.extra']);
  });

  it('refuses malformed JSON and bodies over the limit', async () => {
    const malformed = await fetch(`${url}api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"backbone":' });
    expect(malformed.status).toBe(400);
    const big = await postJson(`${url}api/runs`, { ...scriptedRecipe(running.env), name: 'x'.repeat(200 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body.error).toContain('too large');
  });

  it('refuses a body that is not JSON (a cross-site form post cannot start a run)', async () => {
    const response = await fetch(`${url}api/runs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'backbone=demo' });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: string }).error).toMatch(/request body must be JSON/);
  });
});

describe('origin and host checks', () => {
  it('refuses a foreign Host header on a loopback server (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}api/health`, { headers: { host: 'attacker.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(421);
  });

  it('refuses cross-origin writes', async () => {
    const { status } = await postJson(`${url}api/runs`, scriptedRecipe(running.env), { origin: 'http://attacker.example' });
    expect(status).toBe(403);
  });
});
