/**
 * Parley's public API as the client uses it: every call goes through `api()`, which adds the caller's
 * identity (X-User-ID in header mode, a bearer token otherwise) and turns an error answer into an ApiError
 * carrying the status and the server's message (the one error shape: statusCode, error, message, details).
 */

export type Identity = { kind: 'header'; userId: string } | { kind: 'bearer'; token: string };

export interface User {
  user_id: string;
  email: string | null;
  display_name: string | null;
  avatar_url?: string | null;
}

export interface Project {
  project_id: string;
  title: string | null;
  is_creator?: boolean;
  last_activity_at?: string;
}

export interface Session {
  session_id: string;
  project_id: string | null;
  title: string | null;
  is_active: boolean;
  message_count: number;
  last_message_preview: string | null;
  last_message_at: string;
  created_at: string;
  updated_at: string;
  pinned?: boolean;
}

export interface Message {
  message_id: string;
  session_id: string;
  role: 'user' | 'assistant' | 'system';
  content: string;
  metadata: Record<string, unknown> | null;
  created_at: string;
  /** With conversation trees: the message this one follows, and the versions beside it (itself included). */
  parent_id?: string | null;
  sibling_ids?: string[];
}

export interface List<T> {
  data: T[];
  next_cursor: string | null;
}

export interface MessagePage {
  data: Message[];
  total: number;
  has_more: boolean;
  prev_before: string | null;
  next_after: string | null;
}

export interface SearchHit {
  message_id: string | null;
  session_id: string;
  session_title: string | null;
  role: string | null;
  created_at: string;
  /** HTML-escaped text with the matched words in <mark>. */
  snippet: string;
}

export type Feature = 'accounts' | 'search' | 'export' | 'branches' | 'stop' | 'resume';

export interface WebSettings {
  header_users: boolean;
  bearer: boolean;
  /** Which optional screens the server's routes support (GET /web-config.json). */
  features: Partial<Record<Feature, boolean>>;
}

let features: WebSettings['features'] = {};

/** Whether the server has the routes of an optional screen. */
export function has(feature: Feature): boolean {
  return features[feature] === true;
}

const IDENTITY_KEY = 'parley.identity';
let identity: Identity | null = readIdentity();

function readIdentity(): Identity | null {
  try {
    const stored = JSON.parse(localStorage.getItem(IDENTITY_KEY) ?? 'null') as Identity | null;
    return stored && (stored.kind === 'header' || stored.kind === 'bearer') ? stored : null;
  } catch {
    return null;
  }
}

export function currentIdentity(): Identity | null {
  return identity;
}

export function setIdentity(next: Identity | null): void {
  identity = next;
  if (next) localStorage.setItem(IDENTITY_KEY, JSON.stringify(next));
  else localStorage.removeItem(IDENTITY_KEY);
}

/** The headers that name the caller. */
export function authHeaders(): Record<string, string> {
  if (!identity) return {};
  return identity.kind === 'header'
    ? { 'x-user-id': identity.userId }
    : { authorization: `Bearer ${identity.token}` };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
  }

  /** No answer at all: the network is down or the server is unreachable. */
  get offline(): boolean {
    return this.status === 0;
  }
}

/** What to tell a person about a failed call, in their terms. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.offline) return 'You appear to be offline, or Parley is not reachable.';
    if (error.status === 429)
      return `Too many requests: try again${error.retryAfterSeconds ? ` in ${error.retryAfterSeconds} s` : ' shortly'}.`;
    if (error.status === 502) return 'The model failed to answer. Nothing was lost: try again.';
    if (error.status === 504) return 'The model took too long to answer. Try again.';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Reads an error answer's body (the one error shape) into an ApiError. */
export async function errorOf(response: Response): Promise<ApiError> {
  const retry = Number(response.headers.get('retry-after'));
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
    else if (Array.isArray(body.message)) message = body.message.join('; ');
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** Parses the text useChat's transport puts in its Error when the chat route answers an error status. */
export function chatErrorOf(error: Error): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof TypeError) return new ApiError(0, error.message);
  try {
    const body = JSON.parse(error.message) as { statusCode?: number; message?: string };
    if (typeof body.statusCode === 'number')
      return new ApiError(body.statusCode, body.message ?? error.message);
  } catch {
    // not the error shape
  }
  return new ApiError(-1, error.message || 'The reply failed.');
}

let refreshing: Promise<boolean> | null = null;

/**
 * A new access token from the refresh token (an HttpOnly cookie limited to /api/v1/auth, set at sign-in), once
 * however many calls ask at the same moment. False when there is no valid sign-in to refresh.
 */
export function refreshAccess(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ cookie: true }),
        credentials: 'same-origin',
      });
      if (!response.ok) return false;
      const tokens = (await response.json()) as { access_token: string };
      setIdentity({ kind: 'bearer', token: tokens.access_token });
      return true;
    } catch {
      return false;
    } finally {
      setTimeout(() => (refreshing = null), 0);
    }
  })();
  return refreshing;
}

/** fetch with the caller's identity; a bearer token that expired is refreshed once and the call repeated. */
export async function authorizedFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  const attempt = () =>
    fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), ...authHeaders() } });
  const response = await attempt();
  if (response.status === 401 && identity?.kind === 'bearer' && (await refreshAccess())) return attempt();
  return response;
}

export async function api<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  let response: Response;
  try {
    response = await authorizedFetch(path, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, (error as Error).message);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A query string from the defined values. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** GETs a file with the caller's identity and hands it to the browser as a download. */
export async function download(path: string, fallbackName: string): Promise<void> {
  let response: Response;
  try {
    response = await authorizedFetch(path);
  } catch (error) {
    throw new ApiError(0, (error as Error).message);
  }
  if (!response.ok) throw await errorOf(response);
  const blob = await response.blob();
  const disposition = response.headers.get('content-disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export type ExportFormat = 'markdown' | 'json' | 'chatgpt';

export const Api = {
  settings: async (): Promise<WebSettings> => {
    const response = await fetch('/web-config.json');
    const settings = response.ok
      ? ((await response.json()) as WebSettings)
      : { header_users: true, bearer: false, features: {} };
    features = settings.features ?? {};
    return settings;
  },
  me: () => api<User>('GET', '/api/v1/users/me'),
  createUser: (display_name: string) => api<User>('POST', '/api/v1/users', { display_name }),
  projects: () => api<List<Project>>('GET', `/api/v1/projects${query({ limit: 100 })}`),
  createProject: (title: string) => api<Project>('POST', '/api/v1/projects', { title }),
  sessions: (params: { project_id?: string; is_active: boolean; cursor?: string | null; limit?: number }) =>
    api<List<Session>>('GET', `/api/v1/sessions${query({ limit: 20, ...params })}`),
  session: (id: string) => api<Session>('GET', `/api/v1/sessions/${id}`),
  updateSession: (id: string, fields: { title?: string | null; is_active?: boolean }) =>
    api<Session>('PATCH', `/api/v1/sessions/${id}`, fields),
  deleteSession: (id: string) => api<void>('DELETE', `/api/v1/sessions/${id}`),
  messages: (id: string, params: { latest?: boolean; before?: string | null; limit?: number }) =>
    api<MessagePage>('GET', `/api/v1/sessions/${id}/messages${query({ limit: 50, ...params })}`),
  /** Stops the session's running reply on whichever instance runs it; a server without the route is fine. */
  stop: async (id: string) => {
    if (has('stop')) await api<void>('POST', `/api/v1/sessions/${id}/stop`);
  },
  updateMe: (fields: { display_name?: string | null; email?: string | null }) =>
    api<User>('PATCH', '/api/v1/users/me', fields),
  register: (email: string, password: string, display_name: string) =>
    api<unknown>('POST', '/api/v1/auth/register', {
      email,
      password,
      ...(display_name ? { display_name } : {}),
    }),
  /** Signs in: the access token is kept here, the refresh token as an HttpOnly cookie. */
  login: async (email: string, password: string) => {
    const tokens = await api<{ access_token: string }>('POST', '/api/v1/auth/login', {
      email,
      password,
      cookie: true,
    });
    setIdentity({ kind: 'bearer', token: tokens.access_token });
  },
  logout: () => api<void>('POST', '/api/v1/auth/logout', {}),
  changePassword: (current_password: string, new_password: string) =>
    api<void>('PUT', '/api/v1/users/me/password', { current_password, new_password }),
  search: (q: string, cursor?: string | null) =>
    api<List<SearchHit>>('GET', `/api/v1/search${query({ q, cursor, limit: 20 })}`),
  switchBranch: (id: string, messageId: string) =>
    api<Session>('PUT', `/api/v1/sessions/${id}/current-leaf`, { message_id: messageId }),
  exportSession: (id: string, format: ExportFormat) =>
    download(
      `/api/v1/sessions/${id}/export${query({ format })}`,
      `parley-session.${format === 'markdown' ? 'md' : 'json'}`,
    ),
  exportAll: (format: ExportFormat) =>
    download(
      `/api/v1/users/me/export${query({ format })}`,
      `parley-export.${format === 'markdown' ? 'md' : 'json'}`,
    ),
};
