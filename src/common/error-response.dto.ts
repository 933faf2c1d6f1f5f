import { ERROR_STATUS, type ErrorCode } from './app-error.js';

export class ErrorDetailDto {
  /** The request field the problem is about (dotted path for nested fields). */
  field: string;
  message: string;
}

/** The one shape of every 4xx and 5xx response. */
export class ErrorResponseDto {
  /** The HTTP status code, repeated. */
  statusCode: number;
  /** A stable machine-readable code. */
  error: ErrorCode;
  /** What went wrong, for people. */
  message: string;
  /** Per-field problems, for validation errors. */
  details?: ErrorDetailDto[];
  /** The id of the request, as in the X-Request-ID response header and the logs. */
  request_id: string;
}

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];
