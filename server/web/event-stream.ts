/**
 * Live events over socket.io, throttled and batched: events of a job collect in a buffer and go out
 * every `flushMs` as ONE 'events' message to the job's room, so the cost per client is one write per
 * flush, whatever the step rate. Training runs in another process, so slow sockets can delay the
 * stream, never a step.
 *
 * Progress is live: a job whose events went out in a flush also gets its summary sent to everyone
 * (step counters, ETA), at most once per `summaryEveryMs` (1 s), so counters move during a run and
 * not only when a status changes.
 *
 * Every connection is greeted with this server's instance id (`hello`): a client that sees a new
 * id after a reconnect knows the server restarted (its sequence numbers start afresh for jobs read
 * back from disk) and subscribes again from 0 instead of from its last seq.
 *
 * Resuming: a client subscribes with the last seq it has seen; it gets the stored events after it
 * (up to the last flushed one) in one go, then joins the room and receives the next flushes. No
 * event is sent twice and none is skipped (apart from bnStats thinned by the event log).
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'socket.io';
import { z } from 'zod';
import type { Job } from './queue/job.ts';
import { type EventEnvelope, type JobSummary } from '../schema/api.ts';
import { SOCKET_MESSAGES, type ClientToServerEvents, type EventsMessage, type ServerToClientEvents, type SubscribeMessage, type UnsubscribeMessage } from '../schema/socket.ts';
import type { RunQueue } from './queue/run-queue.ts';

export interface EventStreamOptions {
  flushMs?: number;
  /** Envelopes per message when replaying a backlog. */
  replayChunk?: number;
  /** Least time between two progress summaries of one running job (default 1000 ms). */
  summaryEveryMs?: number;
}

/** The typed socket.io server of the dashboard (schema/socket.ts holds both directions). */
export type DashboardServer = Server<ClientToServerEvents, ServerToClientEvents>;
type DashboardSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

// What a browser sends is checked at runtime too: the types say what a well-behaved client sends.
const SubscribeSchema = z.strictObject({
  jobId: z.string().min(1).max(200),
  afterSeq: z.number().int().nonnegative().default(0),
}) satisfies z.ZodType<SubscribeMessage, unknown>;
const UnsubscribeSchema = z.strictObject({ jobId: z.string().min(1).max(200) }) satisfies z.ZodType<UnsubscribeMessage, unknown>;

const room = (jobId: string) => `job:${jobId}`;

export class EventStream {
  private readonly pending = new Map<string, EventEnvelope[]>();
  private readonly timer: NodeJS.Timeout;
  private readonly flushMs: number;
  private readonly replayChunk: number;
  private readonly summaryEveryMs: number;
  private readonly summarySentAt = new Map<string, number>();
  readonly instanceId = randomBytes(6).toString('hex');
  private readonly onEvent = (job: Job, envelope: EventEnvelope) => {
    let buffer = this.pending.get(job.id);
    if (!buffer) this.pending.set(job.id, (buffer = []));
    buffer.push(envelope);
  };
  private readonly onJob = (summary: JobSummary) => {
    // Status changes are rare (start, run boundaries, end): sent at once, to everyone, after
    // flushing that job's events so a client never sees "completed" before the last events.
    this.flushJob(summary.id, false);
    this.io.emit(SOCKET_MESSAGES.job, summary);
    if (summary.status === 'queued' || summary.status === 'running') this.summarySentAt.set(summary.id, Date.now());
    else this.summarySentAt.delete(summary.id);
  };

  constructor(
    private readonly io: DashboardServer,
    private readonly queue: RunQueue,
    options: EventStreamOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 250;
    this.replayChunk = options.replayChunk ?? 5000;
    this.summaryEveryMs = options.summaryEveryMs ?? 1000;
    queue.on('event', this.onEvent);
    queue.on('job', this.onJob);
    this.timer = setInterval(() => this.flush(), this.flushMs);
    this.timer.unref();
    io.on('connection', (socket) => this.attach(socket));
  }

  /** Highest seq of a job that has already gone out to its room. */
  private flushedSeq(job: Job): number {
    const buffer = this.pending.get(job.id);
    return buffer?.length ? buffer[0].seq - 1 : this.queue.summaryOf(job).lastSeq;
  }

  flush(): void {
    for (const jobId of [...this.pending.keys()]) this.flushJob(jobId);
  }

  private flushJob(jobId: string, withSummary = true): void {
    const events = this.pending.get(jobId);
    if (!events?.length) return;
    this.pending.delete(jobId);
    const message: EventsMessage = { jobId, events };
    this.io.to(room(jobId)).emit(SOCKET_MESSAGES.events, message);
    if (!withSummary || Date.now() - (this.summarySentAt.get(jobId) ?? 0) < this.summaryEveryMs) return;
    const job = this.queue.get(jobId);
    if (!job) return;
    this.summarySentAt.set(jobId, Date.now());
    this.io.emit(SOCKET_MESSAGES.job, this.queue.summaryOf(job));
  }

  private attach(socket: DashboardSocket): void {
    socket.emit(SOCKET_MESSAGES.hello, { instanceId: this.instanceId });
    socket.on(SOCKET_MESSAGES.subscribe, async (raw: unknown) => {
      const parsed = SubscribeSchema.safeParse(raw);
      if (!parsed.success) {
        socket.emit(SOCKET_MESSAGES.error, { error: 'subscribe expects { jobId: string, afterSeq: integer >= 0 }' });
        return;
      }
      const { jobId, afterSeq } = parsed.data;
      const job = this.queue.get(jobId);
      if (!job) {
        socket.emit(SOCKET_MESSAGES.error, { error: `no job '${jobId}'`, jobId });
        return;
      }
      await this.queue.history(job);
      // From here to join() nothing awaits, so no flush can slip in between.
      const backlog = job.log.after(afterSeq, { upToSeq: this.flushedSeq(job) });
      for (let i = 0; i < backlog.length; i += this.replayChunk) {
        const message: EventsMessage = { jobId, events: backlog.slice(i, i + this.replayChunk) };
        socket.emit(SOCKET_MESSAGES.events, message);
      }
      socket.join(room(jobId));
      socket.emit(SOCKET_MESSAGES.job, this.queue.summaryOf(job));
    });
    socket.on(SOCKET_MESSAGES.unsubscribe, (raw: unknown) => {
      const parsed = UnsubscribeSchema.safeParse(raw);
      if (parsed.success) socket.leave(room(parsed.data.jobId));
      else socket.emit(SOCKET_MESSAGES.error, { error: 'unsubscribe expects { jobId: string }' });
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.queue.off('event', this.onEvent);
    this.queue.off('job', this.onJob);
  }
}
