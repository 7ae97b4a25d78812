/**
 * The socket to the server. Each watched job remembers the last event seq it received; on every
 * (re)connect the subscription is renewed from there, so a dropped connection costs nothing but
 * the wait, and no event is applied twice.
 *
 * Server restarts: socket.io does not reconnect by itself after a server-side disconnect (the
 * server closing calls `disconnect()` on every socket), so that case reconnects here, with the
 * manager's backoff. The server greets each connection with its instance id; a new id means a new
 * server process whose sequence numbers start afresh, so the views are told (`onRestart`) and
 * rebuild from 0 instead of resuming from their last seq.
 */
import { io, type Socket } from 'socket.io-client';
import type { EventEnvelope, JobSummary } from '../../server/schema/api.ts';
import { SOCKET_MESSAGES, type ClientToServerEvents, type HelloMessage, type ServerToClientEvents } from '../../server/schema/socket.ts';
import { authToken } from './api.ts';

interface Watcher {
  lastSeq: number;
  onEvents: (events: EventEnvelope[]) => void;
}

/** Wait before reconnecting after the server sent us away (it is usually restarting). */
const RECONNECT_AFTER_SERVER_DISCONNECT_MS = 1000;

export class LiveConnection {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly jobListeners = new Set<(summary: JobSummary) => void>();
  private readonly restartListeners = new Set<() => void>();
  private instanceId: string | null = null;

  constructor(private readonly onState: (state: 'connected' | 'disconnected', detail?: string) => void) {
    this.socket = io({ auth: { token: authToken() }, transports: ['websocket', 'polling'] });
    this.socket.on(SOCKET_MESSAGES.hello, (hello: HelloMessage) => {
      const restarted = this.instanceId !== null && hello.instanceId !== this.instanceId;
      this.instanceId = hello.instanceId;
      this.onState('connected');
      if (restarted) {
        // Views re-watch from 0 when they rebuild; the subscriptions of the old server are void.
        for (const watchers of this.watchers.values()) for (const watcher of watchers) watcher.lastSeq = 0;
        for (const listener of this.restartListeners) listener();
      }
      for (const [jobId, watchers] of this.watchers) this.subscribe(jobId, watchers);
    });
    this.socket.on('disconnect', (reason) => {
      this.onState('disconnected', reason);
      if (reason === 'io server disconnect') setTimeout(() => this.socket.connect(), RECONNECT_AFTER_SERVER_DISCONNECT_MS);
    });
    this.socket.on('connect_error', (error) => this.onState('disconnected', error.message));
    this.socket.on(SOCKET_MESSAGES.events, (message) => {
      for (const watcher of this.watchers.get(message.jobId) ?? []) {
        const fresh = message.events.filter((e) => e.seq > watcher.lastSeq);
        if (!fresh.length) continue;
        watcher.lastSeq = fresh[fresh.length - 1].seq;
        watcher.onEvents(fresh);
      }
    });
    this.socket.on(SOCKET_MESSAGES.job, (summary) => {
      for (const listener of this.jobListeners) listener(summary);
    });
    this.socket.on(SOCKET_MESSAGES.error, (message) => console.warn('[bnlab]', message.error));
  }

  private subscribe(jobId: string, watchers: Set<Watcher>): void {
    const afterSeq = Math.min(...[...watchers].map((w) => w.lastSeq));
    this.socket.emit(SOCKET_MESSAGES.subscribe, { jobId, afterSeq });
  }

  /** Receive a job's events (history first, then live). Returns the function that stops it. */
  watch(jobId: string, onEvents: (events: EventEnvelope[]) => void): () => void {
    const watcher: Watcher = { lastSeq: 0, onEvents };
    let set = this.watchers.get(jobId);
    if (!set) this.watchers.set(jobId, (set = new Set()));
    set.add(watcher);
    if (this.socket.connected) this.socket.emit(SOCKET_MESSAGES.subscribe, { jobId, afterSeq: 0 });
    return () => {
      set.delete(watcher);
      if (set.size === 0) {
        this.watchers.delete(jobId);
        if (this.socket.connected) this.socket.emit(SOCKET_MESSAGES.unsubscribe, { jobId });
      }
    };
  }

  onJob(listener: (summary: JobSummary) => void): () => void {
    this.jobListeners.add(listener);
    return () => this.jobListeners.delete(listener);
  }

  /** Called when the server turned out to be a new process (after a restart). */
  onRestart(listener: () => void): () => void {
    this.restartListeners.add(listener);
    return () => this.restartListeners.delete(listener);
  }
}
