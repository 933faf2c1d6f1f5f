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

export interface WebSettings {
  header_users: boolean;
  bearer: boolean;
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

export async function api<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        ...authHeaders(),
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
    response = await fetch(path, { headers: authHeaders() });
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
    return response.ok ? ((await response.json()) as WebSettings) : { header_users: true, bearer: false };
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
    try {
      await api<void>('POST', `/api/v1/sessions/${id}/stop`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
  },
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
