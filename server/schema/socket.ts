/**
 * The socket.io conversation, both directions in one place (as Vitest's WebSocketHandlers /
 * WebSocketEvents do). The server is `Server<ClientToServerEvents, ServerToClientEvents>` and the
 * client `Socket<ServerToClientEvents, ClientToServerEvents>`, so a renamed field fails
 * `npm run typecheck` on both ends. The server still validates what browsers send at runtime.
 */
import type { EventEnvelope, JobSummary } from './api.ts';

/** client → server: start (or resume) receiving a job's events after `afterSeq`. */
export interface SubscribeMessage {
  jobId: string;
  afterSeq: number;
}

export interface UnsubscribeMessage {
  jobId: string;
}

/** server → client: a batch of events of one job, in seq order, flushed at most every few 100 ms. */
export interface EventsMessage {
  jobId: string;
  events: EventEnvelope[];
}

/** server → client, on every connection: which server instance this is (new after a restart). */
export interface HelloMessage {
  instanceId: string;
}

/** server → client: a message the server refused, and the job it was about when known. */
export interface SocketErrorMessage {
  error: string;
  jobId?: string;
}

export interface ClientToServerEvents {
  subscribe: (message: SubscribeMessage) => void;
  unsubscribe: (message: UnsubscribeMessage) => void;
}

export interface ServerToClientEvents {
  hello: (message: HelloMessage) => void;
  events: (message: EventsMessage) => void;
  /** a job's summary changed (status, progress) */
  job: (summary: JobSummary) => void;
  'bnlab-error': (message: SocketErrorMessage) => void;
}

/** Event names, for code that needs them as values. */
export const SOCKET_MESSAGES = {
  hello: 'hello',
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  events: 'events',
  job: 'job',
  error: 'bnlab-error',
} as const satisfies Record<string, keyof ClientToServerEvents | keyof ServerToClientEvents>;
