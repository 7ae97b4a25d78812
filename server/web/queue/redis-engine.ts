/**
 * The BullMQ engine, dashboard side (BNLAB_REDIS_URL set): tasks are BullMQ jobs that `bnlab
 * worker` processes take, on this machine or others; what they report comes back through one Redis
 * stream per task (redis-protocol.ts), tailed here with blocking XREAD. A restarted dashboard reads
 * each live task's stream from its start, so nothing a worker said while it was down is lost.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RunEvent } from '../../schema/events.ts';
import type { JobRecord } from './task.ts';
import { CANCEL_CHANNEL, cancelledKey, JOBS_CHANNEL, parseEntry, QUEUE_NAME, redisClient, redisUnreachable, STREAM_TTL_SECONDS, streamKey } from './redis-protocol.ts';
import type { EngineCallbacks, QueueEngine, QueueTask } from './task.ts';

export interface RedisEngineOptions {
  /** ms a blocking read waits before it looks at newly submitted tasks (default 500). */
  blockMs?: number;
  stopGraceMs?: number;
}

type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

export class RedisEngine implements QueueEngine {
  readonly name = 'redis' as const;
  /** Made once Redis answers, so a missing Redis is one clear error, not BullMQ retrying in a loop. */
  private queue!: Queue;
  private readonly redis: Redis;
  private readonly reader: Redis;
  private readonly subscriber: Redis;
  /** Tasks whose stream is tailed, with the last entry id read. */
  private readonly tailing = new Map<string, string>();
  private callbacks: EngineCallbacks | null = null;
  private loop: Promise<void> | null = null;
  private closed = false;
  private readonly blockMs: number;

  constructor(
    private readonly url: string,
    options: RedisEngineOptions = {},
  ) {
    this.blockMs = options.blockMs ?? 500;
    this.redis = redisClient(url);
    this.reader = redisClient(url);
    this.subscriber = redisClient(url);
  }

  private connecting: Promise<void> | null = null;

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      try {
        await this.redis.connect();
        await this.reader.connect();
        await this.subscriber.connect();
      } catch (error) {
        for (const client of [this.redis, this.reader, this.subscriber]) client.disconnect();
        throw redisUnreachable(this.url, error);
      }
      this.queue = new Queue(QUEUE_NAME, { connection: { url: this.url } });
      this.queue.on('error', (error) => console.error(`[bnlab queue] ${error.message}`));
    })();
    return this.connecting;
  }

  async start(callbacks: EngineCallbacks): Promise<void> {
    await this.connect();
    this.callbacks = callbacks;
    await this.subscriber.subscribe(JOBS_CHANNEL);
    this.subscriber.on('message', (_channel: string, message: string) => {
      try {
        const record = JSON.parse(message) as JobRecord;
        if (record?.format === 'bnlab-queued-job@1') callbacks.onAnnounced(record);
      } catch {
        // not ours
      }
    });
    this.loop = this.tail();
  }

  async announce(record: JobRecord): Promise<void> {
    await this.redis.publish(JOBS_CHANNEL, JSON.stringify(record));
  }

  watch(taskId: string): void {
    if (!this.tailing.has(taskId)) this.tailing.set(taskId, '0');
  }

  async submit(task: QueueTask): Promise<void> {
    await this.connect();
    if (!this.tailing.has(task.id)) {
      // a fresh start (or a resume): earlier attempts' entries, if any, must not be read as this one's
      await this.redis.del(streamKey(task.id));
      this.tailing.set(task.id, '0');
    }
    await this.redis.del(cancelledKey(task.id));
    await this.queue.add(task.kind, task, { jobId: task.id, removeOnComplete: true, removeOnFail: true });
  }

  async cancel(taskId: string): Promise<void> {
    await this.redis.set(cancelledKey(taskId), '1', 'EX', STREAM_TTL_SECONDS);
    const job = await this.queue.getJob(taskId);
    const state = job ? await job.getState() : 'unknown';
    if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
      try {
        await job.remove();
        this.tailing.delete(taskId);
        this.callbacks?.onEnded(taskId, { status: 'stopped', result: null, error: 'stopped before it started' });
        return;
      } catch {
        // taken by a worker meanwhile: stop it there
      }
    }
    await this.redis.publish(CANCEL_CHANNEL, taskId);
  }

  /** A live task's stream so far (the dashboard restarted while workers went on). */
  async history(taskId: string): Promise<{ worker: string | null; events: RunEvent[] } | null> {
    await this.connect();
    const entries = (await this.redis.xrange(streamKey(taskId), '-', '+')) as [string, string[]][];
    if (!entries.length) return null;
    let worker: string | null = null;
    const events: RunEvent[] = [];
    for (const [, fields] of entries) {
      const entry = parseEntry(fields);
      if (entry?.k === 'started') worker = entry.d.worker;
      else if (entry?.k === 'event') events.push(entry.d);
    }
    const last = entries[entries.length - 1];
    if (parseEntry(last[1])?.k !== 'ended') this.tailing.set(taskId, last[0]);
    return { worker, events };
  }

  private async tail(): Promise<void> {
    while (!this.closed) {
      const ids = [...this.tailing.keys()];
      if (!ids.length) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.blockMs, 200)));
        continue;
      }
      let reply: XReadReply;
      try {
        reply = (await this.reader.xread('COUNT', 1000, 'BLOCK', this.blockMs, 'STREAMS', ...ids.map(streamKey), ...ids.map((id) => this.tailing.get(id)!))) as XReadReply;
      } catch (error) {
        if (this.closed) return;
        console.error(`[bnlab queue] reading worker events: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      for (const [key, entries] of reply ?? []) {
        const taskId = key.slice(streamKey('').length);
        for (const [id, fields] of entries) {
          if (!this.tailing.has(taskId)) break;
          this.tailing.set(taskId, id);
          this.dispatch(taskId, fields);
        }
      }
    }
  }

  private dispatch(taskId: string, fields: string[]): void {
    const entry = parseEntry(fields);
    const callbacks = this.callbacks;
    if (!entry || !callbacks) return;
    switch (entry.k) {
      case 'started':
        callbacks.onStarted(taskId, entry.d.worker);
        break;
      case 'event':
        callbacks.onEvent(taskId, entry.d);
        break;
      case 'progress':
        callbacks.onProgress(taskId, entry.d);
        break;
      case 'ended':
        this.tailing.delete(taskId);
        callbacks.onEnded(taskId, entry.d);
        break;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.disconnect();
    this.subscriber.disconnect();
    await this.loop?.catch(() => undefined);
    await this.queue?.close();
    this.redis.disconnect();
  }
}
