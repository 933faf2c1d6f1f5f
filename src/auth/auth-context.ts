/** What an API key may do: read (GET), write (other methods), chat (routes that call the model). */
export type ApiKeyScope = 'read' | 'write' | 'chat';
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['read', 'write', 'chat'];

/** Who is calling: resolved by AuthGuard from X-User-ID, a JWT or an API key, and passed explicitly to every service. */
export interface AuthContext {
  readonly userId: string;
  readonly via: 'header' | 'jwt' | 'api_key';
  /** With `via: 'api_key'`: the key's scopes (the guard has already checked them against the route). */
  readonly scopes?: readonly ApiKeyScope[];
}
