import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_STATUS, type ErrorCode, type ErrorDetail } from './app-error.js';
import type { ErrorResponseDto } from './error-response.dto.js';
import { appErrorFromDatabase } from './sql-errors.js';

const CODE_BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]),
);

/** Retry-After of every 503 (the database or a dependency unavailable): seconds. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

const UNSUPPORTED_MEDIA_TYPE = 'Unsupported content type: send application/json';

/** Fastify's own errors (bad JSON, body too large, wrong content type) carry a statusCode and an FST_ code. */
interface FastifyError extends Error {
  statusCode?: number;
  code?: string;
}

/**
 * Turns every error into the one JSON error shape. Domain errors and client errors keep their message;
 * anything unexpected is logged with the request id and answered as a 500 without internals.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const body = this.toBody(exception, request);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.end();
      return;
    }
    // A 503 is an outage of something the request needs (the database): worth retrying, and the client
    // is told when (rate-limit 429s set their own Retry-After in the guard).
    if (body.statusCode === 503 && !reply.hasHeader('retry-after'))
      void reply.header('retry-after', UNAVAILABLE_RETRY_AFTER_SECONDS);
    void reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  toBody(exception: unknown, request: FastifyRequest): ErrorResponseDto {
    const requestId = String(request.id);
    const shape = (
      status: number,
      code: ErrorCode,
      message: string,
      details?: ErrorDetail[],
    ): ErrorResponseDto => ({
      statusCode: status,
      error: code,
      message,
      ...(details && details.length > 0 ? { details } : {}),
      request_id: requestId,
    });

    if (exception instanceof AppError)
      return shape(exception.status, exception.code, exception.message, exception.details);

    const fromDb = appErrorFromDatabase(exception);
    if (fromDb) {
      if (fromDb.code === 'unavailable')
        this.logger.warn(`request ${requestId}: ${(exception as Error).message}`);
      return shape(fromDb.status, fromDb.code, fromDb.message, fromDb.details);
    }

    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const message =
        typeof response === 'string'
          ? response
          : Array.isArray((response as { message?: unknown }).message)
            ? (response as { message: string[] }).message.join('; ')
            : String((response as { message?: unknown }).message ?? exception.message);
      return shape(
        status,
        CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'validation_failed'),
        // Fastify's 415 (no parser for the body's content type) reaches here wrapped by Nest.
        status === 415 ? UNSUPPORTED_MEDIA_TYPE : message,
      );
    }

    const fastifyError = exception as FastifyError;
    if (fastifyError?.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      const status = fastifyError.statusCode;
      const message =
        fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'The request body is larger than the server accepts'
          : fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? UNSUPPORTED_MEDIA_TYPE
            : fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
              ? 'The request body is empty but its content type is JSON'
              : fastifyError.message.startsWith('Body is not valid JSON') ||
                  fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
                  fastifyError instanceof SyntaxError
                ? 'The request body is not valid JSON'
                : fastifyError.message;
      return shape(status, CODE_BY_STATUS[status] ?? 'validation_failed', message);
    }

    this.logger.error(`request ${requestId} failed: ${(exception as Error)?.stack ?? String(exception)}`);
    return shape(500, 'internal', 'Internal server error');
  }
}
