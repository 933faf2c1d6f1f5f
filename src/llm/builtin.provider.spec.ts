import { streamText } from 'ai';
import { BuiltinLanguageModel, composeBuiltinReply } from './builtin.provider.js';

const prompt = (text: string) => [
  { role: 'system' as const, content: 'sys' },
  { role: 'user' as const, content: [{ type: 'text' as const, text }] },
];

describe('BuiltinLanguageModel', () => {
  it('is deterministic: the same message gets the same reply, another message another one', () => {
    expect(composeBuiltinReply(prompt('A poem about rain'))).toBe(
      composeBuiltinReply(prompt('A poem about rain')),
    );
    expect(composeBuiltinReply(prompt('A poem about rain'))).not.toBe(
      composeBuiltinReply(prompt('A poem about snow')),
    );
  });

  it('streams through the AI SDK word by word, with usage and finish reason stop', async () => {
    const result = streamText({ model: new BuiltinLanguageModel(), prompt: 'Help me outline an essay' });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    expect(deltas.length).toBeGreaterThan(10);
    expect(deltas.join('')).toBe(await result.text);
    expect(await result.finishReason).toBe('stop');
    const usage = await result.usage;
    expect(usage.outputTokens).toBeGreaterThan(0);
    expect(usage.inputTokens).toBeGreaterThan(0);
  });

  it('paces chunks by delayMs and stops as soon as the call is aborted', async () => {
    const abort = new AbortController();
    const model = new BuiltinLanguageModel({ delayMs: 20 });
    const { stream } = await model.doStream({ prompt: prompt('Slowly, please'), abortSignal: abort.signal });
    const reader = stream.getReader();
    const started = Date.now();
    const seen: string[] = [];
    let failure: unknown;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen.push(value.type);
        if (seen.filter((type) => type === 'text-delta').length === 3) abort.abort(new Error('stop'));
      }
    } catch (error) {
      failure = error;
    }
    expect((failure as Error).message).toBe('stop');
    expect(seen.filter((type) => type === 'text-delta')).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(seen).not.toContain('finish');
  });
});
