import type { LanguageModel } from 'ai';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineProvider } from './provider.js';

// The AI SDK's language-model specification (v3), reached through `ai`'s own LanguageModel union so the
// provider-spec package need not be declared a second time.
type LanguageModelV3 = Extract<LanguageModel, { specificationVersion: 'v3' }>;
type CallOptions = Parameters<LanguageModelV3['doStream']>[0];
type StreamResult = Awaited<ReturnType<LanguageModelV3['doStream']>>;
type StreamPart = StreamResult['stream'] extends ReadableStream<infer P> ? P : never;
type GenerateResult = Awaited<ReturnType<LanguageModelV3['doGenerate']>>;
type Usage = GenerateResult['usage'];

export const BUILTIN_MODEL_ID = 'parley-builtin-1';

const SUGGESTIONS = [
  'Try opening with a concrete image instead of a summary.',
  'Ask yourself what the reader should feel at the end, and cut what does not serve it.',
  'Give the main character a want they can name and a need they cannot.',
  'Read it aloud: the sentences you stumble over are the ones to rewrite.',
  'Move the most surprising detail earlier.',
  'Replace one adjective with a verb that does the same work.',
  'Write the next paragraph badly on purpose, then revise it.',
  'State the central question in one sentence before drafting further.',
];

/** FNV-1a: a small, stable hash so the same message always gets the same reply. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function textOf(message: CallOptions['prompt'][number]): string {
  if (typeof message.content === 'string') return message.content;
  return message.content
    .map((part) => (part.type === 'text' ? part.text : ''))
    .join('')
    .trim();
}

/**
 * The deterministic reply: it depends only on the last user message and on how many earlier messages the
 * context holds, so tests (and people trying Parley offline) can predict it.
 */
export function composeBuiltinReply(prompt: CallOptions['prompt']): string {
  const conversation = prompt.filter((m) => m.role === 'user' || m.role === 'assistant');
  const last = [...conversation].reverse().find((m) => m.role === 'user');
  const text = last ? textOf(last) : '';
  const words = text.split(/\s+/).filter(Boolean);
  const topic = words.slice(0, 8).join(' ') + (words.length > 8 ? ' …' : '');
  const earlier = Math.max(conversation.length - 1, 0);
  const h = hash(text);
  const first = SUGGESTIONS[h % SUGGESTIONS.length];
  const second = SUGGESTIONS[(h + 1 + ((h >>> 8) % (SUGGESTIONS.length - 1))) % SUGGESTIONS.length];
  return (
    `This is Parley's built-in offline model (set LLM_PROVIDER for a real one). ` +
    `You wrote ${words.length} ${words.length === 1 ? 'word' : 'words'} about "${topic}"` +
    (earlier > 0 ? `, and I can see ${earlier} earlier ${earlier === 1 ? 'message' : 'messages'}` : '') +
    `. ${first} ${second}`
  );
}

function estimateUsage(prompt: CallOptions['prompt'], reply: string): Usage {
  const promptChars = prompt.reduce((sum, m) => sum + textOf(m).length, 0);
  const input = Math.ceil(promptChars / 4);
  const output = Math.ceil(reply.length / 4);
  return {
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}

/**
 * Parley's offline model, a real AI SDK language model (specification v3): it streams a deterministic reply
 * word by word, `delayMs` apart, and stops when the call's abort signal fires. Its token usage is an estimate
 * (characters / 4).
 */
export class BuiltinLanguageModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3' as const;
  readonly provider = 'builtin';
  readonly modelId: string;
  readonly supportedUrls = {};
  private readonly delayMs: number;

  constructor(options: { modelId?: string; delayMs?: number } = {}) {
    this.modelId = options.modelId ?? BUILTIN_MODEL_ID;
    this.delayMs = options.delayMs ?? 0;
  }

  async doGenerate(options: CallOptions): Promise<GenerateResult> {
    const text = composeBuiltinReply(options.prompt);
    return {
      content: [{ type: 'text', text }],
      finishReason: { unified: 'stop', raw: 'stop' },
      usage: estimateUsage(options.prompt, text),
      warnings: [],
    };
  }

  async doStream(options: CallOptions): Promise<StreamResult> {
    const text = composeBuiltinReply(options.prompt);
    const chunks = text.match(/\s*\S+/g) ?? [];
    const usage = estimateUsage(options.prompt, text);
    const signal = options.abortSignal;
    const delayMs = this.delayMs;
    const id = 'text-0';
    let next = 0;
    const stream = new ReadableStream<StreamPart>({
      start(controller) {
        controller.enqueue({ type: 'stream-start', warnings: [] });
        controller.enqueue({ type: 'text-start', id });
      },
      async pull(controller) {
        try {
          if (next > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
          signal?.throwIfAborted();
        } catch (error) {
          controller.error(signal?.reason ?? error);
          return;
        }
        if (next < chunks.length) {
          controller.enqueue({ type: 'text-delta', id, delta: chunks[next++] });
          return;
        }
        controller.enqueue({ type: 'text-end', id });
        controller.enqueue({ type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage });
        controller.close();
      },
    });
    return { stream };
  }
}

/** The default provider: the offline model above, no key, no network. */
export const builtinProvider = defineProvider({
  name: 'builtin',
  defaultModel: BUILTIN_MODEL_ID,
  requires: [],
  create: (modelId, settings) =>
    new BuiltinLanguageModel({ modelId, delayMs: settings.BUILTIN_LLM_DELAY_MS }),
});
