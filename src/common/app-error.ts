/** The small set of error codes every Parley error response carries, with the HTTP status each maps to. */
export const ERROR_STATUS = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  internal: 500,
  provider_error: 502,
  unavailable: 503,
  provider_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  field: string;
  message: string;
}

/** A domain error: services throw these; the exception filter turns them into the JSON error shape. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  static notFound(what: string): AppError {
    return new AppError('not_found', `${what} not found`);
  }
  static unauthorized(message: string): AppError {
    return new AppError('unauthorized', message);
  }
  static forbidden(message: string): AppError {
    return new AppError('forbidden', message);
  }
  static conflict(message: string): AppError {
    return new AppError('conflict', message);
  }
  static validation(message: string, details?: ErrorDetail[]): AppError {
    return new AppError('validation_failed', message, details);
  }
}
