import { Injectable } from '@nestjs/common';
import type { ApiKeyScope } from '../auth/auth-context.js';
import { sqlOf, type Tx } from '../database/database.service.js';

/** An API key as its owner sees it (never the secret or its hash). */
export interface ApiKeyRecord {
  keyId: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

interface ApiKeyRow {
  key_id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

const COLUMNS = 'key_id, name, prefix, scopes, created_at, last_used_at, expires_at';

const toRecord = (row: ApiKeyRow): ApiKeyRecord => ({
  keyId: row.key_id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  expiresAt: row.expires_at,
});

/** SQL for the api_keys table. Owner methods run in the owner's RLS transaction; resolve() in asNobody(). */
@Injectable()
export class ApiKeysRepository {
  async create(
    tx: Tx,
    userId: string,
    key: {
      name: string;
      prefix: string;
      secretHash: Buffer;
      scopes: ApiKeyScope[];
      expiresAt: string | null;
    },
  ): Promise<ApiKeyRecord> {
    const [row] = await sqlOf(tx).query<ApiKeyRow>(
      `INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, expires_at)
       VALUES ($1::uuid, $2, $3, decode($4, 'hex'), $5::text[], $6::timestamptz)
       RETURNING ${COLUMNS}`,
      [userId, key.name, key.prefix, key.secretHash.toString('hex'), key.scopes, key.expiresAt],
    );
    return toRecord(row);
  }

  /** The owner's keys, newest first (expired ones too: they show why a script stopped working). */
  async listForUser(tx: Tx, userId: string): Promise<ApiKeyRecord[]> {
    const rows = await sqlOf(tx).query<ApiKeyRow>(
      `SELECT ${COLUMNS} FROM api_keys WHERE user_id = $1::uuid ORDER BY created_at DESC, key_id DESC`,
      [userId],
    );
    return rows.map(toRecord);
  }

  async countForUser(tx: Tx, userId: string): Promise<number> {
    const [row] = await sqlOf(tx).query<{ n: number }>(
      `SELECT count(*)::int AS n FROM api_keys WHERE user_id = $1::uuid`,
      [userId],
    );
    return row.n;
  }

  /** Deletes (revokes) one of the owner's keys; false when the owner has no such key. */
  async delete(tx: Tx, userId: string, keyId: string): Promise<boolean> {
    const rows = await sqlOf(tx).query<{ key_id: string }>(
      `DELETE FROM api_keys WHERE key_id = $1::uuid AND user_id = $2::uuid RETURNING key_id`,
      [keyId, userId],
    );
    return rows.length === 1;
  }

  /** The owner and scopes of a live key of an enabled user (app.api_key_caller), or undefined. */
  async resolve(
    tx: Tx,
    prefix: string,
    secretHash: Buffer,
  ): Promise<{ userId: string; scopes: ApiKeyScope[] } | undefined> {
    const [row] = await sqlOf(tx).query<{ caller: string; key_scopes: ApiKeyScope[] }>(
      `SELECT caller, key_scopes FROM app.api_key_caller($1, decode($2, 'hex'))`,
      [prefix, secretHash.toString('hex')],
    );
    return row ? { userId: row.caller, scopes: row.key_scopes } : undefined;
  }
}
