/**
 * The dashboard server: express (REST + the built client) and socket.io (live events) on one port,
 * 127.0.0.1 by default. See security.ts for the edges, api-routes.ts for the API, queue/run-queue.ts for
 * where training happens (never in this process), event-stream.ts for the live stream.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { Server as SocketServer } from 'socket.io';
import { PROJECT_ROOT, type BnlabConfig } from '../config.ts';
import { apiRouter } from './api-routes.ts';
import { EventStream } from './event-stream.ts';
import { RunQueue, type RunQueueOptions } from './queue/run-queue.ts';
import {
  allowSocketRequest,
  assertSafeBinding,
  guardOrigin,
  isLoopbackHost,
  requireSocketToken,
  requireToken,
} from './security.ts';

export const CLIENT_DIST_DIR = path.join(PROJECT_ROOT, 'client', 'dist');
export const JSON_BODY_LIMIT = '100kb';
const SOCKET_MESSAGE_LIMIT_BYTES = 100 * 1024;

export interface ServerOptions {
  config: BnlabConfig;
  /** Interface to listen on; default 127.0.0.1. Anything but loopback needs `token`. */
  host?: string;
  /** Default 0: an ephemeral port (the URL says which). */
  port?: number;
  token?: string | null;
  /** Built client to serve; default client/dist. */
  clientDir?: string;
  /** Socket flush interval in ms (default 250). */
  flushMs?: number;
  queue?: Omit<RunQueueOptions, 'config'>;
}

export interface BnlabServer {
  /** Read finished runs from disk, then listen. `url` is the page; `openUrl` adds the token. */
  listen(): Promise<{ url: string; openUrl: string; host: string; port: number }>;
  close(): Promise<void>;
  readonly queue: RunQueue;
}

export function createServer(options: ServerOptions): BnlabServer {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? null;
  assertSafeBinding(host, token);
  const loopbackOnly = isLoopbackHost(host);
  const clientDir = options.clientDir ?? CLIENT_DIST_DIR;

  const queue = new RunQueue({ ...options.queue, config: options.config });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple'); // no nested objects from query strings
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'default-src': ["'self'"],
          'connect-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
          'upgrade-insecure-requests': null, // served over plain http on a LAN when a token is set
        },
      },
      strictTransportSecurity: false,
    }),
  );
  app.use(guardOrigin(loopbackOnly));
  app.use('/api', requireToken(token), express.json({ limit: JSON_BODY_LIMIT }), apiRouter(options.config, queue));
  app.use(express.static(clientDir, { index: 'index.html', dotfiles: 'ignore', redirect: false }));
  app.get('/', (_req, res) => {
    res
      .status(503)
      .type('text/plain')
      .send(`The dashboard client is not built (${clientDir} is missing). Run: npx vite build`);
  });
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // Express 5 forwards async errors here; body-parser errors carry a status and a type.
  app.use((error: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (error.type === 'entity.too.large') {
      res.status(413).json({ error: `request body too large (limit ${JSON_BODY_LIMIT})` });
    } else if (error.type === 'entity.parse.failed') {
      res.status(400).json({ error: `request body is not valid JSON: ${error.message}` });
    } else if (error.status && error.status >= 400 && error.status < 500) {
      res.status(error.status).json({ error: error.message });
    } else {
      console.error('[bnlab server]', error);
      res.status(500).json({ error: `internal error: ${error.message}` });
    }
  });

  const httpServer = http.createServer(app);
  const io = new SocketServer(httpServer, {
    serveClient: false,
    maxHttpBufferSize: SOCKET_MESSAGE_LIMIT_BYTES,
    allowRequest: allowSocketRequest(loopbackOnly),
  });
  io.use(requireSocketToken(token));
  const stream = new EventStream(io, queue, { flushMs: options.flushMs });

  return {
    queue,
    async listen() {
      await queue.start();
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(options.port ?? 0, host, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      const { port } = httpServer.address() as AddressInfo;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      const url = `http://${shownHost}:${port}/`;
      return { url, openUrl: token ? `${url}?token=${encodeURIComponent(token)}` : url, host, port };
    },
    async close() {
      stream.close();
      await queue.close();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      httpServer.closeAllConnections();
    },
  };
}
