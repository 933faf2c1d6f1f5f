import {
  parseJsonEventStream,
  readUIMessageStream,
  uiMessageChunkSchema,
  type UIMessage,
  type UIMessageChunk,
} from 'ai';

export interface ReadStream {
  /** Every part, in order, as the AI SDK's parser validated it. */
  chunks: UIMessageChunk[];
  /** The assistant message as `useChat` would hold it at the end. */
  message: UIMessage | undefined;
  /** The text of the message's text parts. */
  text: string;
  /** `errorText`s of error parts, as readUIMessageStream reported them. */
  errors: string[];
}

/** Splits a stream so the chunks can be both recorded and fed to readUIMessageStream. */
function record(
  stream: ReadableStream<UIMessageChunk>,
  into: UIMessageChunk[],
): ReadableStream<UIMessageChunk> {
  return stream.pipeThrough(
    new TransformStream<UIMessageChunk, UIMessageChunk>({
      transform(chunk, controller) {
        into.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * Reads a UI message stream body with the `ai` package's own client-side parser (`parseJsonEventStream` +
 * `readUIMessageStream`), failing on any part the protocol's schema rejects.
 */
export async function readChatStream(body: ReadableStream<Uint8Array>): Promise<ReadStream> {
  const chunks: UIMessageChunk[] = [];
  const errors: string[] = [];
  const parsed = parseJsonEventStream({ stream: body, schema: uiMessageChunkSchema }).pipeThrough(
    new TransformStream({
      transform(result, controller) {
        if (!result.success)
          throw new Error(`invalid stream part ${String(result.rawValue)}: ${result.error.message}`);
        controller.enqueue(result.value as UIMessageChunk);
      },
    }),
  );
  let message: UIMessage | undefined;
  for await (const snapshot of readUIMessageStream({
    stream: record(parsed, chunks),
    onError: (error) => errors.push((error as Error).message),
  })) {
    message = snapshot;
  }
  const text = (message?.parts ?? []).map((p) => (p.type === 'text' ? p.text : '')).join('');
  return { chunks, message, text, errors };
}

/** A string body (app.inject's payload) as a byte stream. */
export function streamOf(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
}
