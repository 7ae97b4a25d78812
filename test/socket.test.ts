/**
 * The live stream over socket.io with real clients: events arrive batched (far fewer messages than
 * events), in seq order, and a client that reconnects with its last seq gets exactly what it
 * missed. Token-protected servers refuse handshakes without the token.
 */
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type BnlabServer } from '../server/web/app.ts';
import { UnsafeBindingError } from '../server/web/security.ts';
import type { EventEnvelope } from '../server/schema/api.ts';
import type { EventsMessage } from '../server/schema/socket.ts';
import { getJson, makeTestEnvironment, postJson, scriptedRecipe, startTestServer, waitFor, waitForJob, type RunningServer } from './support/test-server.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function start(options = {}): Promise<RunningServer> {
  const running = await startTestServer(makeTestEnvironment(), options);
  closers.push(() => running.close());
  return running;
}

function client(url: string, options: Parameters<typeof connect>[1] = {}): Socket {
  const socket = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
  closers.push(() => void socket.close());
  return socket;
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

describe('event stream', () => {
  it('batches events and delivers every seq once, in order', async () => {
    const { url, env } = await start();
    const socket = client(url);
    await connected(socket);
    const messages: EventsMessage[] = [];
    socket.on('events', (m: EventsMessage) => messages.push(m));
    const { body } = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=150,delayMs=4'));
    socket.emit('subscribe', { jobId: body.runId, afterSeq: 0 });
    await waitForJob(url, body.runId, ['completed']);
    const total = (await getJson(`${url}api/runs/${body.runId}`)).body.lastSeq;
    await waitFor(() => messages.flatMap((m) => m.events).length === total, 5000, 'all events');
    const seqs = messages.flatMap((m) => m.events.map((e) => e.seq));
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // 300+ events in ~1 s of training at a 100 ms flush: a handful of messages, not one per event.
    expect(total).toBeGreaterThan(300);
    expect(messages.length).toBeLessThan(total / 10);
  });

  it('resumes after a reconnect from the last seq seen, without gaps or repeats', async () => {
    const { url, env } = await start();
    const { body } = await postJson(`${url}api/runs`, scriptedRecipe(env, 'steps=200,delayMs=8'));
    const received: EventEnvelope[] = [];
    const first = client(url);
    await connected(first);
    first.on('events', (m: EventsMessage) => received.push(...m.events));
    first.emit('subscribe', { jobId: body.runId, afterSeq: 0 });
    await waitFor(() => received.length > 40, 20_000, 'first events');
    first.close();
    const lastSeen = received.at(-1)!.seq;
    await new Promise((r) => setTimeout(r, 400)); // the run goes on while we are away

    const second = client(url);
    await connected(second);
    second.on('events', (m: EventsMessage) => received.push(...m.events));
    second.emit('subscribe', { jobId: body.runId, afterSeq: lastSeen });
    await waitForJob(url, body.runId, ['completed']);
    const total = (await getJson(`${url}api/runs/${body.runId}`)).body.lastSeq;
    await waitFor(() => received.at(-1)?.seq === total, 5000, 'the rest');
    expect(received.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it('answers malformed socket messages with an error and keeps the connection', async () => {
    const { url } = await start();
    const socket = client(url);
    await connected(socket);
    const errors: unknown[] = [];
    socket.on('bnlab-error', (e: unknown) => errors.push(e));
    socket.emit('subscribe', 'not an object');
    socket.emit('subscribe', { jobId: 42, afterSeq: -1 });
    socket.emit('subscribe', { jobId: 'no-such-job', afterSeq: 0 });
    socket.emit('unsubscribe', null);
    await waitFor(() => errors.length === 4, 5000, 'four errors');
    expect(socket.connected).toBe(true);
  });

  it('disconnects a client that sends a message over the size limit', async () => {
    const { url } = await start();
    const socket = client(url);
    await connected(socket);
    const closed = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    socket.emit('subscribe', { jobId: 'x'.repeat(200 * 1024), afterSeq: 0 });
    expect(await closed).toMatch(/transport close|transport error/);
    expect((await getJson(`${url}api/health`)).status).toBe(200);
  });
});

describe('token', () => {
  it('refuses to listen beyond loopback without a token', () => {
    const env = makeTestEnvironment();
    expect(() => createServer({ config: env.config, host: '0.0.0.0' })).toThrow(UnsafeBindingError);
    expect(() => createServer({ config: env.config, host: '::' })).toThrow(UnsafeBindingError);
  });

  it('requires the token on REST and socket when listening beyond loopback', async () => {
    const env = makeTestEnvironment();
    const server: BnlabServer = createServer({ config: env.config, host: '0.0.0.0', token: 's3cret-token' });
    closers.push(() => server.close());
    const { port, openUrl } = await server.listen();
    expect(openUrl).toContain('token=s3cret-token');
    const url = `http://127.0.0.1:${port}/`;
    expect((await getJson(`${url}api/health`)).status).toBe(401);
    expect((await getJson(`${url}api/health`, { authorization: 'Bearer wrong-token!' })).status).toBe(401);
    expect((await getJson(`${url}api/health`, { authorization: 'Bearer s3cret-token' })).status).toBe(200);
    expect((await getJson(`${url}api/runs?token=s3cret-token`)).status).toBe(200);
    // The page itself carries no secret and loads without the token.
    expect((await fetch(url)).status).not.toBe(401);

    const refused = client(url);
    await expect(connected(refused)).rejects.toThrow(/token/);
    const allowed = client(url, { auth: { token: 's3cret-token' } });
    await connected(allowed);
    expect(allowed.connected).toBe(true);
  });

  it('refuses cross-origin socket handshakes', async () => {
    const { url } = await start();
    const socket = client(url, { extraHeaders: { origin: 'http://attacker.example' } });
    await expect(connected(socket)).rejects.toThrow();
  });
});
