/**
 * What the abuse limits report as they work (src/limits/): a refusal by which limit, and a stream opened or
 * closed. The limits depend on this interface only; the metrics feature implements it (MetricsService,
 * provided under LIMITS_OBSERVER by MetricsModule), so limits/ and metrics/ never import each other.
 */
export interface LimitsObserver {
  /** A request was refused with 429 by the named limit. */
  recordRateLimited(limit: 'default' | 'chat' | 'streams'): void;
  /** A streaming response began holding a stream lease. */
  streamOpened(): void;
  /** A stream lease was released. */
  streamClosed(): void;
}

/** Injection token of the LimitsObserver (a symbol: no class stands for an interface at run time). */
export const LIMITS_OBSERVER = Symbol('LimitsObserver');
