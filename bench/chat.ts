/**
 * Chat scenarios (POST /api/v1/chat with the built-in provider, unpaced) and the mix. Writers rotate over 256
 * users' sessions, one request at a time per session as far as the rotation allows, so the sessions' row
 * locks do not serialize them.
 */
import type { Fixtures, OwnedSession } from './fixtures.js';
import type { BenchRequest } from './load.js';
import { listSessionsPath, messagesPath, type Scenario } from './scenarios.js';

export const CHAT_TEXT = 'Help me tighten the second paragraph of chapter three; it drags.';

export function chatRequest(owned: OwnedSession, mode: 'json' | 'sse', text = CHAT_TEXT): BenchRequest {
  return {
    method: 'POST',
    path: '/api/v1/chat',
    headers: {
      'x-user-id': owned.userId,
      'content-type': 'application/json',
      accept: mode === 'json' ? 'application/json' : 'text/event-stream',
    },
    body: JSON.stringify({ text, session_id: owned.sessionId }),
  };
}

export function chatScenarios(f: Fixtures): Scenario[] {
  const rotate = (mode: 'json' | 'sse') => () => {
    let i = 0;
    return () => chatRequest(f.writePool[i++ % f.writePool.length], mode);
  };
  return [
    { id: 'chat-json', title: 'chat, JSON mode (built-in provider)', kind: 'chat', source: rotate('json') },
    { id: 'chat-sse', title: 'chat, SSE mode (built-in provider)', kind: 'chat', source: rotate('sse') },
  ];
}

/**
 * A day's traffic in one stream of requests, per 10: 4 session lists (any of the 1,000 users), 3 newest
 * message pages and 1 older page by cursor, 1 rename, 1 chat (JSON).
 */
export function mixScenario(f: Fixtures): Scenario {
  const plan = [
    'list',
    'latest',
    'list',
    'rename',
    'latest',
    'list',
    'chat',
    'older',
    'list',
    'latest',
  ] as const;
  return {
    id: 'mix',
    title: 'mix (40% list, 40% message pages, 10% rename, 10% chat)',
    kind: 'mix',
    source: () => {
      let i = 0;
      return () => {
        const n = i++;
        const kind = plan[n % plan.length];
        const writer = f.writePool[n % f.writePool.length];
        switch (kind) {
          case 'list': {
            const user = f.users[(n * 7919) % f.users.length];
            return { method: 'GET', path: listSessionsPath(10), headers: { 'x-user-id': user } };
          }
          case 'latest':
            return {
              method: 'GET',
              path: messagesPath(writer.sessionId, { latest: true }),
              headers: { 'x-user-id': writer.userId },
            };
          case 'older':
            return {
              method: 'GET',
              path: messagesPath(f.deepSession.sessionId, { before: f.deepAnchors[n % 2 ? 1000 : 10000] }),
              headers: { 'x-user-id': f.deepSession.userId },
            };
          case 'rename':
            return {
              method: 'PUT',
              path: `/api/v1/sessions/${writer.sessionId}/title`,
              headers: { 'x-user-id': writer.userId, 'content-type': 'application/json' },
              body: JSON.stringify({ title: `Mixed draft ${n % 991}` }),
            };
          case 'chat':
            return chatRequest(writer, 'json');
        }
      };
    },
  };
}
