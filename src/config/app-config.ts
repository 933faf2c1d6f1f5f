import { plainToInstance, Transform } from 'class-transformer';
import {
  getMetadataStorage,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { oidcProvidersOf, type OidcProviderConfig } from './oidc-providers.js';
import { missingProviderSetting, PROVIDER_NAMES, type ProviderName } from '../llm/providers.js';

const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return value;
};
const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

/**
 * The environment Parley reads, one property per variable, with its default. The README's configuration
 * table lists the same variables; keep the two together.
 */
export class EnvironmentVariables {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IsString()
  HOST = '127.0.0.1';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'DATABASE_URL must be a postgres:// or postgresql:// URL' })
  DATABASE_URL?: string;

  /**
   * A direct connection to the primary, for whatever needs a session of its own (the migrator's advisory
   * lock, LISTEN, the legacy importer). Set it when DATABASE_URL goes through a transaction pooler
   * (PgBouncer in transaction mode): Parley then also sends its statement timeout inside each transaction
   * instead of as a connection parameter, which the pooler would refuse.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, {
    message: 'DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL',
  })
  DATABASE_DIRECT_URL?: string;

  /** Streaming replicas of the primary, comma-separated: reads that tolerate it go there (docs/scaling.md). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^,\s]+(\s*,\s*postgres(ql)?:\/\/[^,\s]+)*$/, {
    message: 'DATABASE_REPLICA_URLS must be a comma-separated list of postgres:// or postgresql:// URLs',
  })
  DATABASE_REPLICA_URLS?: string;

  /** A replica whose replay lags the primary by more than this is skipped (its reads go to the primary). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3600000)
  REPLICA_MAX_LAG_MS = 5000;

  @IsString()
  @MinLength(1)
  PGLITE_DATA_DIR = '.parley-data';

  @Transform(toBool)
  @IsBoolean()
  DB_MIGRATE_ON_START = true;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(500)
  DB_POOL_MAX = 10;

  /**
   * Pooled connections kept open however long they sit idle (default: all of them, DB_POOL_MAX). A
   * connection the pool has to open again costs a new PostgreSQL backend with cold caches: a burst of
   * requests after a quiet spell waited for that (p99 80-120 ms instead of 10-25 ms, docs/performance.md).
   */
  @Transform(emptyToUndefined)
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(500)
  DB_POOL_MIN?: number;

  /** How long a connection above DB_POOL_MIN may sit idle before the pool closes it. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86400000)
  DB_POOL_IDLE_TIMEOUT_MS = 60000;

  /** Longest a single SQL statement may run (PostgreSQL statement_timeout, and the client's own wait). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3600000)
  DB_STATEMENT_TIMEOUT_MS = 10000;

  /** Longest wait for a database connection (opening one, or a free one from the pool). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600000)
  DB_CONNECT_TIMEOUT_MS = 3000;

  @Transform(toBool)
  @IsBoolean()
  AUTH_HEADER_ENABLED = true;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters long' })
  JWT_SECRET?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWT_ISSUER?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWT_AUDIENCE?: string;

  /** An identity provider's JSON Web Key Set: enables RS256/ES256 bearer JWTs verified with its keys. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'JWKS_URL must be an http(s) URL' })
  JWKS_URL?: string;

  /** Required `iss` of JWKS-verified tokens (required with JWKS_URL). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWKS_ISSUER?: string;

  /** Required `aud` of JWKS-verified tokens (required with JWKS_URL). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWKS_AUDIENCE?: string;

  @Matches(
    /^(RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA)(,(RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA))*$/,
    {
      message:
        'JWKS_ALGORITHMS must be a comma-separated list of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
    },
  )
  JWKS_ALGORITHMS = 'RS256,ES256';

  /** Shortest pause between two JWKS downloads triggered by an unknown key id. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3600000)
  JWKS_COOLDOWN_MS = 30000;

  /**
   * OpenID Connect providers whose tokens identify users (issue 13 §1), as JSON:
   * `[{"issuer": "...", "audience": "...", "algorithms": ["RS256"]}]`. Checked in loadConfig (oidcProvidersOf).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  OIDC_PROVIDERS?: string;

  /** One provider without JSON: its issuer (discovery at `<issuer>/.well-known/openid-configuration`). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^https?:\/\/\S+$/, { message: 'OIDC_ISSUER must be an http(s) URL' })
  OIDC_ISSUER?: string;

  /** The `aud` that provider's tokens must carry for Parley (required with OIDC_ISSUER). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  OIDC_AUDIENCE?: string;

  /** Algorithms accepted from OIDC_ISSUER. */
  @Matches(
    /^(RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA)(,(RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA))*$/,
    {
      message:
        'OIDC_ALGORITHMS must be a comma-separated list of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
    },
  )
  OIDC_ALGORITHMS = 'RS256,ES256';

  /** Create a user the first time a valid token of an unknown (issuer, subject) arrives. */
  @Transform(toBool)
  @IsBoolean()
  OIDC_AUTO_PROVISION = true;

  /**
   * Comma-separated email domains: when set, only a token with a verified email in one of them may create
   * (or link) a user. Identities already known keep working.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[a-z0-9.-]+(,[a-z0-9.-]+)*$/i, {
    message: 'OIDC_ALLOWED_EMAIL_DOMAINS must be a comma-separated list of domains',
  })
  OIDC_ALLOWED_EMAIL_DOMAINS?: string;

  /**
   * Link a new identity to the existing user who has the same email verified by another provider (off by
   * default: it trusts every configured provider's email verification with that account).
   */
  @Transform(toBool)
  @IsBoolean()
  OIDC_LINK_VERIFIED_EMAIL = false;

  /** Comma-separated emails: a user whose email is verified (by an OIDC provider) and listed becomes an admin. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  ADMIN_EMAILS?: string;

  /** Clock skew tolerated on `exp` and `nbf`, for every JWT. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  JWT_CLOCK_TOLERANCE_SECONDS = 0;

  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  BODY_LIMIT_BYTES = 1024 * 1024;

  @Transform(toBool)
  @IsBoolean()
  SWAGGER_ENABLED = true;

  @Transform(toBool)
  @IsBoolean()
  LEGACY_CHAT_ENABLED = true;

  /** Serve the web client (web/dist) at `/`. */
  @Transform(toBool)
  @IsBoolean()
  WEB_ENABLED = true;

  /** One of the registry's providers (src/llm/providers.ts). */
  @IsIn(PROVIDER_NAMES)
  LLM_PROVIDER: ProviderName = 'builtin';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(200)
  LLM_MODEL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'LLM_BASE_URL must be an http(s) URL' })
  LLM_BASE_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  LLM_API_KEY?: string;

  @IsString()
  LLM_SYSTEM_PROMPT =
    'You are Parley, a writing assistant. Help the user plan, draft and revise their writing. Be concise.';

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600000)
  LLM_TIMEOUT_MS = 60000;

  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(10000000)
  LLM_CONTEXT_CHARS = 24000;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600000)
  BUILTIN_LLM_DELAY_MS = 0;

  @Transform(toBool)
  @IsBoolean()
  RATE_LIMIT_ENABLED = true;

  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86400000)
  RATE_LIMIT_WINDOW_MS = 60000;

  /** Requests per window per user (per client IP on public routes), chat excluded. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000000)
  RATE_LIMIT_MAX = 600;

  /** Chat requests (/api/v1/chat, /chat) per window per user (per client IP when anonymous). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000000)
  RATE_LIMIT_CHAT_MAX = 60;

  /** Redis for rate-limit counters shared by several instances; unset keeps them in memory. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @IsString()
  @Matches(/^[A-Za-z0-9:_.-]{0,64}$/, {
    message: 'REDIS_KEY_PREFIX may hold letters, digits and : _ . - (64 at most)',
  })
  REDIS_KEY_PREFIX = 'parley:';

  /** Streaming chats one user (or anonymous client IP) may hold open at once on one instance. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100000)
  STREAMS_PER_USER_MAX = 5;

  /**
   * What a streamed reply does when its client goes away: `continue` generating (saved at the end; the client
   * can come back through GET /api/v1/chat/{session_id}/stream) or `abort` (saved as it was, `aborted`).
   */
  @IsIn(['continue', 'abort'])
  CHAT_ON_DISCONNECT: 'continue' | 'abort' = 'continue';

  /**
   * How instances learn of each other's reply chunks and stop requests on PostgreSQL: `listen` (LISTEN/NOTIFY
   * on one connection per instance, to DATABASE_DIRECT_URL when set) or `poll` (for a transaction-mode
   * pooler, where LISTEN cannot work). Unused on the embedded database (one process).
   */
  @IsIn(['listen', 'poll'])
  CHAT_RELAY: 'listen' | 'poll' = 'listen';
  /** Largest upload POST /api/v1/imports accepts (a ChatGPT export's zip or JSON); larger answers 413. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(16 * 1024 * 1024 * 1024)
  IMPORT_MAX_BYTES = 1024 * 1024 * 1024;

  /** Where uploads wait while they are imported (deleted afterwards); unset: the system's temporary directory. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  IMPORT_TMP_DIR?: string;

  /** Imports one instance runs at once; the others wait (queued). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(16)
  IMPORT_CONCURRENCY = 1;

  /** Longest a non-streaming request may take before it is answered 503. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3600000)
  REQUEST_TIMEOUT_MS = 30000;

  /** Origins allowed by CORS: unset for none, `*` for any, or a comma-separated list of origins. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(\*|https?:\/\/[^,\s]+(,\s*https?:\/\/[^,\s]+)*)$/, {
    message: 'CORS_ORIGINS must be *, or a comma-separated list of http(s) origins',
  })
  CORS_ORIGINS?: string;

  /** Whether X-Forwarded-For is trusted: false, true, a hop count, or comma-separated proxy addresses/CIDRs. */
  @IsString()
  @Matches(/^(false|true|\d{1,2}|[0-9a-fA-F.:/]+(,\s*[0-9a-fA-F.:/]+)*)$/, {
    message: 'TRUST_PROXY must be false, true, a hop count, or comma-separated addresses/CIDRs',
  })
  TRUST_PROXY = 'false';

  /** How long SIGTERM may take: streams end and are saved, in-flight requests finish, then the process exits. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  SHUTDOWN_GRACE_MS = 10000;

  /** Longest the readiness check waits for the database. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  HEALTH_TIMEOUT_MS = 2000;

  @Transform(toBool)
  @IsBoolean()
  METRICS_ENABLED = true;

  /**
   * PostgreSQL's text search configuration for search (simple: words as typed, any language; or english,
   * german, ...). A change re-indexes every message and title at the next start (docs/search.md).
   */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, {
    message: 'SEARCH_LANGUAGE must name a PostgreSQL text search configuration, such as simple or english',
  })
  SEARCH_LANGUAGE = 'simple';

  /** Hours a temporary session lives after its creation (unless pinned). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(876000)
  TEMP_SESSION_RETENTION_HOURS = 24;

  /** Days an ordinary session lives after its last activity (unless pinned); unset: forever. */
  @Transform(emptyToUndefined)
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(36500)
  SESSION_RETENTION_DAYS?: number;

  /** How often the purge job deletes expired sessions (one instance at a time). */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86400000)
  RETENTION_PURGE_INTERVAL_MS = 600000;
}

export type AppConfig = Readonly<EnvironmentVariables>;

export class ConfigError extends Error {}

/**
 * The variables Parley reads: every property of EnvironmentVariables that carries a validation rule, those
 * with a default and the optional ones (which have no property until set) alike.
 */
export const ENVIRONMENT_VARIABLES: readonly string[] = [
  ...new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(EnvironmentVariables, '', true, false)
      .map((rule) => rule.propertyName),
  ),
];

/** Reads and validates the environment. Throws a ConfigError whose message names the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const present: Record<string, string> = {};
  for (const key of ENVIRONMENT_VARIABLES) {
    const value = env[key];
    if (value !== undefined) present[key] = value;
  }
  const config = plainToInstance(EnvironmentVariables, present, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: true });
  if (errors.length > 0) {
    const first = errors[0];
    const reason = Object.values(first.constraints ?? {})[0] ?? 'is invalid';
    throw new ConfigError(
      `Invalid configuration: ${reason} (got ${JSON.stringify(present[first.property] ?? null)})`,
    );
  }
  if (config.DB_POOL_MIN !== undefined && config.DB_POOL_MIN > config.DB_POOL_MAX) {
    throw new ConfigError(
      `Invalid configuration: DB_POOL_MIN (${config.DB_POOL_MIN}) must not exceed DB_POOL_MAX (${config.DB_POOL_MAX})`,
    );
  }
  if (!config.DATABASE_URL && (config.DATABASE_DIRECT_URL || config.DATABASE_REPLICA_URLS)) {
    throw new ConfigError(
      'Invalid configuration: DATABASE_DIRECT_URL and DATABASE_REPLICA_URLS need DATABASE_URL (the embedded database has neither)',
    );
  }
  const providerProblem = missingProviderSetting(config);
  if (providerProblem) throw new ConfigError(`Invalid configuration: ${providerProblem}`);
  let oidc: OidcProviderConfig[];
  try {
    oidc = oidcProvidersOf(config);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${(error as Error).message}`);
  }
  if (!config.AUTH_HEADER_ENABLED && !config.JWT_SECRET && !config.JWKS_URL && oidc.length === 0) {
    throw new ConfigError(
      'Invalid configuration: JWT_SECRET, JWKS_URL or an OIDC provider is required when AUTH_HEADER_ENABLED is false',
    );
  }
  if (config.JWKS_URL && (!config.JWKS_ISSUER || !config.JWKS_AUDIENCE)) {
    throw new ConfigError(
      'Invalid configuration: JWKS_ISSUER and JWKS_AUDIENCE are required with JWKS_URL (an identity provider signs tokens for other applications too)',
    );
  }
  return Object.freeze(config);
}
