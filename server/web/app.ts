/**
 * The dashboard server: express (REST + the built client) and socket.io (live events) on one port,
 * 127.0.0.1 by default. See security.ts for the edges, routes/ for the API, queue/run-queue.ts for
 * where training happens (never in this process), event-stream.ts for the live stream.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import compression from 'compression';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { Server as SocketServer } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../schema/socket.ts';
import { PROJECT_ROOT, type BnlabConfig } from '../config.ts';
import { apiRouter } from './routes/index.ts';
import { EventStream, type DashboardServer } from './event-stream.ts';
import { RunQueue, type RunQueueOptions } from './queue/run-queue.ts';
import {
  allowSocketRequest,
  assertSafeBinding,
  guardOrigin,
  isLoopbackHost,
  requireSocketToken,
  requireToken,
  tokenWarnings,
} from './security.ts';
import { requireJsonBody } from './validation.ts';

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
  /**
   * Read finished runs from disk, then listen. `url` is the page (on 127.0.0.1 when listening on
   * every interface); `openUrl` adds the token; `networkUrls` are the same page at this machine's
   * network addresses when listening on every interface.
   */
  listen(): Promise<{ url: string; openUrl: string; networkUrls: string[]; host: string; port: number }>;
  close(): Promise<void>;
  readonly queue: RunQueue;
  /** Settings that work but a user should reconsider (a short token). */
  readonly warnings: string[];
}

/** Vite's content-hashed build output (client/dist/assets/name-<hash>.js): safe to cache for a year. */
const HASHED_ASSET = /^assets\/.+-[\w-]{8,}\.\w+$/;

/** Static files: hashed assets cached for a year (immutable), everything else (index.html) revalidated. */
function cacheHeaders(clientDir: string) {
  return (res: Response, file: string) => {
    const relative = path.relative(clientDir, file).split(path.sep).join('/');
    res.setHeader('Cache-Control', HASHED_ASSET.test(relative) ? 'public, max-age=31536000, immutable' : 'no-cache');
  };
}

/** 0.0.0.0 / :: — "every interface", an address to listen on but not one to open. */
function isUnspecifiedHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** This machine's external IPv4 addresses, for the URLs printed when listening on every interface. */
function networkAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && a.family === 'IPv4' && !a.internal)
    .map((a) => a.address);
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
  app.use(compression()); // gzip or brotli, as the browser's Accept-Encoding asks
  app.use('/api', requireToken(token), requireJsonBody, express.json({ limit: JSON_BODY_LIMIT }), apiRouter(options.config, queue));
  app.use(express.static(clientDir, { index: 'index.html', dotfiles: 'ignore', redirect: false, setHeaders: cacheHeaders(clientDir) }));
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
  const io: DashboardServer = new SocketServer<ClientToServerEvents, ServerToClientEvents>(httpServer, {
    serveClient: false,
    maxHttpBufferSize: SOCKET_MESSAGE_LIMIT_BYTES,
    allowRequest: allowSocketRequest(loopbackOnly),
  });
  io.use(requireSocketToken(token));
  const stream = new EventStream(io, queue, { flushMs: options.flushMs });

  return {
    queue,
    warnings: tokenWarnings(token),
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
      const everywhere = isUnspecifiedHost(host);
      const shownHost = everywhere ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      const url = `http://${shownHost}:${port}/`;
      const withToken = (page: string) => (token ? `${page}?token=${encodeURIComponent(token)}` : page);
      const networkUrls = everywhere ? networkAddresses().map((address) => withToken(`http://${address}:${port}/`)) : [];
      return { url, openUrl: withToken(url), networkUrls, host, port };
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
