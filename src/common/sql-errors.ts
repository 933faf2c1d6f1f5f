import { AppError } from './app-error.js';

/** Finds a PostgreSQL SQLSTATE in an error thrown by pg, PGlite or Prisma's driver adapters (nested causes). */
export function sqlStateOf(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 5) return undefined;
  const e = error as Record<string, unknown>;
  for (const candidate of [e.originalCode, e.code]) {
    if (typeof candidate === 'string' && /^[0-9A-Z]{5}$/.test(candidate) && !candidate.startsWith('P'))
      return candidate;
    if (typeof candidate === 'string' && /^P0\d{3}$/.test(candidate)) return candidate;
  }
  const meta = e.meta as Record<string, unknown> | undefined;
  return (
    sqlStateOf(meta?.driverAdapterError, depth + 1) ??
    sqlStateOf((meta?.driverAdapterError as Record<string, unknown> | undefined)?.cause, depth + 1) ??
    (typeof meta?.code === 'string' && /^[0-9A-Z]{5}$/.test(meta.code) ? meta.code : undefined) ??
    sqlStateOf(e.cause, depth + 1)
  );
}

function isConnectionFailure(error: unknown): boolean {
  const text = String((error as Error)?.message ?? '') + String((error as { code?: unknown })?.code ?? '');
  // Query read timeout: the pool's query_timeout (a server that went silent). P2028: Prisma could not start
  // or finish an interactive transaction in time (no free connection within DB_CONNECT_TIMEOUT_MS).
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection terminated|connection error|not queryable|closed the connection|Can't reach database|terminating connection|timeout exceeded when trying to connect|Query read timeout|DatabaseNotReachable|P1001|P1017|P2028|Transaction API error|Transaction already closed|PGlite is closed/i.test(
    text,
  );
}

/**
 * Maps a database error to the domain error a client should see, or undefined when it is a server fault.
 * A row-level-security refusal answers 404, like an id that does not exist, so nothing leaks.
 */
export function appErrorFromDatabase(error: unknown): AppError | undefined {
  const state = sqlStateOf(error);
  switch (state) {
    case '28000':
      return AppError.unauthorized('Unknown user: the caller does not match any user');
    case '23505':
      return AppError.conflict('A record with the same unique value already exists');
    case '42501':
      return AppError.notFound('Resource');
    case '22P02':
    case '22023':
      return AppError.validation('A value has an invalid format');
    case '22001':
      return AppError.validation('A value is too long');
    case 'P0002':
      return AppError.validation('The cursor message does not belong to this session');
    case '57014':
      return new AppError('unavailable', 'The database took too long to answer; try again');
    case '57P01':
    case '57P02':
    case '57P03':
    case '08000':
    case '08003':
    case '08006':
    case '08001':
      return new AppError('unavailable', 'The database is unavailable; try again shortly');
  }
  if (isConnectionFailure(error))
    return new AppError('unavailable', 'The database is unavailable; try again shortly');
  return undefined;
}
