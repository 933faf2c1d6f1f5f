import { createHash, randomBytes, randomInt } from 'node:crypto';

/**
 * The text of an API key: `pk_<12 characters>_<secret>`. `pk_<12 characters>` is the key's prefix: shown in
 * lists, it names the key; the secret (32 random bytes, base64url) is given to the owner once and stored only
 * as its SHA-256 (a hash of 256 random bits needs no slow hashing: nothing can be guessed from it).
 */
export interface ApiKeyToken {
  prefix: string;
  secret: string;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN = /^(pk_[a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** Whether a bearer credential is an API key (rather than a JWT). */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith('pk_');
}

export function newApiKeyToken(): ApiKeyToken {
  let id = '';
  for (let i = 0; i < 12; i++) id += ALPHABET[randomInt(ALPHABET.length)];
  return { prefix: `pk_${id}`, secret: randomBytes(32).toString('base64url') };
}

export function formatApiKey(token: ApiKeyToken): string {
  return `${token.prefix}_${token.secret}`;
}

/** The prefix and secret of a well-formed key; undefined for anything else. */
export function parseApiKey(text: string): ApiKeyToken | undefined {
  const match = TOKEN.exec(text);
  return match ? { prefix: match[1], secret: match[2] } : undefined;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
