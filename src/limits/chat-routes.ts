/**
 * Chat routes have their own rate limit (RATE_LIMIT_CHAT_MAX) and no generic request timeout (a model call is
 * bounded by LLM_TIMEOUT_MS instead): everything under /api/v1/chat, and the legacy /chat.
 */
export function isChatRoute(route: string | undefined): boolean {
  if (!route) return false;
  return (
    route === '/chat' ||
    route.startsWith('/chat/') ||
    route === '/api/v1/chat' ||
    route.startsWith('/api/v1/chat/')
  );
}
