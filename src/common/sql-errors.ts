import { AppError } from './app-error.js';

/** Finds a PostgreSQL SQLSTATE in an error thrown by pg, PGlite or Prisma's driver adapters (nested causes). */
export function sqlStateOf(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 5) return undefined;
  const e = error as Record<string, unknown>;
  for (const candidate of [e.originalCode, e.code]) {
    if (typeof candidate === 'string' && /^[0-9A-Z]{5}$/.test(candidate) && !candidate.startsWith('P'))
      return candidate;
    // Class P0 (PL/pgSQL) and Parley's own PA codes (PA403: app.assert_admin()); Prisma's are P and 4 digits.
    if (typeof candidate === 'string' && /^P[0A]\d{3}$/.test(candidate)) return candidate;
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
 * SQLSTATE classes that mean the database cannot serve right now, whatever the request: 08 connection
 * exception, 53 insufficient resources (too many connections, out of memory or disk), 57P0x the server shutting
 * down or starting (57014, a statement timeout, too), 3D000 the database does not exist (renamed or dropped),
 * and class 28 other than 28000 (the connecting role refused: a password or role problem of the deployment).
 * 28000 itself is what app.assert_user_exists() raises for an unknown caller: a 401, not an outage.
 */
function isUnavailable(state: string): boolean {
  return (
    state.startsWith('08') ||
    state.startsWith('53') ||
    /^57P0\d$/.test(state) ||
    state === '3D000' ||
    (state.startsWith('28') && state !== '28000')
  );
}

/**
 * Maps a database error to the domain error a client should see, or undefined when it is a server fault.
 * A row-level-security refusal answers 404, like an id that does not exist, so nothing leaks.
 * Class 22 (data exception: a value out of range, a bad date, an invalid format) comes from the request's own
 * values reaching SQL, so every code of the class is a 400, not only the ones seen so far.
 */
export function appErrorFromDatabase(error: unknown): AppError | undefined {
  const state = sqlStateOf(error);
  if (state && isUnavailable(state))
    return new AppError('unavailable', 'The database is unavailable; try again shortly');
  switch (state) {
    case '28000':
      return AppError.unauthorized('Unknown user: the caller does not match any user');
    case 'PA403':
      // app.assert_admin(): the caller is a user, but not an administrator.
      return AppError.forbidden('Administrators only');
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
  }
  if (state?.startsWith('22')) return AppError.validation('A value is out of range or invalid');
  if (isConnectionFailure(error))
    return new AppError('unavailable', 'The database is unavailable; try again shortly');
  return undefined;
}
