import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OpenAI-compatible server on 127.0.0.1 for tests: `POST /v1/chat/completions` with `stream: true`
 * answers Server-Sent Events chunks the way OpenAI, vLLM or Ollama do, with a usage chunk at the end when
 * `stream_options.include_usage` is set. `POST /v1/messages` answers the default reply in the event format of
 * Anthropic's Messages API.
 *
 * What it does is chosen by directives in the last user message, so concurrent tests never interfere:
 * - (none): streams FAKE_REPLY_WORDS, 5 ms apart
 * - `[fail-500]`: HTTP 500 with an OpenAI error body, before any token
 * - `[fail-once]`: like `[fail-500]` the first time this exact text arrives, normal afterwards
 * - `[drop-after:N]`: N chunks, then the connection is destroyed
 * - `[stall-after:N]`: N chunks, then nothing more (until the client gives up)
 * - `[stall-once]`: like `[stall-after:0]` the first time this exact text arrives, normal afterwards
 * - `[words:N]`: N words instead of the default reply ("w1 w2 ...")
 * - `[every:MS]`: MS milliseconds between chunks
 */
export const FAKE_REPLY_WORDS = ['Hello', ' from', ' the', ' fake', ' model.'];
export const FAKE_REPLY = FAKE_REPLY_WORDS.join('');
export const FAKE_MODEL = 'fake-model-1';

export interface FakeLlmRequest {
  /** The parsed request body. */
  body: {
    model: string;
    messages: { role: string; content: string }[];
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
  };
  /** The last user message's text. */
  lastUserText: string;
  /** How many content chunks were written. */
  chunksSent: number;
  /** Resolves when the exchange is over; `byClient` is true when the client closed it before the end. */
  closed: Promise<{ byClient: boolean }>;
}

export interface FakeLlmServer {
  /** Base URL for LLM_BASE_URL, ending in /v1. */
  baseUrl: string;
  requests: FakeLlmRequest[];
  /** The requests whose last user message contains `marker`. */
  find(marker: string): FakeLlmRequest[];
  close(): Promise<void>;
}

const directive = (text: string, name: string): number | undefined => {
  const match = new RegExp(`\\[${name}(?::(\\d+))?\\]`).exec(text);
  return match ? Number(match[1] ?? 0) : undefined;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: FAKE_MODEL,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  })}\n\n`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const part of req) body += part;
  return body;
}

export async function startFakeLlmServer(): Promise<FakeLlmServer> {
  const requests: FakeLlmRequest[] = [];
  const seen = new Set<string>();

  /** Anthropic's Messages API, streamed: the default reply only (enough to prove the provider's wiring). */
  async function handleAnthropic(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = JSON.parse(await readBody(req)) as FakeLlmRequest['body'] & { system?: unknown };
    const last = [...body.messages].reverse().find((m) => m.role === 'user')?.content as unknown;
    const lastUserText = Array.isArray(last)
      ? last.map((part: { text?: string }) => part.text ?? '').join('')
      : String(last ?? '');
    requests.push({
      body,
      lastUserText,
      chunksSent: FAKE_REPLY_WORDS.length,
      closed: Promise.resolve({ byClient: false }),
    });
    const event = (type: string, data: Record<string, unknown>) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      event('message_start', {
        message: {
          id: 'msg_fake',
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 12, output_tokens: 1 },
        },
      }),
    );
    res.write(event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    for (const word of FAKE_REPLY_WORDS) {
      res.write(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } }));
    }
    res.write(event('content_block_stop', { index: 0 }));
    res.write(
      event('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: FAKE_REPLY_WORDS.length },
      }),
    );
    res.end(event('message_stop', {}));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'POST' && req.url?.endsWith('/messages')) return handleAnthropic(req, res);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    const body = JSON.parse(await readBody(req)) as FakeLlmRequest['body'];
    const lastUserText = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    let finished = false;
    const record: FakeLlmRequest = {
      body,
      lastUserText: typeof lastUserText === 'string' ? lastUserText : JSON.stringify(lastUserText),
      chunksSent: 0,
      closed: new Promise((resolve) => res.once('close', () => resolve({ byClient: !finished }))),
    };
    requests.push(record);
    const text = record.lastUserText;

    const firstTime = !seen.has(text);
    seen.add(text);
    const failOnce = directive(text, 'fail-once') !== undefined && firstTime;
    if (directive(text, 'fail-500') !== undefined || failOnce) {
      finished = true;
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { message: 'The fake model is broken', type: 'server_error' } }));
      return;
    }
    const count = directive(text, 'words');
    const words = count
      ? Array.from({ length: count }, (_, i) => `${i ? ' ' : ''}w${i + 1}`)
      : FAKE_REPLY_WORDS;
    const every = directive(text, 'every') ?? 5;
    const dropAfter = directive(text, 'drop-after');
    const stallAfter =
      directive(text, 'stall-once') !== undefined && firstTime ? 0 : directive(text, 'stall-after');

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const [i, word] of words.entries()) {
      if (res.destroyed) return;
      if (i === dropAfter) {
        res.socket?.destroy();
        return;
      }
      if (i === stallAfter) return; // the client's timeout (or the test's end) closes it
      res.write(chunk(i === 0 ? { role: 'assistant', content: word } : { content: word }));
      record.chunksSent++;
      await sleep(every);
    }
    if (res.destroyed) return;
    res.write(chunk({}, 'stop'));
    if (body.stream_options?.include_usage) {
      const promptTokens = body.messages.reduce((sum, m) => sum + Math.ceil(String(m.content).length / 4), 0);
      res.write(
        `data: ${JSON.stringify({
          id: 'chatcmpl-fake',
          object: 'chat.completion.chunk',
          created: 1_700_000_000,
          model: FAKE_MODEL,
          choices: [],
          usage: {
            prompt_tokens: promptTokens,
            completion_tokens: words.length,
            total_tokens: promptTokens + words.length,
          },
        })}\n\n`,
      );
    }
    finished = true;
    res.end('data: [DONE]\n\n');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    find: (marker) => requests.filter((r) => r.lastUserText.includes(marker)),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
