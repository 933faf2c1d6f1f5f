import { generate } from './chat-generation.js';
import type { ChatModel, ModelEvent, ModelRequest } from '../llm/chat-model.js';

/** A model that yields `deltas` (waiting `gapMs` before each, aborting with the signal), then `end`. */
function model(deltas: string[], end: 'finish' | Error | 'hang', gapMs = 0): ChatModel {
  return {
    provider: 'builtin',
    modelId: 'test',
    async *stream(request: ModelRequest): AsyncIterable<ModelEvent> {
      const wait = (ms: number) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          request.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(request.signal.reason);
          });
        });
      for (const delta of deltas) {
        await wait(gapMs);
        yield { type: 'text', delta };
      }
      if (end === 'hang') await wait(60_000);
      if (end instanceof Error) throw end;
      yield {
        type: 'finish',
        finishReason: 'stop',
        usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 },
      };
    },
  };
}

const context = { system: 's', messages: [{ role: 'user' as const, content: 'hi' }] };
const run = (m: ChatModel, options: { timeoutMs?: number; signal?: AbortSignal } = {}) => {
  const deltas: string[] = [];
  return generate(m, context, {
    signal: options.signal ?? new AbortController().signal,
    timeoutMs: options.timeoutMs ?? 5000,
    onDelta: (d) => deltas.push(d),
  }).then((generation) => ({ generation, deltas }));
};

describe('generate', () => {
  it('collects the text and the finish event', async () => {
    const { generation, deltas } = await run(model(['a', 'b'], 'finish'));
    expect(deltas).toEqual(['a', 'b']);
    expect(generation).toMatchObject({ text: 'ab', finishReason: 'stop', usage: { total_tokens: 3 } });
    expect(generation.error).toBeUndefined();
  });

  it('reports a provider failure as finish reason error, keeping the partial text', async () => {
    const { generation } = await run(model(['par', 'tial'], new Error('socket hang up')));
    expect(generation).toMatchObject({
      text: 'partial',
      finishReason: 'error',
      error: { code: 'provider_error', message: 'The model provider could not be reached or failed' },
    });
  });

  it('replaces NUL characters from the provider (PostgreSQL cannot store them) in the deltas, text and error', async () => {
    const { generation, deltas } = await run(model(['a\u0000b'], new Error('bad \u0000 byte')));
    expect(deltas).toEqual(['a\ufffdb']);
    expect(generation.text).toBe('a\ufffdb');
    expect(generation.error?.message).toBe('The model provider could not be reached or failed');
  });

  it('enforces the timeout (code provider_timeout)', async () => {
    const { generation } = await run(model(['x'], 'hang'), { timeoutMs: 100 });
    expect(generation).toMatchObject({
      text: 'x',
      finishReason: 'error',
      error: { code: 'provider_timeout' },
    });
  });

  it('an abort from the caller is finish reason aborted, without an error', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 30);
    const { generation } = await run(model(['a', 'b', 'c', 'd'], 'finish', 20), { signal: abort.signal });
    expect(generation.finishReason).toBe('aborted');
    expect(generation.error).toBeUndefined();
    expect(generation.text.length).toBeLessThan(4);
  });
});
