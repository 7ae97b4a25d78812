/**
 * REST calls to the bnlab server. When the server requires a token (it listens beyond loopback),
 * the page is opened as `/?token=...`; the token is kept for this tab and sent as a Bearer header
 * and in the socket handshake.
 */
import type { ErrorBody, FieldError } from '../../server/schema/api.ts';

const TOKEN_KEY = 'bnlab-token';

export function authToken(): string | null {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) sessionStorage.setItem(TOKEN_KEY, fromUrl);
  return fromUrl ?? sessionStorage.getItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly fields: FieldError[],
  ) {
    super(message);
  }
}

export async function api<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const token = authToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed ?? {}) as Partial<ErrorBody>;
    throw new ApiError(error.error ?? `${response.status} ${response.statusText}`, response.status, error.fields ?? []);
  }
  return parsed as T;
}
