import { Injectable } from '@nestjs/common';
import type { ApiKeyScope, AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { DatabaseService } from '../database/database.service.js';
import { formatApiKey, hashSecret, newApiKeyToken, parseApiKey } from './api-key-token.js';
import type { CreateApiKeyDto } from './api-keys.dto.js';
import { ApiKeysRepository, type ApiKeyRecord } from './api-keys.repository.js';

/** Most keys one user may hold: keys are for scripts and clients, not one per request. */
export const MAX_KEYS_PER_USER = 50;

@Injectable()
export class ApiKeysService {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: ApiKeysRepository,
  ) {}

  /** Creates a key for the caller; the whole key is in the answer, and nowhere else ever again. */
  async create(auth: AuthContext, dto: CreateApiKeyDto): Promise<{ key: ApiKeyRecord; text: string }> {
    if (dto.expires_at !== undefined && !(Date.parse(dto.expires_at) > Date.now())) {
      const message = 'must be in the future';
      throw AppError.validation(`Invalid request: expires_at: ${message}`, [
        { field: 'expires_at', message },
      ]);
    }
    const token = newApiKeyToken();
    const scopes = [...new Set(dto.scopes)].sort() as ApiKeyScope[];
    const key = await this.db.asUser(auth, async (tx) => {
      if ((await this.keys.countForUser(tx, auth.userId)) >= MAX_KEYS_PER_USER)
        throw AppError.conflict(`A user may hold at most ${MAX_KEYS_PER_USER} API keys; revoke one first`);
      return this.keys.create(tx, auth.userId, {
        name: dto.name,
        prefix: token.prefix,
        secretHash: hashSecret(token.secret),
        scopes,
        expiresAt: dto.expires_at ?? null,
      });
    });
    return { key, text: formatApiKey(token) };
  }

  list(auth: AuthContext): Promise<ApiKeyRecord[]> {
    return this.db.asUser(auth, (tx) => this.keys.listForUser(tx, auth.userId));
  }

  /** Revokes the key at once: the next request that presents it is refused. */
  async revoke(auth: AuthContext, keyId: string): Promise<void> {
    const deleted = await this.db.asUser(auth, (tx) => this.keys.delete(tx, auth.userId, keyId));
    if (!deleted) throw AppError.notFound('API key');
  }

  /**
   * The caller a bearer API key stands for, or a 401 (malformed, unknown, revoked, expired, or its user
   * disabled: one message for all). Runs as the application role with no caller; only
   * app.api_key_caller() can see the key.
   */
  async authenticate(credential: string): Promise<AuthContext> {
    const token = parseApiKey(credential);
    if (!token) throw AppError.unauthorized(INVALID_API_KEY);
    const found = await this.db.asNobody((tx) =>
      this.keys.resolve(tx, token.prefix, hashSecret(token.secret)),
    );
    if (!found) throw AppError.unauthorized(INVALID_API_KEY);
    return { userId: found.userId, via: 'api_key', scopes: found.scopes };
  }
}

export const INVALID_API_KEY = 'The API key is invalid, revoked or expired';
