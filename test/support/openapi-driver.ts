/**
 * Reads the running app's OpenAPI document and turns it into something tests can drive: the list of
 * operations (method, path, parameters, body schema, documented responses, public or not), a validator for
 * the OpenAPI 3.0 schema subset Nest's Swagger module emits, and the checks every response must pass.
 *
 * The fuzz test and the authorization matrix are built on it, so an operation added to the API is covered
 * the day it appears in the document, with no test edit.
 */
import type { INestApplication } from '@nestjs/common';
import { ERROR_STATUS } from '../../src/common/app-error.js';
import { buildOpenApiDocument } from '../../src/openapi.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The OpenAPI 3.0 schema keywords Parley's document uses (and a few more, so new DTOs keep working). */
export interface JsonSchema {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  format?: string;
  nullable?: boolean;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  allOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  default?: unknown;
  description?: string;
}

export interface ApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: JsonSchema;
}

export interface ApiResponseSpec {
  /** Content type -> schema (undefined when the document gives none for that type). */
  content: Record<string, JsonSchema | undefined>;
}

export interface ApiOperation {
  operationId: string;
  method: HttpMethod;
  /** The OpenAPI path template, e.g. `/api/v1/sessions/{session_id}`. */
  path: string;
  parameters: ApiParameter[];
  body?: { required: boolean; contentTypes: string[]; schema?: JsonSchema };
  /** Documented responses by status code ("200", "404", ...). */
  responses: Record<string, ApiResponseSpec>;
  /** The operation accepts anonymous callers (`security` lists an empty requirement). */
  isPublic: boolean;
  /** Administrators only (`x-parley-admin`): everybody else is refused with 403. */
  adminOnly: boolean;
}

interface RawParameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonSchema;
  $ref?: string;
}
interface RawOperation {
  operationId?: string;
  parameters?: RawParameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
  security?: Record<string, string[]>[];
  'x-parley-admin'?: boolean;
}
export interface RawDocument {
  openapi: string;
  paths: Record<string, Record<string, RawOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const METHODS: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
export const ERROR_CODES = Object.keys(ERROR_STATUS);

/** The app's OpenAPI document, as the app under test builds it (not the committed openapi.json). */
export async function loadApiDocument(app: INestApplication): Promise<ApiDocument> {
  return new ApiDocument((await buildOpenApiDocument(app)) as unknown as RawDocument);
}

export class ApiDocument {
  readonly operations: ApiOperation[];

  constructor(readonly raw: RawDocument) {
    this.operations = [];
    for (const [path, item] of Object.entries(raw.paths)) {
      for (const method of METHODS) {
        const op = item[method.toLowerCase()];
        if (!op) continue;
        if (!op.operationId) throw new Error(`${method} ${path} has no operationId`);
        const body = op.requestBody?.content;
        this.operations.push({
          operationId: op.operationId,
          method,
          path,
          parameters: (op.parameters ?? [])
            .filter((p) => p.in === 'path' || p.in === 'query' || p.in === 'header')
            .map((p) => ({
              name: p.name,
              in: p.in as ApiParameter['in'],
              required: p.in === 'path' || Boolean(p.required),
              schema: p.schema ?? { type: 'string' },
            })),
          body: body
            ? {
                required: Boolean(op.requestBody?.required),
                contentTypes: Object.keys(body),
                schema: body['application/json']?.schema,
              }
            : undefined,
          responses: Object.fromEntries(
            Object.entries(op.responses ?? {}).map(([status, response]) => [
              status,
              {
                content: Object.fromEntries(
                  Object.entries(response.content ?? {}).map(([type, media]) => [type, media.schema]),
                ),
              },
            ]),
          ),
          isPublic: (op.security ?? []).some((requirement) => Object.keys(requirement).length === 0),
          adminOnly: op['x-parley-admin'] === true,
        });
      }
    }
  }

  operation(operationId: string): ApiOperation | undefined {
    return this.operations.find((op) => op.operationId === operationId);
  }

  /** Follows `$ref`s (components/schemas only) to the schema they name. */
  resolve(schema: JsonSchema): JsonSchema {
    let current = schema;
    for (let depth = 0; current.$ref; depth++) {
      if (depth > 20) throw new Error(`$ref cycle at ${schema.$ref}`);
      const match = /^#\/components\/schemas\/(.+)$/.exec(current.$ref);
      const target = match ? this.raw.components?.schemas?.[decodeURIComponent(match[1])] : undefined;
      if (!target) throw new Error(`unresolvable $ref ${current.$ref}`);
      current = target;
    }
    return current;
  }

  /**
   * Validates a JSON value against a schema; returns the problems (empty when it conforms). With `strict`,
   * properties the schema does not declare are problems too: a response must not carry undocumented fields.
   */
  validate(schema: JsonSchema, value: unknown, options: { strict?: boolean } = {}, at = '$'): string[] {
    const s = this.resolve(schema);
    if (value === null) return s.nullable || s.type === undefined ? [] : [`${at}: null but not nullable`];
    const problems: string[] = [];
    for (const sub of s.allOf ?? []) problems.push(...this.validate(sub, value, { strict: false }, at));
    if (s.oneOf && s.oneOf.filter((sub) => this.validate(sub, value, options, at).length === 0).length !== 1)
      problems.push(`${at}: matches ${s.oneOf.length === 0 ? 'no' : 'not exactly one'} oneOf alternative`);
    if (s.anyOf && !s.anyOf.some((sub) => this.validate(sub, value, options, at).length === 0))
      problems.push(`${at}: matches no anyOf alternative`);
    if (s.enum && !s.enum.some((candidate) => candidate === value))
      problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
    switch (s.type) {
      case undefined:
        break;
      case 'string':
        if (typeof value !== 'string') return [...problems, `${at}: expected a string, got ${typeOf(value)}`];
        problems.push(...this.checkString(s, value, at));
        break;
      case 'number':
      case 'integer':
        if (typeof value !== 'number' || !Number.isFinite(value))
          return [...problems, `${at}: expected a ${s.type}, got ${typeOf(value)}`];
        if (s.type === 'integer' && !Number.isInteger(value))
          problems.push(`${at}: ${value} is not an integer`);
        if (s.minimum !== undefined && value < s.minimum)
          problems.push(`${at}: ${value} < minimum ${s.minimum}`);
        if (s.maximum !== undefined && value > s.maximum)
          problems.push(`${at}: ${value} > maximum ${s.maximum}`);
        break;
      case 'boolean':
        if (typeof value !== 'boolean') problems.push(`${at}: expected a boolean, got ${typeOf(value)}`);
        break;
      case 'array':
        if (!Array.isArray(value)) return [...problems, `${at}: expected an array, got ${typeOf(value)}`];
        if (s.minItems !== undefined && value.length < s.minItems)
          problems.push(`${at}: fewer than ${s.minItems} items`);
        if (s.maxItems !== undefined && value.length > s.maxItems)
          problems.push(`${at}: more than ${s.maxItems} items`);
        if (s.items)
          value.forEach((item, i) => problems.push(...this.validate(s.items!, item, options, `${at}[${i}]`)));
        break;
      case 'object': {
        if (typeof value !== 'object' || Array.isArray(value))
          return [...problems, `${at}: expected an object, got ${typeOf(value)}`];
        const record = value as Record<string, unknown>;
        const properties = this.declaredProperties(s);
        for (const name of s.required ?? [])
          if (!(name in record)) problems.push(`${at}.${name}: required but missing`);
        for (const [name, field] of Object.entries(record)) {
          const declared = properties[name];
          if (declared) {
            if (field === undefined) continue;
            problems.push(...this.validate(declared, field, options, `${at}.${name}`));
          } else if (typeof s.additionalProperties === 'object') {
            problems.push(...this.validate(s.additionalProperties, field, options, `${at}.${name}`));
          } else if (
            s.additionalProperties === false ||
            (options.strict && s.additionalProperties !== true)
          ) {
            problems.push(`${at}.${name}: not in the schema`);
          }
        }
        break;
      }
    }
    return problems;
  }

  /** An object schema's properties, including those its allOf parts declare (Nest's way of nesting a $ref). */
  private declaredProperties(s: JsonSchema, depth = 0): Record<string, JsonSchema> {
    const own = { ...(s.properties ?? {}) };
    if (depth < 10)
      for (const part of s.allOf ?? [])
        Object.assign(own, this.declaredProperties(this.resolve(part), depth + 1));
    return own;
  }

  private checkString(s: JsonSchema, value: string, at: string): string[] {
    const problems: string[] = [];
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength)
      problems.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) problems.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value))
      problems.push(`${at}: does not match ${s.pattern}`);
    const format = FORMATS[s.format ?? ''];
    if (format && !format(value))
      problems.push(`${at}: ${JSON.stringify(value.slice(0, 80))} is not a ${s.format}`);
    return problems;
  }
}

const FORMATS: Record<string, (value: string) => boolean> = {
  uuid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  'date-time': (v) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) &&
    !Number.isNaN(Date.parse(v)),
  date: (v) => /^\d{4}-\d{2}-\d{2}$/.test(v),
  email: (v) => /^[^\s@]+@[^\s@]+$/.test(v),
  uri: (v) => /^[a-z][a-z0-9+.-]*:\S+$/i.test(v),
};

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** The names of an operation's path parameters, in template order. */
export function pathParameterNames(op: ApiOperation): string[] {
  return [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** encodeURIComponent for any string: a lone surrogate (which cannot be UTF-8 encoded) becomes U+FFFD. */
export function encodeComponent(value: string): string {
  return encodeURIComponent(value.replace(LONE_SURROGATE, '\ufffd'));
}

/** A concrete URL: path parameters substituted (percent-encoded) and a query string appended. */
export function buildUrl(
  op: ApiOperation,
  pathValues: Record<string, string>,
  query: Array<[string, string]> | string = [],
): string {
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = pathValues[name];
    if (value === undefined) throw new Error(`${op.operationId}: no value for path parameter ${name}`);
    return encodeComponent(value);
  });
  const search =
    typeof query === 'string'
      ? query
      : query.map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(v)}`).join('&');
  return search ? `${path}?${search}` : path;
}

/**
 * One valid value for a schema, deterministic: the first enum value, a string of the allowed length, the
 * minimum number, every declared property of an object (so a PATCH body changes something).
 */
export function exampleValue(doc: ApiDocument, schema: JsonSchema, depth = 0): unknown {
  const s = doc.resolve(schema);
  if (s.enum && s.enum.length > 0) return s.enum[0];
  if (s.allOf && s.allOf.length > 0) return exampleValue(doc, s.allOf[0], depth + 1);
  const alternatives = s.oneOf ?? s.anyOf;
  if (alternatives && alternatives.length > 0) return exampleValue(doc, alternatives[0], depth + 1);
  switch (s.type) {
    case 'string': {
      if (s.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
      if (s.format === 'email') return `probe-${Math.random().toString(36).slice(2)}@example.test`;
      if (s.format === 'uri') return 'https://example.test/probe';
      if (s.format === 'date-time') return new Date().toISOString();
      const text = 'authz probe';
      const min = s.minLength ?? 0;
      const max = s.maxLength ?? text.length;
      return text.length < min ? text.padEnd(min, 'x') : text.slice(0, Math.max(max, min));
    }
    case 'integer':
    case 'number':
      return s.minimum ?? (s.maximum !== undefined ? Math.min(s.maximum, 1) : 1);
    case 'boolean':
      return true;
    case 'array':
      return depth > 3 || !s.items
        ? []
        : Array.from({ length: s.minItems ?? 0 }, () => exampleValue(doc, s.items!, depth + 1));
    case 'object':
      return depth > 3
        ? {}
        : Object.fromEntries(
            Object.entries(s.properties ?? {}).map(([name, field]) => [
              name,
              exampleValue(doc, field, depth + 1),
            ]),
          );
    default:
      return 'probe';
  }
}

/** What kind of Parley resource an id-bearing parameter or field names, by its name. */
export type ResourceKind = 'user' | 'project' | 'session' | 'message' | 'api_key' | 'import';

export function resourceKindOf(name: string): ResourceKind | undefined {
  if (/(^|_)session_id$/.test(name)) return 'session';
  if (/(^|_)project_id$/.test(name)) return 'project';
  if (/(^|_)user_id$/.test(name)) return 'user';
  if (/(^|_)message_id$/.test(name) || name === 'before' || name === 'after') return 'message';
  if (/(^|_)key_id$/.test(name)) return 'api_key';
  if (/(^|_)import_id$/.test(name)) return 'import';
  return undefined;
}

export interface ObservedResponse {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/**
 * Strings that reveal internals: stack frames, source and install paths, SQL text, PostgreSQL and Prisma
 * error wording. None may appear in a response except where the request itself put it there.
 */
export const LEAK_PATTERNS: Array<[string, RegExp]> = [
  ['stack frame', /\n\s+at |\bat [\w$.<>]+ \(|\.(?:ts|js|mjs|cjs):\d+:\d+/],
  [
    'internal path',
    /\/work\/|node_modules|\/src\/[\w/.-]+\.(?:ts|js)|\/dist\/|\/usr\/lib\/|\/home\/|\/tmp\//,
  ],
  ['SQL text', /\b(?:SELECT\b[\s\S]{0,200}\bFROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|RETURNING)\b/],
  [
    'database error text',
    /syntax error at or near|violates \w[\w -]* constraint|relation "|column "|invalid input syntax|duplicate key value|null value in column|invalid byte sequence|SQLSTATE|current transaction is aborted|prepared statement|set_config|app\.user_id|parley_app|row-level security|row level security/i,
  ],
  [
    'ORM or driver text',
    /Prisma|driverAdapterError|Invalid `[^`]*` invocation|PGlite|\bpg-protocol\b|ECONNREFUSED|ECONNRESET/i,
  ],
];

/** Every string in a JSON value (keys included), for leak scanning. */
function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => stringsOf(v, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      stringsOf(v, out);
    }
  return out;
}

/** Removes the request's own strings from a response text, so echoed input is not mistaken for a leak. */
function withoutEcho(text: string, echoes: string[]): string {
  let result = text;
  for (const echo of [...echoes].sort((a, b) => b.length - a.length))
    if (echo.length >= 3) result = result.split(echo).join('');
  return result;
}

export function findLeaks(texts: string[], echoes: string[]): string[] {
  const found: string[] = [];
  for (const text of texts) {
    const scrubbed = withoutEcho(text, echoes);
    for (const [name, pattern] of LEAK_PATTERNS) {
      const match = pattern.exec(scrubbed);
      if (match)
        found.push(
          `${name} in response: ${JSON.stringify(scrubbed.slice(Math.max(0, match.index - 40), match.index + 80))}`,
        );
    }
  }
  return found;
}

function header(response: ObservedResponse, name: string): string {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(', ') : value === undefined ? '' : String(value);
}

/** Statuses any route may answer whatever it documents (transport level, before the handler). */
export const TRANSPORT_STATUSES = new Set(['415']);

/**
 * Everything a response must satisfy whatever the input: no 5xx, no internals, errors in the one error shape
 * (with the request id of the X-Request-ID header), documented status codes, 2xx JSON bodies that validate
 * strictly against their documented schema, SSE streams that are well formed and carry no error part.
 * `echoes` are the strings the request carried (they may legitimately come back).
 */
export function checkResponse(
  doc: ApiDocument,
  op: ApiOperation,
  response: ObservedResponse,
  echoes: string[] = [],
  options: { allowedStatuses?: number[] } = {},
): string[] {
  const problems: string[] = [];
  const status = response.statusCode;
  const contentType = header(response, 'content-type');
  const allowed = options.allowedStatuses ?? [];
  if (status >= 500 && !allowed.includes(status))
    problems.push(`server error ${status}: ${response.body.slice(0, 300)}`);

  let json: unknown;
  let parsed = false;
  if (/application\/json/.test(contentType)) {
    try {
      json = JSON.parse(response.body);
      parsed = true;
    } catch {
      problems.push(
        `content-type is JSON but the body is not: ${JSON.stringify(response.body.slice(0, 120))}`,
      );
    }
  }
  const texts = parsed ? stringsOf(json) : [response.body];
  if (!(status >= 200 && status < 300)) problems.push(...findLeaks(texts, echoes));

  const documented = op.responses[String(status)];
  if (!documented && !TRANSPORT_STATUSES.has(String(status)) && !allowed.includes(status))
    problems.push(`status ${status} is not documented for ${op.operationId}`);

  if (status >= 400) {
    if (!parsed) {
      problems.push(`error ${status} is not JSON (content-type ${contentType || 'none'})`);
    } else {
      const body = json as Record<string, unknown>;
      const errorSchema = doc.raw.components?.schemas?.ErrorResponseDto;
      if (errorSchema) problems.push(...doc.validate(errorSchema, body, { strict: true }, 'error'));
      if (body?.statusCode !== status)
        problems.push(`error body statusCode ${String(body?.statusCode)} != ${status}`);
      if (typeof body?.error !== 'string' || !ERROR_CODES.includes(body.error))
        problems.push(`error code ${JSON.stringify(body?.error)} is not one of the documented codes`);
      if (typeof body?.message !== 'string' || body.message.length === 0)
        problems.push('error without a message');
      const requestId = header(response, 'x-request-id');
      if (typeof body?.request_id !== 'string' || body.request_id !== requestId)
        problems.push(
          `error request_id ${JSON.stringify(body?.request_id)} != X-Request-ID ${JSON.stringify(requestId)}`,
        );
    }
  } else if (status >= 200 && status < 300 && documented) {
    const types = Object.keys(documented.content);
    const mediaType = contentType.split(';')[0].trim().toLowerCase();
    if (types.length === 0) {
      if (response.body.length > 0) problems.push(`${status} documents no body but one came back`);
    } else if (!types.includes(mediaType)) {
      problems.push(
        `${status} came back as ${contentType || 'no content type'}, documented: ${types.join(', ')}`,
      );
    } else if (mediaType === 'text/event-stream') {
      problems.push(...checkEventStream(response.body, echoes));
    } else if (parsed) {
      const schema = documented.content[mediaType];
      if (schema) problems.push(...doc.validate(schema, json, { strict: true }, 'body'));
    }
  }
  return problems;
}

/** An SSE body: `data: <json>` events ending with `data: [DONE]`, no `error` part, no leaks in any part. */
export function checkEventStream(body: string, echoes: string[] = []): string[] {
  const problems: string[] = [];
  const events = body
    .split(/\n\n/)
    .map((block) =>
      block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n'),
    )
    .filter((data) => data.length > 0);
  if (events.at(-1) !== '[DONE]') problems.push('event stream does not end with data: [DONE]');
  for (const data of events.slice(0, -1)) {
    let part: { type?: string; errorText?: string };
    try {
      part = JSON.parse(data) as { type?: string; errorText?: string };
    } catch {
      problems.push(`event is not JSON: ${JSON.stringify(data.slice(0, 120))}`);
      continue;
    }
    if (part.type === 'error') {
      problems.push(`event stream carries an error part: ${JSON.stringify(part).slice(0, 300)}`);
      problems.push(...findLeaks(stringsOf(part), echoes).map((p) => `stream ${p}`));
    }
  }
  return problems;
}
