import {
  CallHandler,
  ExecutionContext,
  Inject,
  Injectable,
  NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Observable } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { isChatRoute } from '../limits/chat-routes.js';
import { AppError } from './app-error.js';

const NO_REQUEST_TIMEOUT = 'parley:noRequestTimeout';

/** The route bounds its own duration (a stream, a model call): REQUEST_TIMEOUT_MS does not apply. */
export const NoRequestTimeout = () => SetMetadata(NO_REQUEST_TIMEOUT, true);

/**
 * Answers 503 `unavailable` (the usual error shape) when a handler has not finished within
 * REQUEST_TIMEOUT_MS, instead of leaving the client hanging. Chat routes and routes marked
 * @NoRequestTimeout() are exempt, and a response whose headers are already on the wire (a stream) is
 * never cut. The handler's own work is not cancelled: its database statements are bounded by
 * DB_STATEMENT_TIMEOUT_MS.
 */
@Injectable()
export class RequestTimeoutInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const exempt = this.reflector.getAllAndOverride<boolean>(NO_REQUEST_TIMEOUT, [
      context.getHandler(),
      context.getClass(),
    ]);
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (exempt || isChatRoute(request.routeOptions?.url)) return next.handle();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const ms = this.config.REQUEST_TIMEOUT_MS;
    return new Observable((subscriber) => {
      const timer = setTimeout(() => {
        if (reply.sent || reply.raw.headersSent) return;
        subscriber.error(
          new AppError('unavailable', `The request did not finish within ${ms} ms; try again`),
        );
      }, ms);
      const inner = next.handle().subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => {
          clearTimeout(timer);
          subscriber.error(error);
        },
        complete: () => {
          clearTimeout(timer);
          subscriber.complete();
        },
      });
      return () => {
        clearTimeout(timer);
        inner.unsubscribe();
      };
    });
  }
}
