/** Who is calling: resolved by AuthGuard from X-User-ID or a JWT, and passed explicitly to every service. */
export interface AuthContext {
  readonly userId: string;
  readonly via: 'header' | 'jwt';
}
