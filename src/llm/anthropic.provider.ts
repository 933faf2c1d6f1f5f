import { createAnthropic } from '@ai-sdk/anthropic';
import { defineProvider } from './provider.js';

/** Anthropic's Messages API (LLM_BASE_URL for a proxy). */
export const anthropicProvider = defineProvider({
  name: 'anthropic',
  defaultModel: 'claude-3-5-haiku-latest',
  requires: ['LLM_API_KEY'],
  create: (modelId, settings) =>
    createAnthropic({ apiKey: settings.LLM_API_KEY, baseURL: settings.LLM_BASE_URL }).messages(modelId),
});
