import { plainToInstance, Transform } from 'class-transformer';
import {
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

  @IsIn(['builtin', 'openai', 'openai-compatible', 'anthropic'])
  LLM_PROVIDER: 'builtin' | 'openai' | 'openai-compatible' | 'anthropic' = 'builtin';

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
}

export type AppConfig = Readonly<EnvironmentVariables>;

export class ConfigError extends Error {}

/** Reads and validates the environment. Throws a ConfigError whose message names the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.keys(new EnvironmentVariables());
  const present: Record<string, string> = {};
  for (const key of [
    ...known,
    'DATABASE_URL',
    'JWT_SECRET',
    'JWT_ISSUER',
    'JWT_AUDIENCE',
    'LLM_MODEL',
    'LLM_BASE_URL',
    'LLM_API_KEY',
  ]) {
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
  if (config.LLM_PROVIDER === 'openai-compatible' && !config.LLM_BASE_URL) {
    throw new ConfigError(
      'Invalid configuration: LLM_BASE_URL is required when LLM_PROVIDER is openai-compatible',
    );
  }
  if ((config.LLM_PROVIDER === 'openai' || config.LLM_PROVIDER === 'anthropic') && !config.LLM_API_KEY) {
    throw new ConfigError(
      `Invalid configuration: LLM_API_KEY is required when LLM_PROVIDER is ${config.LLM_PROVIDER}`,
    );
  }
  if (!config.AUTH_HEADER_ENABLED && !config.JWT_SECRET) {
    throw new ConfigError('Invalid configuration: JWT_SECRET is required when AUTH_HEADER_ENABLED is false');
  }
  return Object.freeze(config);
}
