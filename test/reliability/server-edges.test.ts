/**
 * The dashboard server's edges, tried as an attacker or a confused client would: paths outside the
 * data roots (`../`, absolute, percent-encoded, through a symlink), oversized and malformed bodies,
 * foreign Host/Origin headers, missing tokens, malformed socket messages, and a training worker
 * that dies mid-run. Raw HTTP requests (node:http) so that paths reach the server unnormalised.
 * Every case asserts the status and the key phrase, that the server still answers afterwards, and
 * is recorded for RELIABILITY.md.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BnlabConfig } from '../../server/config.ts';
import { createServer, type BnlabServer } from '../../server/web/app.ts';
import type { DataListing } from '../../server/schema/api.ts';
import { ensureClientBuilt } from '../../server/web/client-build.ts';
import { resolvePort } from '../../server/web/start.ts';
import { chromiumAvailable, launchChromium } from '../support/chromium.ts';
import { tempDir, writeImageFolder, writeTinyBackbone } from '../support/reliability-fixtures.ts';
import { SuiteRecorder, type CaseRecord } from './summary.ts';

const recorder = new SuiteRecorder('server-edges', 'npx vitest run test/reliability/server-edges.test.ts');
const work = tempDir('bnlab-edges-');
const dataRoot = path.join(work, 'data');
const outside = path.join(work, 'outside');
const config: BnlabConfig = {
  ...loadConfig({}),
  dataRoots: [dataRoot],
  checkpointsDir: path.join(work, 'checkpoints'),
  cacheDir: path.join(work, 'cache'),
  modelsDir: null,
};
let server: BnlabServer;
let port = 0;
const processFailures: string[] = [];
const onUnhandled = (error: unknown) => processFailures.push(String((error as Error)?.stack ?? error));

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(method: string, rawPath: string, opts: { body?: string | Buffer; headers?: Record<string, string>; port?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: opts.port ?? port, method, path: rawPath, headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

async function healthy(): Promise<boolean> {
  const reply = await request('GET', '/api/health');
  return reply.status === 200 && JSON.parse(reply.body).ok === true;
}

/** Record and assert one HTTP case: status, key phrase, no 5xx, server alive afterwards. */
async function checkHttp(id: string, input: string, expectedStatus: number, expected: RegExp, send: () => Promise<Reply>, and?: (reply: Reply) => void): Promise<void> {
  const failuresBefore = processFailures.length;
  const reply = await send();
  const alive = await healthy();
  const crashed = reply.status >= 500 || !alive || processFailures.length > failuresBefore;
  const message = `${reply.status} ${reply.body.slice(0, 300)}`;
  let passed = reply.status === expectedStatus && expected.test(reply.body) && !crashed;
  let extra: unknown = null;
  if (passed && and) {
    try {
      and(reply);
    } catch (error) {
      passed = false;
      extra = error;
    }
  }
  recorder.record({ id, group: 'http', input, outcome: 'http', message, expected: `${expectedStatus} ${expected.source}`, passed, crashed });
  expect(crashed, message).toBe(false);
  expect(reply.status, message).toBe(expectedStatus);
  expect(reply.body).toMatch(expected);
  if (extra) throw extra;
}

function record(entry: Omit<CaseRecord, 'passed' | 'crashed'> & { passed: boolean; crashed?: boolean }) {
  recorder.record({ crashed: false, ...entry });
}

const recipeBody = (overrides: Record<string, unknown>) => JSON.stringify({ backbone: 'demo', data: path.join(dataRoot, 'colours'), ...overrides });

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  await writeImageFolder(path.join(dataRoot, 'colours'), 6);
  await writeImageFolder(path.join(dataRoot, 'solo-class'), 3, { solo: [90, 120, 30] });
  await writeTinyBackbone(path.join(dataRoot, 'tiny-backbone'));
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'TOP SECRET');
  await writeImageFolder(path.join(outside, 'private-photos'), 2);
  fs.symlinkSync(path.join(outside, 'private-photos'), path.join(dataRoot, 'link-out'));
  server = createServer({ config, flushMs: 50, queue: { stopGraceMs: 2000 } });
  port = (await server.listen()).port;
});

afterAll(async () => {
  await server?.close();
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  recorder.extra.processFailures = processFailures.length;
  recorder.write();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('paths outside the data roots', () => {
  it('../ in a data listing', async () => {
    await checkHttp('data-dotdot', 'GET /api/data?path=../../..', 400, /'\.\.' segment/, () => request('GET', '/api/data?path=../../..'));
  });

  it('absolute path in a data listing', async () => {
    await checkHttp('data-absolute', `GET /api/data?path=${outside}`, 400, /outside the data roots/, () => request('GET', `/api/data?path=${encodeURIComponent(outside)}`));
  });

  it('percent-encoded ../ in a data listing', async () => {
    await checkHttp('data-encoded-dotdot', 'GET /api/data?path=%2e%2e%2f%2e%2e', 400, /'\.\.' segment|percent-encoded/, () => request('GET', '/api/data?path=%2e%2e%2f%2e%2e'));
  });

  it('double-encoded ../ in a data listing', async () => {
    await checkHttp('data-double-encoded', 'GET /api/data?path=%252e%252e%252f', 400, /percent-encoded/, () => request('GET', '/api/data?path=%252e%252e%252f%252e%252e'));
  });

  it('a symlink inside a root that leads outside it', async () => {
    await checkHttp('data-symlink-out', 'GET /api/data?path=<root>/link-out (-> outside)', 400, /outside the data roots through a symbolic link/, () => request('GET', `/api/data?path=${encodeURIComponent(path.join(dataRoot, 'link-out'))}`));
  });

  it('a repeated query parameter', async () => {
    await checkHttp('data-array-param', 'GET /api/data?path=a&path=b', 400, /query\.path/, () => request('GET', '/api/data?path=a&path=b'));
  });

  it('a run whose data folder is outside the roots', async () => {
    await checkHttp('run-data-outside', `POST /api/runs {"data": "${outside}/private-photos"}`, 400, /"field":"data".*outside the data roots/, () => request('POST', '/api/runs', { body: recipeBody({ data: path.join(outside, 'private-photos') }) }));
  });

  it('a run whose data folder climbs out with ../', async () => {
    await checkHttp('run-data-dotdot', 'POST /api/runs {"data": "data/../../../etc"}', 400, /"field":"data".*'\.\.' segment/, () => request('POST', '/api/runs', { body: recipeBody({ data: 'data/../../../etc' }) }));
  });

  it('a run whose backbone is a path outside the roots', async () => {
    await checkHttp('run-backbone-outside', 'POST /api/runs {"backbone": "/etc/passwd"}', 400, /"field":"backbone".*unknown backbone/, () => request('POST', '/api/runs', { body: recipeBody({ backbone: '/etc/passwd' }) }));
  });

  it('a Windows path as backbone is treated as a path, not a URL', async () => {
    await checkHttp('run-backbone-windows-path', 'POST /api/runs {"backbone": "C:\\\\windows"}', 400, /"field":"backbone","message":"unknown backbone: not a listed name, and path is outside the data roots/, () => request('POST', '/api/runs', { body: recipeBody({ backbone: 'C:\\windows' }) }), (reply) => {
      expect(reply.body).not.toMatch(/URL/);
    });
  });

  it('a one-class folder is listed as not trainable, and refused at submit', async () => {
    await checkHttp('data-one-class-listed', 'GET /api/data with <root>/solo-class/solo/* (one class)', 200, /"relative":"solo-class"/, () => request('GET', '/api/data'), (reply) => {
      const listing = JSON.parse(reply.body) as DataListing;
      const solo = listing.datasets.find((d) => d.relative === 'solo-class')!;
      expect(solo).toMatchObject({ trainable: false, classes: ['solo'] });
      expect(solo.problem).toMatch(/only one class folder \(solo\): a classifier needs at least two/);
      expect(listing.datasets.find((d) => d.relative === 'colours')).toMatchObject({ trainable: true, problem: null });
    });
    const jobsBefore = server.queue.list().length;
    await checkHttp('run-data-one-class', 'POST /api/runs {"data": "<root>/solo-class"}', 400, /"field":"data","message":"only one class folder \(solo\) in .*at least two classes"/, () => request('POST', '/api/runs', { body: recipeBody({ data: path.join(dataRoot, 'solo-class') }) }), () => {
      expect(server.queue.list().length, 'nothing was queued').toBe(jobsBefore);
    });
  });

  it('a run whose backbone is a URL', async () => {
    await checkHttp('run-backbone-url', 'POST /api/runs {"backbone": "http://evil.example/model.json"}', 400, /URLs are not accepted from the dashboard/, () => request('POST', '/api/runs', { body: recipeBody({ backbone: 'http://evil.example/model.json' }) }));
  });

  it('static files: ../ and encoded ../ in the URL path serve nothing outside the client', async () => {
    const attempts: [string, string][] = [
      ['static-dotdot', '/../../../../etc/passwd'],
      ['static-encoded-dotdot', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd'],
      ['static-encoded-slash', '/..%2f..%2f..%2fetc%2fpasswd'],
      ['static-encoded-to-secret', `/${'%2e%2e/'.repeat(8)}${outside.slice(1)}/secret.txt`],
    ];
    for (const [id, raw] of attempts) {
      await checkHttp(id, `GET ${raw.replace(outside.slice(1), '<tmp>/outside')}`, 404, /not found/, () => request('GET', raw), (reply) => {
        expect(reply.body).not.toMatch(/root:|TOP SECRET/);
      });
    }
  });

  it('a job id that is a path', async () => {
    await checkHttp('run-id-traversal', 'GET /api/runs/..%2f..%2fetc', 400, /not a valid id/, () => request('GET', '/api/runs/..%2f..%2fetc'));
  });
});

describe('bodies and headers', () => {
  it('oversized request body', async () => {
    const big = JSON.stringify({ backbone: 'demo', data: 'x', name: 'n'.repeat(300 * 1024) });
    await checkHttp('body-oversized', 'POST /api/runs with a 300 kB body', 413, /request body too large \(limit 100kb\)/, () => request('POST', '/api/runs', { body: big }));
  });

  it('malformed JSON body', async () => {
    await checkHttp('body-malformed-json', 'POST /api/runs {"backbone": ', 400, /request body is not valid JSON/, () => request('POST', '/api/runs', { body: '{"backbone": ' }));
  });

  it('unknown and wrongly typed recipe fields are named', async () => {
    await checkHttp('body-bad-fields', 'POST /api/runs {"epochs": "ten", "bogus": 1}', 400, /"field":"epochs"[\s\S]*"field":"bogus","message":"unknown field"|"field":"bogus","message":"unknown field"[\s\S]*"field":"epochs"/, () => request('POST', '/api/runs', { body: recipeBody({ epochs: 'ten', bogus: 1 }) }));
  });

  it('a form post (not JSON) cannot start a run', async () => {
    await checkHttp('body-form-post', 'POST /api/runs as application/x-www-form-urlencoded', 415, /request body must be JSON \(Content-Type: application\/json\); got Content-Type: application\/x-www-form-urlencoded/, () => request('POST', '/api/runs', { body: 'backbone=demo&data=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
  });

  it('a text/plain body gets 415, not a schema error', async () => {
    await checkHttp('body-text-plain', 'POST /api/runs with Content-Type: text/plain (JSON text)', 415, /request body must be JSON \(Content-Type: application\/json\); got Content-Type: text\/plain/, () => request('POST', '/api/runs', { body: recipeBody({}), headers: { 'content-type': 'text/plain' } }));
  });

  it('a POST without a body is not asked for a content type', async () => {
    await checkHttp('body-none', 'POST /api/runs/nope/stop with no body', 404, /no run or comparison 'nope'/, () => request('POST', '/api/runs/nope/stop'));
  });

  it('foreign Host header (DNS rebinding)', async () => {
    await checkHttp('host-foreign', 'GET /api/health with Host: evil.example', 421, /answers to 127\.0\.0\.1\/localhost only/, () => request('GET', '/api/health', { headers: { host: 'evil.example' } }));
  });

  it('cross-origin write', async () => {
    await checkHttp('origin-foreign', 'POST /api/runs with Origin: http://evil.example', 403, /cross-origin request refused/, () => request('POST', '/api/runs', { body: recipeBody({}), headers: { origin: 'http://evil.example' } }));
  });

  it('security headers on every answer', async () => {
    await checkHttp('security-headers', 'GET /api/health', 200, /"ok":true/, () => request('GET', '/api/health'), (reply) => {
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
      expect(reply.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(reply.headers['x-frame-options']).toBeDefined();
      expect(reply.headers['x-powered-by']).toBeUndefined();
    });
  });
});

describe('binding and tokens', () => {
  it('listening beyond loopback without a token is refused', () => {
    let message = '';
    try {
      createServer({ config, host: '0.0.0.0' });
    } catch (error) {
      message = (error as Error).message;
    }
    const passed = /refusing to listen on 0\.0\.0\.0 without a token/.test(message);
    record({ id: 'bind-without-token', group: 'binding', input: 'createServer({ host: "0.0.0.0" }) without token', outcome: 'refused', message, expected: 'refusing to listen on 0.0.0.0 without a token', passed });
    expect(message).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
  });

  it('with a token, REST and socket.io need it', async () => {
    const guarded = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-token') }, token: 's3cret-token' });
    const guardedPort = (await guarded.listen()).port;
    try {
      const without = await request('GET', '/api/health', { port: guardedPort });
      const wrong = await request('GET', '/api/health', { port: guardedPort, headers: { authorization: 'Bearer nope' } });
      const right = await request('GET', '/api/health', { port: guardedPort, headers: { authorization: 'Bearer s3cret-token' } });
      const socketError = await new Promise<string>((resolve) => {
        const socket = connect(`http://127.0.0.1:${guardedPort}`, { transports: ['websocket'], reconnection: false });
        socket.on('connect', () => {
          socket.close();
          resolve('connected without a token');
        });
        socket.on('connect_error', (error) => {
          socket.close();
          resolve(error.message);
        });
      });
      const message = `no token ${without.status}, wrong token ${wrong.status}, right token ${right.status}; socket without token: ${socketError}`;
      const passed = without.status === 401 && wrong.status === 401 && right.status === 200 && /missing or wrong token/.test(socketError);
      record({ id: 'token-required', group: 'binding', input: 'server with a token: REST without/wrong/right token, socket without', outcome: 'refused', message, expected: '401, 401, 200; socket: missing or wrong token', passed });
      expect(message).toBe('no token 401, wrong token 401, right token 200; socket without token: missing or wrong token');
    } finally {
      await guarded.close();
    }
  });
});

describe('tokens and addresses a user copies', () => {
  const longToken = 'a-token-of-24-characters';

  it('the Bearer scheme is case-insensitive', async () => {
    const guarded = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-bearer') }, token: longToken });
    const guardedPort = (await guarded.listen()).port;
    try {
      const statuses: string[] = [];
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const reply = await request('GET', '/api/health', { port: guardedPort, headers: { authorization: `${scheme} ${longToken}` } });
        statuses.push(`${scheme} ${reply.status}`);
      }
      const wrong = await request('GET', '/api/health', { port: guardedPort, headers: { authorization: `bearer ${longToken}x` } });
      statuses.push(`bearer <wrong> ${wrong.status}`);
      const message = statuses.join(', ');
      const expected = 'Bearer 200, bearer 200, BEARER 200, bearer <wrong> 401';
      record({ id: 'token-bearer-case', group: 'binding', input: 'Authorization: Bearer / bearer / BEARER <token>, and bearer <wrong token>', outcome: 'http', message, expected, passed: message === expected });
      expect(message).toBe(expected);
    } finally {
      await guarded.close();
    }
  });

  it('a short token is accepted with a warning', async () => {
    const short = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-short') }, token: 'x' });
    const long = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-long') }, token: longToken });
    const message = `token 'x': ${short.warnings.join(' ') || 'no warning'}; ${longToken.length}-character token: ${long.warnings.join(' ') || 'no warning'}`;
    const expected = /token 'x': the token is only 1 character long: anyone who can reach this port could guess it\. Use at least 16 random characters.*; 24-character token: no warning$/;
    await short.close();
    await long.close();
    record({ id: 'token-short-warning', group: 'binding', input: "--token x (1 character), and a 24-character token", outcome: 'warning', message, expected: expected.source, passed: expected.test(message) });
    expect(message).toMatch(expected);
  });

  it('listening on 0.0.0.0 prints URLs a browser can open', async () => {
    const everywhere = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-any') }, host: '0.0.0.0', token: longToken });
    try {
      const { url, openUrl, networkUrls } = await everywhere.listen();
      const page = new URL(openUrl);
      const reply = await request('GET', `/api/health${page.search}`, { port: Number(page.port) });
      const message = `url ${url}, openUrl ${openUrl.replace(longToken, '<token>')}, network ${networkUrls.map((u) => u.replace(longToken, '<token>')).join(' ') || '(none)'}; GET openUrl's /api/health: ${reply.status}`;
      const passed = !/0\.0\.0\.0/.test(url + openUrl + networkUrls.join(' ')) && page.hostname === '127.0.0.1' && reply.status === 200 && networkUrls.every((u) => /^http:\/\/\d+\.\d+\.\d+\.\d+:\d+\/\?token=/.test(u));
      record({ id: 'url-every-interface', group: 'binding', input: 'serve --host 0.0.0.0 --token …: the printed URLs', outcome: 'ok', message, expected: 'no 0.0.0.0 in any URL; 127.0.0.1 URL with the token answers 200; network URLs are http://<ip>:<port>/?token=', passed });
      expect(passed, message).toBe(true);
    } finally {
      await everywhere.close();
    }
  });

  it('PORT sets the port when --port is not given', () => {
    const seen = `PORT=4321: ${resolvePort(undefined, { PORT: '4321' })}; PORT=4321 --port 5000: ${resolvePort('5000', { PORT: '4321' })}; neither: ${resolvePort(undefined, {})}`;
    const expected = 'PORT=4321: 4321; PORT=4321 --port 5000: 5000; neither: 3000';
    record({ id: 'port-env', group: 'binding', input: 'PORT environment variable with and without --port', outcome: 'ok', message: seen, expected, passed: seen === expected });
    expect(seen).toBe(expected);
  });

  it.runIf(chromiumAvailable())('?token= leaves the address bar after the page loads, and the page still works', { timeout: 300_000 }, async () => {
    await ensureClientBuilt();
    const guarded = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-browser') }, token: longToken });
    const { openUrl } = await guarded.listen();
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(openUrl);
      await page.waitForSelector('.connection[data-state=connected]', { timeout: 60_000 });
      await page.waitForFunction(() => !location.search.includes('token='));
      const address = page.url();
      const stored = await page.evaluate(() => sessionStorage.getItem('bnlab-token'));
      // a reload (no token in the address any more) still authenticates from sessionStorage
      await page.reload();
      await page.waitForSelector('.connection[data-state=connected]', { timeout: 60_000 });
      const message = `address bar after load: ${address.replace(longToken, '<token>')}; sessionStorage holds the token: ${stored === longToken}; after reload: connected`;
      const passed = !address.includes(longToken) && stored === longToken;
      record({ id: 'token-stripped-from-url', group: 'binding', input: 'open http://127.0.0.1:<port>/?token=<token> in Chromium', outcome: 'ok', message, expected: 'token gone from the address, kept in sessionStorage; the socket connects before and after a reload', passed });
      expect(passed, message).toBe(true);
    } finally {
      await browser.close();
      await guarded.close();
    }
  });
});

describe('the client bundle: compressed, cached by hash', () => {
  const clientDir = path.join(work, 'client-dist');
  const bundle = path.join(clientDir, 'assets', 'index-Dk3f9QxZ.js');
  let client: BnlabServer;
  let clientPort = 0;

  beforeAll(async () => {
    fs.mkdirSync(path.dirname(bundle), { recursive: true });
    fs.writeFileSync(path.join(clientDir, 'index.html'), '<!doctype html><title>bnlab</title><script type="module" src="./assets/index-Dk3f9QxZ.js"></script>');
    fs.writeFileSync(bundle, Array.from({ length: 2000 }, (_, i) => `export const value${i} = ${i} * 2;`).join('\n'));
    client = createServer({ config: { ...config, checkpointsDir: path.join(work, 'checkpoints-client') }, clientDir });
    clientPort = (await client.listen()).port;
  });
  afterAll(() => client?.close());

  function raw(file: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: clientPort, path: file, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
  }

  it('brotli or gzip as the browser asks, hashed assets cached for a year, index.html revalidated', async () => {
    const original = fs.readFileSync(bundle);
    const br = await raw('/assets/index-Dk3f9QxZ.js', { 'accept-encoding': 'br' });
    const gzip = await raw('/assets/index-Dk3f9QxZ.js', { 'accept-encoding': 'gzip' });
    const plain = await raw('/assets/index-Dk3f9QxZ.js', {});
    const index = await raw('/', { 'accept-encoding': 'gzip, br' });
    const brOk = br.headers['content-encoding'] === 'br' && zlib.brotliDecompressSync(br.body).equals(original);
    const gzipOk = gzip.headers['content-encoding'] === 'gzip' && zlib.gunzipSync(gzip.body).equals(original);
    const message =
      `bundle ${original.length} B: br ${br.body.length} B (${br.headers['content-encoding']}), gzip ${gzip.body.length} B (${gzip.headers['content-encoding']}), ` +
      `no Accept-Encoding ${plain.body.length} B (${plain.headers['content-encoding'] ?? 'identity'}); asset Cache-Control: ${br.headers['cache-control']}; index.html Cache-Control: ${index.headers['cache-control']}`;
    const passed = brOk && gzipOk && plain.body.equals(original) && br.headers['cache-control'] === 'public, max-age=31536000, immutable' && index.headers['cache-control'] === 'no-cache';
    record({ id: 'static-compression-cache', group: 'http', input: 'GET a hashed bundle with Accept-Encoding br / gzip / none, and GET /', outcome: 'http', message, expected: 'br and gzip decode to the file; identity without Accept-Encoding; immutable 1-year cache for assets/*-<hash>.js, no-cache for index.html', passed });
    expect(passed, message).toBe(true);
  });
});

describe('malformed socket messages', () => {
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
      socket.on('connect', () => resolve(socket));
      socket.on('connect_error', reject);
    });
  const nextError = (socket: Socket) => new Promise<string>((resolve) => socket.once('bnlab-error', (m: { error: string }) => resolve(m.error)));

  const cases: [string, string, unknown, RegExp][] = [
    ['socket-subscribe-string', "subscribe 'garbage'", 'garbage', /subscribe expects \{ jobId: string, afterSeq: integer >= 0 \}/],
    ['socket-subscribe-null', 'subscribe null', null, /subscribe expects/],
    ['socket-subscribe-wrong-types', 'subscribe { jobId: 42, afterSeq: -1 }', { jobId: 42, afterSeq: -1 }, /subscribe expects/],
    ['socket-subscribe-operator', "subscribe { jobId: { $gt: '' } }", { jobId: { $gt: '' }, afterSeq: 0 }, /subscribe expects/],
    ['socket-subscribe-unknown-job', "subscribe { jobId: '../../etc' }", { jobId: '../../etc', afterSeq: 0 }, /no job '\.\.\/\.\.\/etc'/],
    ['socket-unsubscribe-array', 'unsubscribe [1, 2]', [1, 2], /unsubscribe expects \{ jobId: string \}/],
  ];
  for (const [id, input, payload, expected] of cases) {
    it(input, async () => {
      const socket = await open();
      try {
        const error = nextError(socket);
        socket.emit(id.startsWith('socket-unsubscribe') ? 'unsubscribe' : 'subscribe', payload);
        const message = await error;
        const alive = socket.connected && (await healthy());
        record({ id, group: 'socket', input, outcome: 'error', message, expected: expected.source, passed: expected.test(message) && alive, crashed: !(await healthy()) });
        expect(message).toMatch(expected);
        expect(alive).toBe(true);
      } finally {
        socket.close();
      }
    });
  }

  it('unknown event names are ignored', async () => {
    const socket = await open();
    socket.emit('constructor', { a: 1 });
    socket.emit('__proto__', 'x');
    socket.emit('start-training-as-root', { data: '/' });
    await new Promise((r) => setTimeout(r, 100));
    const alive = socket.connected && (await healthy());
    record({ id: 'socket-unknown-events', group: 'socket', input: "emit 'constructor', '__proto__', 'start-training-as-root'", outcome: 'ok', message: alive ? 'ignored; connection and server alive' : 'connection or server lost', expected: 'ignored', passed: alive, crashed: !(await healthy()) });
    socket.close();
    expect(alive).toBe(true);
  });

  it('a message over the size limit drops that client only', async () => {
    const socket = await open();
    const closed = new Promise<string>((resolve) => socket.on('disconnect', (reason) => resolve(reason)));
    socket.emit('subscribe', { jobId: 'x'.repeat(300 * 1024), afterSeq: 0 });
    const reason = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still connected after 3 s'), 3000))]);
    const alive = await healthy();
    record({ id: 'socket-oversized', group: 'socket', input: 'subscribe with a 300 kB jobId', outcome: 'refused', message: `client disconnected (${reason}); server alive: ${alive}`, expected: 'disconnected, server alive', passed: reason !== 'still connected after 3 s' && alive, crashed: !alive });
    socket.close();
    expect(reason).not.toBe('still connected after 3 s');
    expect(alive).toBe(true);
  });

  it('a cross-origin socket handshake is refused', async () => {
    const message = await new Promise<string>((resolve) => {
      const socket = connect(`http://127.0.0.1:${port}`, { transports: ['polling'], reconnection: false, extraHeaders: { origin: 'http://evil.example' } });
      socket.on('connect', () => {
        socket.close();
        resolve('connected');
      });
      socket.on('connect_error', (error) => {
        socket.close();
        resolve(error.message);
      });
    });
    record({ id: 'socket-cross-origin', group: 'socket', input: 'handshake with Origin: http://evil.example', outcome: 'refused', message, expected: 'not connected', passed: message !== 'connected' });
    expect(message).not.toBe('connected');
  });
});

describe('a training worker that dies', () => {
  it('SIGKILL of the worker mid-run: the server stays up and tells the browser the run failed', async () => {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
      s.on('connect', () => resolve(s));
      s.on('connect_error', reject);
    });
    const statuses: { status: string; error: string | null }[] = [];
    socket.on('job', (summary: { status: string; error: string | null }) => statuses.push({ status: summary.status, error: summary.error }));
    let firstStep: () => void = () => {};
    const stepSeen = new Promise<void>((resolve) => (firstStep = resolve));
    socket.on('events', (message: { events: { event: { type: string } }[] }) => {
      if (message.events.some((e) => e.event.type === 'stepEnd')) firstStep();
    });
    const reply = await request('POST', '/api/runs', {
      body: JSON.stringify({ backbone: path.join(dataRoot, 'tiny-backbone'), data: path.join(dataRoot, 'colours'), epochs: 50, batchSize: 2, policy: 'train-bn' }),
    });
    expect(reply.status, reply.body).toBe(201);
    const runId = JSON.parse(reply.body).runId as string;
    socket.emit('subscribe', { jobId: runId, afterSeq: 0 });
    await Promise.race([stepSeen, new Promise((_, reject) => setTimeout(() => reject(new Error('no training step within 60 s')), 60_000))]);

    const workers = childWorkerPids();
    expect(workers.length).toBe(1);
    process.kill(workers[0], 'SIGKILL');
    const deadline = Date.now() + 20_000;
    while (!statuses.some((s) => s.status === 'failed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const failed = statuses.find((s) => s.status === 'failed');
    const detail = JSON.parse((await request('GET', `/api/runs/${runId}`)).body) as { status: string; error: string | null };
    const alive = await healthy();
    const message = `socket: ${failed ? `failed: ${failed.error}` : `no failure reported (${statuses.map((s) => s.status).join(', ')})`}; REST: ${detail.status}: ${detail.error}; server alive: ${alive}`;
    const passed = Boolean(failed) && detail.status === 'failed' && /SIGKILL|killed|signal/i.test(detail.error ?? '') && alive;
    record({ id: 'worker-killed', group: 'server', input: 'SIGKILL the run worker after its first step', outcome: 'error', message, expected: 'failed with SIGKILL/signal in the error, over socket and REST; server alive', passed, crashed: !alive });
    socket.close();
    expect(alive).toBe(true);
    expect(failed, message).toBeDefined();
    expect(detail.status).toBe('failed');
    expect(detail.error).toMatch(/SIGKILL|killed|signal/i);
  });
});

/** Pids of run-worker processes this test process started (direct children, by /proc). */
function childWorkerPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('run-worker')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
