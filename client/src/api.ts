/**
 * REST calls to the bnlab server. When the server requires a token (it listens beyond loopback),
 * the page is opened as `/?token=...`; the token is kept for this tab (sessionStorage, stripped from
 * the address bar) and sent as a Bearer header and in the socket handshake.
 */
import type { ErrorBody, FieldError } from '../../server/schema/api.ts';

const TOKEN_KEY = 'bnlab-token';

/**
 * The token for this tab. A `?token=` in the address is moved to sessionStorage and removed from
 * the address bar (history.replaceState), so it does not stay on screen, in bookmarks or in
 * screenshots; reloads and later requests read it from sessionStorage.
 */
export function authToken(): string | null {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete('token');
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }
  return sessionStorage.getItem(TOKEN_KEY);
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

function authHeaders(): Record<string, string> {
  const token = authToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A file from the API as a Blob (downloads go through fetch so the token header is sent). */
export async function apiBlob(url: string): Promise<Blob> {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) {
    const error = (await response.json().catch(() => ({}))) as Partial<ErrorBody>;
    throw new ApiError(error.error ?? `${response.status} ${response.statusText}`, response.status, error.fields ?? []);
  }
  return response.blob();
}

export async function api<T>(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<T> {
  const headers = authHeaders();
  const raw = body instanceof Blob;
  if (body !== undefined) headers['content-type'] = raw ? body.type : 'application/json';
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body) });
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
