import { createOpenAI } from '@ai-sdk/openai';
import { defineProvider } from './provider.js';

/** OpenAI, or a gateway that speaks its API at LLM_BASE_URL. */
export const openaiProvider = defineProvider({
  name: 'openai',
  defaultModel: 'gpt-4o-mini',
  requires: ['LLM_API_KEY'],
  // Chat Completions rather than the Responses API: every OpenAI-style gateway serves it.
  create: (modelId, settings) =>
    createOpenAI({ apiKey: settings.LLM_API_KEY, baseURL: settings.LLM_BASE_URL }).chat(modelId),
});
