/**
 * The server's edges. By default it listens on 127.0.0.1 only. Listening on any other interface
 * needs a token, which every REST call (`Authorization: Bearer <token>` or `?token=`) and every
 * socket handshake (`auth: { token }` or `?token=`) must present; the page itself carries no secret.
 * On loopback, requests must name a loopback Host (a DNS-rebinding page cannot reach the API), and
 * cross-origin writes and socket connections are refused whatever the binding.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { NextFunction, Request, Response } from 'express';

export class UnsafeBindingError extends Error {
  constructor(host: string) {
    super(
      `refusing to listen on ${host} without a token: anyone on that network could start runs and read your data ` +
        'folders. Pass a token (--token or BNLAB_TOKEN), or keep the default 127.0.0.1.',
    );
    this.name = 'UnsafeBindingError';
  }
}

/** 127.0.0.0/8, ::1, ::ffff:127.x and 'localhost'. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

export function assertSafeBinding(host: string, token: string | null | undefined): void {
  if (!isLoopbackHost(host) && !token) throw new UnsafeBindingError(host);
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from response times. */
export function tokenMatches(provided: unknown, expected: string): boolean {
  if (typeof provided !== 'string') return false;
  const a = Buffer.from(provided);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The auth scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` all work. */
const BEARER = /^bearer[ \t]+(\S+)\s*$/i;

function tokenFromRequest(req: Request): unknown {
  const match = BEARER.exec(req.headers.authorization ?? '');
  if (match) return match[1];
  return req.query.token;
}

/** Below this, a token can be guessed by anyone who can reach the port. */
export const MIN_TOKEN_LENGTH = 16;

/** Warnings about a token that works but is too weak to protect a server on a network. */
export function tokenWarnings(token: string | null | undefined): string[] {
  if (!token || token.length >= MIN_TOKEN_LENGTH) return [];
  return [
    `the token is only ${token.length} character${token.length === 1 ? '' : 's'} long: anyone who can reach this port could guess it. ` +
      `Use at least ${MIN_TOKEN_LENGTH} random characters (e.g. \`openssl rand -hex 16\`).`,
  ];
}

/** Express middleware: 401 unless the request carries the token (no-op without one). */
export function requireToken(token: string | null) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!token || tokenMatches(tokenFromRequest(req), token)) return next();
    res.status(401).json({ error: 'missing or wrong token: send Authorization: Bearer <token> or ?token=<token>' });
  };
}

/** Host header names a loopback host (any port). */
function hostHeaderIsLoopback(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0];
  return isLoopbackHost(host);
}

/** The Origin header (if any) names the same host:port as the Host header. */
export function sameOrigin(headers: IncomingMessage['headers']): boolean {
  const origin = headers.origin;
  if (!origin || origin === 'null') return origin === undefined;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

/**
 * Express middleware for the whole app: on a loopback binding, the Host header must be loopback
 * too (blocks DNS rebinding); writes must not come from another origin (blocks CSRF).
 */
export function guardOrigin(loopbackOnly: boolean) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (loopbackOnly && !hostHeaderIsLoopback(req.headers.host)) {
      res.status(421).json({ error: 'this server answers to 127.0.0.1/localhost only' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req.headers)) {
      res.status(403).json({ error: 'cross-origin request refused' });
      return;
    }
    next();
  };
}

/** socket.io allowRequest: the same Host and Origin rules for the handshake's HTTP request. */
export function allowSocketRequest(loopbackOnly: boolean) {
  return (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => {
    if (loopbackOnly && !hostHeaderIsLoopback(req.headers.host)) return callback('host not allowed', false);
    if (!sameOrigin(req.headers)) return callback('cross-origin socket refused', false);
    callback(null, true);
  };
}

/** socket.io middleware: the handshake must carry the token (no-op without one). */
export function requireSocketToken(token: string | null) {
  return (socket: { handshake: { auth: Record<string, unknown>; query: Record<string, unknown> } }, next: (err?: Error) => void) => {
    if (!token) return next();
    const provided = socket.handshake.auth?.token ?? socket.handshake.query?.token;
    if (tokenMatches(provided, token)) return next();
    next(new Error('missing or wrong token'));
  };
}
