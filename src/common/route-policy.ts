import { SetMetadata } from '@nestjs/common';
import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants.js';
import type { FastifyRequest } from 'fastify';

/**
 * Policy belongs to the route, not to its URL: a handler is marked with a decorator, and the guard or hook
 * that applies the policy reads the mark. The marks read on every request (a chat route, no request timeout)
 * are kept in the Fastify route's `config`, which Fastify hooks see as `request.routeOptions.config` (a
 * property read; no lookup from route to Nest handler); the rate-limit guard reads them there too.
 */

const CHAT_ROUTE = 'parleyChatRoute';
const NO_REQUEST_TIMEOUT = 'parleyNoRequestTimeout';
const STREAMED_BODY = 'parleyStreamedBody';

/** Nest metadata key of @SkipRateLimit() (on a handler or a controller), read by RateLimitGuard. */
export const SKIP_RATE_LIMIT = 'parley:skipRateLimit';

/** The route is never rate limited (health probes, metrics scrapes). On a handler or a whole controller. */
export const SkipRateLimit = () => SetMetadata(SKIP_RATE_LIMIT, true);

/**
 * Adds `entries` to the handler's Fastify route config, keeping what other marks put there (Nest's own
 * @RouteConfig() replaces the whole config: put it above these marks, or not on the same handler).
 */
function routeConfigEntries(entries: Record<string, unknown>): MethodDecorator {
  return (_target, _key, descriptor) => {
    const handler = descriptor.value as object;
    const current = Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler) as object | undefined;
    Reflect.defineMetadata(FASTIFY_ROUTE_CONFIG_METADATA, { ...current, ...entries }, handler);
  };
}

/** The route bounds its own duration (a stream, a model call): REQUEST_TIMEOUT_MS does not apply. */
export const NoRequestTimeout = (): MethodDecorator => routeConfigEntries({ [NO_REQUEST_TIMEOUT]: true });

/**
 * The handler reads the request body itself, as a stream of any type and size (an upload): see
 * streamed-body.ts. Such a route bounds its own duration (REQUEST_TIMEOUT_MS does not apply) and size.
 */
export const StreamedBody = (): MethodDecorator =>
  routeConfigEntries({ [STREAMED_BODY]: true, [NO_REQUEST_TIMEOUT]: true });

/**
 * The route makes a model call: it counts against the chat rate-limit budget (RATE_LIMIT_CHAT_MAX instead of
 * RATE_LIMIT_MAX), and the generic request timeout does not apply (LLM_TIMEOUT_MS bounds the call instead).
 */
export const ChatRoute = (): MethodDecorator =>
  routeConfigEntries({ [CHAT_ROUTE]: true, [NO_REQUEST_TIMEOUT]: true });

type RouteOptions = FastifyRequest['routeOptions'];

function flag(route: RouteOptions | undefined, name: string): boolean {
  return (route?.config as Record<string, unknown> | undefined)?.[name] === true;
}

/** Whether the request's route is marked @ChatRoute(). */
export function isChatRoute(route: RouteOptions | undefined): boolean {
  return flag(route, CHAT_ROUTE);
}

/** Whether the request's route is exempt from REQUEST_TIMEOUT_MS (@NoRequestTimeout() or @ChatRoute()). */
export function hasNoRequestTimeout(route: RouteOptions | undefined): boolean {
  return flag(route, NO_REQUEST_TIMEOUT);
}

/** Whether the request's route reads its body as a stream (@StreamedBody()). */
export function hasStreamedBody(route: RouteOptions | undefined): boolean {
  return flag(route, STREAMED_BODY);
}
