import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { defineProvider } from './provider.js';

/** A server speaking OpenAI's Chat Completions at LLM_BASE_URL: llama.cpp, LM Studio, Ollama, vLLM. */
export const openaiCompatibleProvider = defineProvider({
  name: 'openai-compatible',
  // llama.cpp and LM Studio ignore the name; Ollama and vLLM need LLM_MODEL.
  defaultModel: 'default',
  requires: ['LLM_BASE_URL'],
  create: (modelId, settings) =>
    createOpenAICompatible({
      name: 'openai-compatible',
      baseURL: settings.LLM_BASE_URL ?? '',
      apiKey: settings.LLM_API_KEY,
      includeUsage: true,
    }).chatModel(modelId),
});
