/**
 * Reading an uploaded export as a stream of conversations, in constant memory: the JSON is parsed as it is
 * read (stream-json), a zip is read entry by entry (yauzl), and only one conversation is assembled at a time.
 *
 * Two passes over the same file. `check` reads everything without assembling anything (strings are seen in
 * chunks) to prove the file is whole before a row is written: valid JSON of the expected shape, every split
 * file its index names present, and no conversation larger than `maxConversationBytes` (so the second pass,
 * which assembles each conversation, stays bounded). `conversations` then yields them one at a time, pulled
 * by its consumer (backpressure: nothing is read ahead while a conversation is being written).
 */
import { open as openFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { parserStream } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import yauzl from 'yauzl';

/** What an upload holds: ChatGPT's conversations (a JSON array, or a zip of them) or Parley's json export. */
export type UploadKind = { file: 'json'; source: 'chatgpt' | 'parley' } | { file: 'zip'; source: 'chatgpt' };

/** A problem with the file itself: the import fails with this reason and writes nothing. */
export class ImportFileError extends Error {}

/** Where the conversations are: a JSON array at the top (ChatGPT), or the `sessions` array of an object (Parley). */
type Shape = 'array' | 'parley';

interface Part {
  name: string;
  open(): Promise<Readable>;
}

/** The kind of upload from its first bytes, or undefined when it is none of them. */
export async function sniffUpload(path: string): Promise<UploadKind | undefined> {
  const handle = await openFile(path, 'r');
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const head = buffer.subarray(0, bytesRead);
    if (head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])))
      return { file: 'zip', source: 'chatgpt' };
    // The first character that is not whitespace (or a byte-order mark).
    const first = head.toString('utf8').replace(/^[\uFEFF\s]+/, '')[0];
    if (first === '[') return { file: 'json', source: 'chatgpt' };
    if (first === '{') return { file: 'json', source: 'parley' };
    return undefined;
  } finally {
    await handle.close();
  }
}

const SHARD = /^conversations-(\d+)\.json$/;
const INDEX_NAMES = new Set(['conversations.json.index', 'export_manifest.json']);
const MAX_INDEX_BYTES = 4 * 1024 * 1024;
const MAX_ZIP_ENTRIES = 200_000;

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false }, (error, zip) =>
      error || !zip
        ? reject(new ImportFileError(`the zip cannot be read: ${error?.message ?? 'unknown'}`))
        : resolve(zip),
    ),
  );
}

function zipEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entries.length >= MAX_ZIP_ENTRIES) {
        reject(new ImportFileError(`the zip holds more than ${MAX_ZIP_ENTRIES} files`));
        return;
      }
      entries.push(entry);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', (error: Error) =>
      reject(new ImportFileError(`the zip cannot be read: ${error.message}`)),
    );
    zip.readEntry();
  });
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (error, stream) =>
      error || !stream
        ? reject(
            new ImportFileError(
              `${entry.fileName} cannot be read from the zip: ${error?.message ?? 'unknown'}`,
            ),
          )
        : resolve(stream),
    ),
  );
}

async function readSmall(stream: Readable, limit: number, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ImportFileError(`${name} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * An opened upload: its conversation files in order. A zip holds `conversations.json` or the newer split
 * files `conversations-000.json`, `conversations-001.json`, ... with an index (`conversations.json.index` or
 * `export_manifest.json`): the files are read in the order the index names them (then any it does not name,
 * by number), and a file the index names that the zip lacks fails the import. Without split files,
 * `conversations.json`. Other entries (images, user.json, chat.html) are ignored.
 */
export class UploadReader {
  private constructor(
    readonly kind: UploadKind,
    private readonly parts: Part[],
    private readonly close: () => void,
  ) {}

  static async open(path: string, kind: UploadKind, maxUncompressedBytes: number): Promise<UploadReader> {
    if (kind.file === 'json')
      return new UploadReader(
        kind,
        [{ name: basename(path), open: async () => createReadStream(path) }],
        () => undefined,
      );
    const zip = await openZip(path);
    try {
      const entries = (await zipEntries(zip)).filter((e) => !e.fileName.endsWith('/'));
      const byName = new Map(entries.map((e) => [basename(e.fileName), e]));
      const shards = entries
        .filter((e) => SHARD.test(basename(e.fileName)))
        .sort(
          (a, b) =>
            Number(SHARD.exec(basename(a.fileName))![1]) - Number(SHARD.exec(basename(b.fileName))![1]),
        );
      let chosen: yauzl.Entry[];
      if (shards.length > 0) {
        const index = entries.find((e) => INDEX_NAMES.has(basename(e.fileName)));
        const named: string[] = [];
        if (index) {
          const text = await readSmall(
            await openEntry(zip, index),
            MAX_INDEX_BYTES,
            basename(index.fileName),
          );
          for (const match of text.matchAll(/conversations-\d+\.json/g))
            if (!named.includes(match[0])) named.push(match[0]);
          const missing = named.filter((name) => !byName.has(name));
          if (missing.length > 0)
            throw new ImportFileError(
              `${basename(index.fileName)} names ${missing.join(', ')}, which the zip does not hold (an incomplete export)`,
            );
        }
        chosen = [
          ...named.map((name) => byName.get(name)!),
          ...shards.filter((e) => !named.includes(basename(e.fileName))),
        ];
      } else {
        const single = byName.get('conversations.json');
        if (!single)
          throw new ImportFileError(
            'the zip holds neither conversations.json nor split conversations-NNN.json files',
          );
        chosen = [single];
      }
      const total = chosen.reduce((sum, e) => sum + e.uncompressedSize, 0);
      if (total > maxUncompressedBytes)
        throw new ImportFileError(
          `the conversations unpack to ${total} bytes, more than ${maxUncompressedBytes}`,
        );
      const parts = chosen.map((entry) => ({
        name: basename(entry.fileName),
        open: () => openEntry(zip, entry),
      }));
      return new UploadReader(kind, parts, () => zip.close());
    } catch (error) {
      zip.close();
      throw error;
    }
  }

  get fileNames(): string[] {
    return this.parts.map((p) => p.name);
  }

  dispose(): void {
    this.close();
  }

  private get shape(): Shape {
    return this.kind.source === 'parley' ? 'parley' : 'array';
  }

  /** Reads every file through without assembling it; throws ImportFileError with the reason when it is not whole. */
  async check(maxConversationBytes: number): Promise<void> {
    for (const part of this.parts)
      await checkJson(await part.open(), part.name, this.shape, maxConversationBytes);
  }

  /** The conversations (ChatGPT) or sessions (Parley), one at a time, each with the file it came from. */
  async *conversations(): AsyncGenerator<{ file: string; value: unknown }> {
    for (const part of this.parts) {
      const source = await part.open();
      const stages: NodeJS.ReadWriteStream[] = [parserStream({ streamValues: false })];
      if (this.shape === 'parley') stages.push(pick.asStream({ filter: 'sessions' }));
      stages.push(streamArray.asStream());
      const items = pipeline(
        [source, ...stages] as unknown as [Readable, NodeJS.ReadWriteStream],
        () => undefined,
      ) as unknown as Readable;
      for await (const item of items as AsyncIterable<{ key: number; value: unknown }>)
        yield { file: part.name, value: item.value };
    }
  }
}

interface Token {
  name: string;
  value?: string;
}

/**
 * The first pass over one JSON file: tokens only, strings in chunks, nothing assembled. Fails on a syntax
 * error, on the wrong top-level shape (an array of conversations; for Parley an object whose `sessions` is an
 * array and whose `format`, if given, is "parley"), and on a conversation larger than the limit.
 */
async function checkJson(source: Readable, name: string, shape: Shape, maxItemBytes: number): Promise<void> {
  const tokens = pipeline(
    source,
    parserStream({ packValues: false, streamValues: true }),
    () => undefined,
  ) as unknown as Readable;
  // The depth at which conversations sit: 1 inside the top-level array, 2 inside Parley's "sessions".
  const itemDepth = shape === 'array' ? 1 : 2;
  let depth = 0;
  let inItems = false;
  let itemBytes = 0;
  let item = 0;
  let key = '';
  let inKey = false;
  let keyAtTop = '';
  let format = '';
  let sawSessions = false;
  let sawTop = false;
  const grow = (bytes: number) => {
    if (!inItems || depth < itemDepth) return;
    itemBytes += bytes;
    if (itemBytes > maxItemBytes)
      throw new ImportFileError(
        `${name}: conversation ${item} is larger than ${Math.round(maxItemBytes / (1024 * 1024))} MB`,
      );
  };
  try {
    for await (const token of tokens as AsyncIterable<Token>) {
      switch (token.name) {
        case 'startObject':
        case 'startArray': {
          const isArray = token.name === 'startArray';
          if (depth === 0) {
            sawTop = true;
            if (shape === 'array' && !isArray)
              throw new ImportFileError(`${name}: expected an array of conversations at the top`);
            if (shape === 'parley' && isArray)
              throw new ImportFileError(`${name}: expected a Parley export object`);
            if (shape === 'array') inItems = true;
          } else if (shape === 'parley' && depth === 1 && keyAtTop === 'sessions') {
            if (!isArray) throw new ImportFileError(`${name}: "sessions" is not an array`);
            sawSessions = true;
            inItems = true;
          }
          if (inItems && depth === itemDepth) {
            item++;
            itemBytes = 0;
          }
          depth++;
          grow(1);
          break;
        }
        case 'endObject':
        case 'endArray':
          depth--;
          if (shape === 'parley' && depth === 1 && inItems) inItems = false;
          break;
        case 'startKey':
          key = '';
          inKey = true;
          break;
        case 'endKey':
          inKey = false;
          if (depth === 1) keyAtTop = key;
          break;
        case 'stringChunk':
          if (inKey) {
            if (key.length < 64) key += token.value ?? '';
          } else if (shape === 'parley' && depth === 1 && keyAtTop === 'format' && format.length < 64)
            format += token.value ?? '';
          grow((token.value ?? '').length);
          break;
        case 'numberChunk':
          grow((token.value ?? '').length);
          break;
        case 'startString':
        case 'startNumber':
        case 'nullValue':
        case 'trueValue':
        case 'falseValue':
          if (inItems && depth === itemDepth) {
            item++;
            itemBytes = 0;
          }
          grow(4);
          break;
        default:
          break;
      }
    }
  } catch (error) {
    if (error instanceof ImportFileError) throw error;
    throw new ImportFileError(`${name} is not valid JSON: ${(error as Error).message}`);
  }
  if (!sawTop) throw new ImportFileError(`${name} is empty`);
  if (shape === 'parley') {
    if (format && format !== 'parley')
      throw new ImportFileError(`${name}: format is "${format}", not "parley"`);
    if (!sawSessions) throw new ImportFileError(`${name}: no "sessions" array (not a Parley export)`);
  }
}
