import type { AppConfig } from '../config/app-config.js';
import { anthropicProvider } from './anthropic.provider.js';
import { builtinProvider } from './builtin.provider.js';
import { AiSdkChatModel, type ChatModel } from './chat-model.js';
import { openaiCompatibleProvider } from './openai-compatible.provider.js';
import { openaiProvider } from './openai.provider.js';
import type { LlmProvider } from './provider.js';

/**
 * Every model provider Parley can use, in the order the configuration lists them. Adding one: a file of this
 * folder exporting a `defineProvider({...})` (plus its tests), and its line here; LLM_PROVIDER accepts it and
 * checks what it `requires` at boot.
 */
export const LLM_PROVIDERS = [
  builtinProvider,
  openaiProvider,
  openaiCompatibleProvider,
  anthropicProvider,
] as const;

/** LLM_PROVIDER's values. */
export type ProviderName = (typeof LLM_PROVIDERS)[number]['name'];
export const PROVIDER_NAMES: readonly ProviderName[] = LLM_PROVIDERS.map((provider) => provider.name);

function providerNamed(name: ProviderName): LlmProvider<ProviderName> {
  const provider = LLM_PROVIDERS.find((candidate) => candidate.name === name);
  if (!provider) throw new Error(`Unknown LLM provider ${name}`);
  return provider;
}

/** The first variable the configured provider requires and does not have, as a configuration error message. */
export function missingProviderSetting(
  config: Pick<AppConfig, 'LLM_PROVIDER' | 'LLM_API_KEY' | 'LLM_BASE_URL'>,
): string | null {
  const missing = providerNamed(config.LLM_PROVIDER).requires.find((variable) => !config[variable]);
  return missing ? `${missing} is required when LLM_PROVIDER is ${config.LLM_PROVIDER}` : null;
}

/** Builds the configured model. Called once at boot; the built-in model needs no network. */
export function createChatModel(config: AppConfig): ChatModel {
  const provider = providerNamed(config.LLM_PROVIDER);
  const modelId = config.LLM_MODEL ?? provider.defaultModel;
  return new AiSdkChatModel(provider.name, modelId, provider.create(modelId, config));
}
