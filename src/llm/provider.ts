import type { AppConfig } from '../config/app-config.js';
import type { ProviderLanguageModel } from './chat-model.js';

/** The settings a provider builds its model from. */
export type ProviderSettings = Pick<AppConfig, 'LLM_API_KEY' | 'LLM_BASE_URL' | 'BUILTIN_LLM_DELAY_MS'>;

/**
 * One model provider: a file of this folder exports one, and the registry (providers.ts) lists it. The
 * configuration takes LLM_PROVIDER's values and the checks of `requires` from the registry.
 */
export interface LlmProvider<N extends string = string> {
  /** LLM_PROVIDER's value, and `metadata.provider` of the replies. */
  readonly name: N;
  /** The model when LLM_MODEL is unset. */
  readonly defaultModel: string;
  /** Variables this provider cannot work without: a missing one stops the process at boot. */
  readonly requires: readonly ('LLM_API_KEY' | 'LLM_BASE_URL')[];
  /** The AI SDK language model for `modelId`. Called once at boot; no network. */
  create(modelId: string, settings: ProviderSettings): ProviderLanguageModel;
}

/** Keeps the provider's name as a literal type, so the registry can derive LLM_PROVIDER's type. */
export function defineProvider<const N extends string>(provider: LlmProvider<N>): LlmProvider<N> {
  return provider;
}
