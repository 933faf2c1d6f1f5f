/**
 * fast-check arbitraries derived from the OpenAPI document: valid values for a schema, invalid ones (wrong
 * types, out-of-range numbers, strings too long or too short, malformed UUIDs, missing and extra fields),
 * hostile strings (SQL and JSON meta-characters, control characters, NUL, unicode edge cases), and whole
 * requests for an operation, made mostly by known users on their own resources so they get past
 * authentication and reach the database.
 */
import fc from 'fast-check';
import {
  buildUrl,
  encodeComponent,
  pathParameterNames,
  resourceKindOf,
  type ApiDocument,
  type ApiOperation,
  type ApiParameter,
  type JsonSchema,
  type ResourceKind,
} from './openapi-driver.js';

/** A user the fuzzer acts as, with the ids of resources it owns (or may use). */
export interface FuzzActor {
  user_id: string;
  headers: Record<string, string>;
  ids: Record<ResourceKind, string[]>;
}

export interface FuzzWorld {
  actors: FuzzActor[];
  /** Requests larger than this are expected to answer 413. */
  bodyLimitBytes: number;
}

export interface FuzzRequest {
  method: ApiOperation['method'];
  url: string;
  headers: Record<string, string>;
  payload?: string;
  /** What the generator did, for statistics ("valid body", "missing required field", ...). */
  labels: string[];
  /** Every string the request carried, so echoes in responses are not taken for leaks. */
  echoes: string[];
}

/** Strings that break naive code: SQL and JSON meta-characters, control characters, unicode edge cases. */
export const HOSTILE_STRINGS: string[] = [
  "'",
  "''",
  '"',
  '\\',
  '`',
  "'; DROP TABLE users; --",
  "' OR '1'='1",
  '1); SELECT pg_sleep(10); --',
  '$1',
  '$$; SELECT 1; $$',
  '%',
  '_%_',
  '\\x00',
  '\u0000',
  'a\u0000b',
  '\u0001\u0002\u0003\u0007\u0008\u001b[31m',
  '\r\n\r\n',
  '\t',
  '\u007f',
  '{"a":1}',
  '[]',
  '{}',
  'null',
  'true',
  '</script><script>alert(1)</script>',
  '${7*7}',
  '{{7*7}}',
  '../../../../etc/passwd',
  '%00',
  '%2e%2e%2f',
  '\u202eevil',
  '\ufeffbom',
  '\u{1F600}\u{1F469}\u200D\u{1F469}\u200D\u{1F467}',
  'e\u0301\u0301\u0301',
  '\ud800',
  '\udfff\ud800',
  '\u2028\u2029',
  '𝕏'.repeat(60),
  '中文字符',
  'ﷺ',
  ' leading',
  'trailing ',
  '   ',
  'NaN',
  '-0',
  '1e309',
  '__proto__',
  'constructor',
];

/** Field names a client should not be able to sneak in. */
const EXTRA_FIELDS = [
  'role',
  'user_id',
  'is_admin',
  'created_at',
  'message_count',
  '__proto__',
  'constructor',
  'prototype',
  '$where',
  'toString',
  "'; DROP TABLE x; --",
  '',
  'é',
  'a'.repeat(300),
];

const MALFORMED_UUIDS = [
  'not-a-uuid',
  '0',
  '-1',
  'null',
  'undefined',
  'true',
  '00000000-0000-0000-0000-00000000000',
  '00000000-0000-0000-0000-0000000000000',
  '00000000000000000000000000000000',
  '{00000000-0000-0000-0000-000000000000}',
  '00000000-0000-0000-0000-00000000000g',
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  "' OR '1'='1",
  "00000000-0000-0000-0000-000000000000' OR '1'='1",
  '00000000-0000-0000-0000-000000000000;',
  '00000000-0000-0000-0000-000000000000\u0000',
  '\u0000',
  ' 00000000-0000-0000-0000-000000000000',
  '00000000-0000-0000-0000-000000000000 ',
  '１２３４５６７８-1234-1234-1234-123456789012',
  'x'.repeat(5000),
  '%',
  '[]',
  '{}',
];

/** Path segments sent as they are (not percent-encoded): broken escapes, encoded NUL, overlong UTF-8. */
const RAW_PATH_JUNK = ['%', '%zz', '%E0%A4%A', '%00', '%C0%AF', '%FF%FE', 'a%2F..%2Fb', '%25', '%u0041'];

const BAD_USER_HEADERS = [
  'not-a-uuid',
  ' ',
  '0',
  "' OR '1'='1",
  '00000000-0000-0000-0000-00000000000',
  'x'.repeat(2000),
];
const BAD_AUTHORIZATIONS = [
  'Bearer',
  'Bearer ',
  'Bearer x',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.',
  'Basic dXNlcjpwYXNz',
  'bearer a.b.c',
  'Bearer ' + 'a'.repeat(5000),
];

const INVALID_QUERY_VALUES = [
  '',
  'abc',
  '-1',
  '0',
  '1.5',
  '1e309',
  '1e3',
  '0x10',
  ' 7',
  '7 ',
  'NaN',
  'Infinity',
  '-Infinity',
  '99999999999999999999999',
  '2147483648',
  '-2147483649',
  'yes',
  'TRUE',
  '2',
  "'; DROP TABLE sessions; --",
  '\u0000',
  '%',
  '%zz',
  '中',
];

/** Printable ASCII, the only characters HTTP header values may safely carry. */
const headerSafe = (value: string) => /^[\x20-\x7e]*$/.test(value);

function stringInRange(min: number, max: number | undefined): fc.Arbitrary<string> {
  const cap = Math.min(max ?? 400, 400);
  const lo = Math.min(min, cap);
  const fits = (s: string) => [...s].length >= min && (max === undefined || [...s].length <= max);
  const options: fc.Arbitrary<string>[] = [
    fc.string({ minLength: lo, maxLength: cap }),
    fc.string({ unit: 'grapheme', minLength: lo, maxLength: Math.min(cap, 60) }),
    fc.string({ unit: 'binary', minLength: lo, maxLength: Math.min(cap, 60) }),
    fc.constantFrom(...HOSTILE_STRINGS).filter(fits),
    fc.constant('x'.repeat(Math.max(min, 1))).filter(fits),
    fc.constant('y'.repeat(max ?? 20000)).filter(fits),
  ];
  return fc.oneof(...options).filter(fits);
}

interface ValueContext {
  /** The property or parameter name (it says what kind of resource an id names). */
  name: string;
  actor?: FuzzActor;
  world: FuzzWorld;
  /** Ids only from the actor's own resources. */
  ownOnly?: boolean;
}

/** Values that conform to a schema (ids drawn from the actor's own resources when the name says what they are). */
export function validValue(
  doc: ApiDocument,
  schema: JsonSchema,
  ctx: ValueContext,
  depth = 0,
): fc.Arbitrary<unknown> {
  const s = doc.resolve(schema);
  const value = validNonNull(doc, s, ctx, depth);
  return s.nullable
    ? fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: value })
    : value;
}

function validNonNull(
  doc: ApiDocument,
  s: JsonSchema,
  ctx: ValueContext,
  depth: number,
): fc.Arbitrary<unknown> {
  if (s.enum && s.enum.length > 0) return fc.constantFrom(...s.enum);
  if (s.allOf && s.allOf.length > 0) return validValue(doc, s.allOf[0], ctx, depth + 1);
  if (s.oneOf && s.oneOf.length > 0)
    return fc.oneof(...s.oneOf.map((sub) => validValue(doc, sub, ctx, depth + 1)));
  if (s.anyOf && s.anyOf.length > 0)
    return fc.oneof(...s.anyOf.map((sub) => validValue(doc, sub, ctx, depth + 1)));
  switch (s.type) {
    case 'string':
      if (s.format === 'uuid') return idValue(ctx.name, ctx.actor, ctx.world, false, ctx.ownOnly);
      if (s.format === 'email')
        return fc.oneof(
          fc.uuid().map((u) => `fuzz-${u}@example.test`),
          fc.emailAddress().filter((e) => e.length <= (s.maxLength ?? 254)),
        );
      if (s.format === 'uri')
        return fc.oneof(
          fc.constant('https://example.test/a.png'),
          fc.webUrl({ validSchemes: ['http', 'https'] }),
        );
      if (s.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      return stringInRange(s.minLength ?? 0, s.maxLength);
    case 'integer':
    case 'number': {
      const min = s.minimum ?? -1_000_000;
      const max = s.maximum ?? Math.max(min + 1_000_000, 1_000_000);
      return fc.oneof(
        fc.integer({ min: Math.ceil(min), max: Math.floor(Math.min(max, Number.MAX_SAFE_INTEGER)) }),
        fc.constantFrom(min, max),
      );
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return depth > 3
        ? fc.constant([])
        : fc.array(validValue(doc, s.items ?? {}, ctx, depth + 1), {
            minLength: s.minItems ?? 0,
            maxLength: Math.min(s.maxItems ?? 5, 5),
          });
    case 'object': {
      if (depth > 3) return fc.constant({});
      const properties = s.properties ?? {};
      const required = new Set(s.required ?? []);
      const model = Object.fromEntries(
        Object.entries(properties).map(([name, field]) => [
          name,
          validValue(doc, field, { ...ctx, name }, depth + 1),
        ]),
      );
      return fc.record(model, { requiredKeys: Object.keys(properties).filter((n) => required.has(n)) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/**
 * An id for a parameter or field: mostly the actor's own resources of that kind, sometimes others', random
 * or (with allowMalformed) malformed ones; with ownOnly, only the actor's own (when it has any).
 */
function idValue(
  name: string,
  actor: FuzzActor | undefined,
  world: FuzzWorld,
  allowMalformed: boolean,
  ownOnly = false,
) {
  const kind = resourceKindOf(name);
  const own = kind && actor ? actor.ids[kind] : [];
  if (ownOnly && own.length > 0) return fc.constantFrom(...own);
  const others = kind ? world.actors.filter((a) => a !== actor).flatMap((a) => a.ids[kind]) : [];
  const options: fc.WeightedArbitrary<string>[] = [{ weight: 1, arbitrary: fc.uuid() }];
  if (own.length > 0) {
    options.push({ weight: 8, arbitrary: fc.constantFrom(...own) });
    options.push({ weight: 1, arbitrary: fc.constantFrom(...own).map((id) => id.toUpperCase()) });
  }
  if (others.length > 0) options.push({ weight: 1, arbitrary: fc.constantFrom(...others) });
  if (allowMalformed)
    options.push({
      weight: 2,
      arbitrary: fc.oneof(
        fc.constantFrom(...MALFORMED_UUIDS),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      ),
    });
  return fc.oneof(...options);
}

/** Values that violate a schema: wrong types, out of range, too long or short, not in the enum, bad formats. */
export function invalidValue(doc: ApiDocument, schema: JsonSchema): fc.Arbitrary<unknown> {
  const s = doc.resolve(schema);
  const wrongTypes: unknown[] = [
    ...(s.type !== 'string' ? ['a string', ''] : []),
    ...(s.type !== 'number' && s.type !== 'integer' ? [42, -1, 1.5] : []),
    ...(s.type !== 'boolean' ? [true, false] : []),
    ...(s.type !== 'object' ? [{}, { nested: { deep: [1, 2, 3] } }] : []),
    ...(s.type !== 'array' ? [[], ['x'], [null]] : []),
    ...(s.nullable ? [] : [null]),
  ];
  const specific: unknown[] = [];
  if (s.type === 'string') {
    if (s.maxLength !== undefined)
      specific.push('z'.repeat(s.maxLength + 1), '\u{1F600}'.repeat(s.maxLength + 1));
    else specific.push('w'.repeat(70_000));
    if ((s.minLength ?? 0) > 0) specific.push('', '   ', '\t\n');
    if (s.format === 'uuid') specific.push(...MALFORMED_UUIDS);
    if (s.format === 'email') specific.push('not-an-email', '@', 'a@', 'a@b@c', 'a\u0000@example.test');
    if (s.format === 'uri') specific.push('javascript:alert(1)', 'ftp://x', 'not a url', 'http://');
    if (s.format === 'date-time') specific.push('yesterday', '2024-13-45T99:99:99Z', '0000-00-00');
    if (s.enum) specific.push('not-in-enum', String(s.enum[0]).toUpperCase() + '_');
  }
  if (s.type === 'number' || s.type === 'integer') {
    if (s.minimum !== undefined) specific.push(s.minimum - 1, s.minimum - 0.5);
    if (s.maximum !== undefined) specific.push(s.maximum + 1);
    specific.push(1e308, -1e308, 2 ** 53 + 1, -(2 ** 63), 0.1, '5', 'NaN');
  }
  if (s.enum) specific.push('__not_in_enum__', 12345);
  return fc.constantFrom(...wrongTypes, ...specific);
}

/** Serialises a query value the way a client would (booleans and numbers as text). */
function queryText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function queryArbitrary(
  doc: ApiDocument,
  params: ApiParameter[],
  actor: FuzzActor | undefined,
  world: FuzzWorld,
  validOnly: boolean,
): fc.Arbitrary<{ pairs: Array<[string, string]>; labels: string[] }> {
  const perParam = params.map((p) => {
    const valid = (
      p.schema.format === 'uuid'
        ? idValue(p.name, actor, world, false, validOnly)
        : validValue(doc, p.schema, { name: p.name, actor, world, ownOnly: validOnly })
    ).map((v) => ({ pairs: [[p.name, queryText(v)]] as Array<[string, string]>, label: '' }));
    const invalid = fc
      .oneof(
        fc.constantFrom(...INVALID_QUERY_VALUES),
        invalidValue(doc, p.schema).map(queryText),
        fc.string({ unit: 'binary', maxLength: 30 }),
      )
      .map((v) => ({ pairs: [[p.name, v]] as Array<[string, string]>, label: `invalid query ${p.name}` }));
    const repeated = valid.map((v) => ({
      pairs: [...v.pairs, ...v.pairs] as Array<[string, string]>,
      label: `repeated query ${p.name}`,
    }));
    const absent = fc.constant({
      pairs: [] as Array<[string, string]>,
      label: p.required ? `missing query ${p.name}` : '',
    });
    if (validOnly) return p.required ? valid : fc.oneof(valid, absent);
    // Mostly valid or absent, so that about half the requests get past validation with several parameters.
    return fc.oneof(
      { weight: 8, arbitrary: valid },
      { weight: p.required ? 1 : 8, arbitrary: absent },
      { weight: 2, arbitrary: invalid },
      { weight: 1, arbitrary: repeated },
    );
  });
  const extra = fc.oneof(
    { weight: 8, arbitrary: fc.constant({ pairs: [] as Array<[string, string]>, label: '' }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom('foo', 'user_id', '__proto__', 'limit[$gt]', 'constructor', 'offset[]'),
          fc.string({ maxLength: 10 }),
        )
        .map(([k, v]) => ({ pairs: [[k, v]] as Array<[string, string]>, label: 'unknown query parameter' })),
    },
  );
  return fc
    .tuple(fc.tuple(...perParam), validOnly ? fc.constant({ pairs: [], label: '' }) : extra)
    .map(([parts, more]) => ({
      pairs: [...parts.flatMap((p) => p.pairs), ...more.pairs],
      labels: [...parts.map((p) => p.label), more.label].filter(Boolean),
    }));
}

interface BodyChoice {
  payload?: string;
  contentType?: string;
  labels: string[];
}

/** Deeply nested JSON: parsers and validators that recurse must not fall over. */
const DEEP_JSON = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
const RAW_JUNK = [
  '',
  '{',
  '{"title":',
  '{"title": "unterminated}',
  "{'single': 'quotes'}",
  '{"a":1,"a":2}',
  'null',
  '[]',
  '"just a string"',
  '42',
  'true',
  '\ufeff{}',
  '{"__proto__": {"admin": true}}',
  '{"constructor": {"prototype": {"admin": true}}}',
  DEEP_JSON,
  `[${'['.repeat(3000)}${']'.repeat(3000)}]`,
  '{"x": 1e999999}',
  '{"x": -}',
  '\u0000',
];

function bodyArbitrary(
  doc: ApiDocument,
  op: ApiOperation,
  actor: FuzzActor | undefined,
  world: FuzzWorld,
  validOnly: boolean,
): fc.Arbitrary<BodyChoice> {
  const schema = op.body?.schema ?? { type: 'object' };
  const s = doc.resolve(schema);
  const valid = validValue(doc, schema, { name: 'body', actor, world, ownOnly: validOnly });
  if (validOnly)
    return valid.map((v) => ({
      payload: JSON.stringify(v),
      contentType: 'application/json',
      labels: ['valid body'],
    }));
  const json = (labels: string[]) => (value: unknown) => ({ payload: JSON.stringify(value), labels });
  const properties = Object.entries(s.properties ?? {});
  const mutations: fc.Arbitrary<BodyChoice>[] = [
    fc
      .tuple(valid, fc.constantFrom(...EXTRA_FIELDS), fc.jsonValue({ maxDepth: 1 }))
      .map(([v, field, extra]) => ({
        payload: JSON.stringify({ ...(v as object), [field]: extra }),
        labels: ['extra field'],
      })),
    fc.constantFrom<unknown>([], 'text', 7, null, true, [{}]).map(json(['body not an object'])),
  ];
  if (properties.length > 0)
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...properties)).chain(([v, [name, field]]) =>
        invalidValue(doc, field).map((bad) => ({
          payload: JSON.stringify({ ...(v as object), [name]: bad }),
          labels: [`invalid field ${name}`],
        })),
      ),
    );
  const required = s.required ?? [];
  if (required.length > 0)
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...required)).map(([v, name]) => {
        const copy = { ...(v as Record<string, unknown>) };
        delete copy[name];
        return { payload: JSON.stringify(copy), labels: [`missing field ${name}`] };
      }),
    );
  const oversized = fc.constant<BodyChoice>({
    payload: JSON.stringify({ [properties[0]?.[0] ?? 'x']: 'o'.repeat(world.bodyLimitBytes + 10) }),
    labels: ['body over the limit'],
  });
  const body = fc.oneof(
    { weight: 10, arbitrary: valid.map(json(['valid body'])) },
    { weight: 8, arbitrary: fc.oneof(...mutations) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...RAW_JUNK).map((payload) => ({ payload, labels: ['malformed JSON'] })),
    },
    { weight: 1, arbitrary: oversized },
  );
  const contentType = fc.oneof(
    { weight: 20, arbitrary: fc.constant('application/json') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'APPLICATION/JSON',
      ),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const withBody = fc.tuple(body, contentType).map(([b, type]) => ({
    ...b,
    contentType: type,
    labels: type === 'application/json' ? b.labels : [...b.labels, `content-type ${type ?? 'none'}`],
  }));
  return op.body?.required
    ? withBody
    : fc.oneof(
        { weight: 9, arbitrary: withBody },
        { weight: 1, arbitrary: fc.constant<BodyChoice>({ labels: ['no body'] }) },
      );
}

function identityArbitrary(world: FuzzWorld) {
  type Identity = { actor?: FuzzActor; headers: Record<string, string>; label: string };
  return fc.oneof(
    {
      weight: 16,
      arbitrary: fc
        .constantFrom(...world.actors)
        .map<Identity>((actor) => ({ actor, headers: actor.headers, label: '' })),
    },
    { weight: 1, arbitrary: fc.constant<Identity>({ headers: {}, label: 'anonymous' }) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.constantFrom(...BAD_USER_HEADERS), fc.string({ maxLength: 40 }).filter(headerSafe))
        .map<Identity>((value) => ({ headers: { 'x-user-id': value }, label: 'malformed X-User-ID' })),
    },
    {
      weight: 1,
      arbitrary: fc.uuid().map<Identity>((id) => ({ headers: { 'x-user-id': id }, label: 'unknown user' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...BAD_AUTHORIZATIONS)
        .map<Identity>((value) => ({ headers: { authorization: value }, label: 'bad Authorization' })),
    },
  );
}

/** Every string inside a JSON text (or the text itself when it is not JSON). */
function echoesOf(payload: string | undefined): string[] {
  if (payload === undefined) return [];
  const out: string[] = [payload];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v, JSON.stringify(v).slice(1, -1));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, inner] of Object.entries(v)) {
        out.push(k);
        walk(inner);
      }
  };
  try {
    walk(JSON.parse(payload));
  } catch {
    // not JSON: the raw text is the echo
  }
  return out;
}

/** Requests for one operation: identities, path ids, query strings, headers and bodies, valid and not. */
export function requestArbitrary(
  doc: ApiDocument,
  op: ApiOperation,
  world: FuzzWorld,
): fc.Arbitrary<FuzzRequest> {
  const pathNames = pathParameterNames(op);
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const headerParams = op.parameters.filter((p) => p.in === 'header');
  const accepts = [
    ...new Set(
      Object.entries(op.responses)
        .filter(([status]) => status.startsWith('2'))
        .flatMap(([, r]) => Object.keys(r.content)),
    ),
  ];
  // A third of the requests are valid throughout (a known user, their own ids, valid parameters and body),
  // so every operation's handler is reached often; the rest mix valid and invalid parts freely.
  const validIdentity = fc
    .constantFrom(...world.actors)
    .map((actor) => ({ actor, headers: actor.headers, label: '', validOnly: true }));
  const anyIdentity = identityArbitrary(world).map((identity) => ({ ...identity, validOnly: false }));
  return fc
    .oneof({ weight: 1, arbitrary: validIdentity }, { weight: 2, arbitrary: anyIdentity })
    .chain((identity) => {
      const validOnly = identity.validOnly;
      const pathArb = fc.record(
        Object.fromEntries(
          pathNames.map((name) => {
            const param = op.parameters.find((p) => p.in === 'path' && p.name === name);
            const arb =
              !param || param.schema.format === 'uuid' || resourceKindOf(name)
                ? idValue(name, identity.actor, world, !validOnly, validOnly)
                : validOnly
                  ? validValue(doc, param.schema, { name, actor: identity.actor, world }).map(String)
                  : fc.oneof(
                      validValue(doc, param.schema, { name, actor: identity.actor, world }).map(String),
                      fc.constantFrom(...HOSTILE_STRINGS),
                    );
            // An empty or dot segment would route elsewhere; the fuzzer targets this operation.
            return [name, arb.filter((v) => v !== '' && v !== '.' && v !== '..')];
          }),
        ),
      ) as fc.Arbitrary<Record<string, string>>;
      const headerArb = fc.tuple(
        ...headerParams.map((p) =>
          fc.option(
            validOnly
              ? validValue(doc, p.schema, { name: p.name, actor: identity.actor, world }).map(queryText)
              : fc.oneof(
                  validValue(doc, p.schema, { name: p.name, actor: identity.actor, world }).map(queryText),
                  invalidValue(doc, p.schema).map(queryText),
                ),
            { freq: 2 },
          ),
        ),
      );
      const acceptArb = validOnly
        ? fc.option(fc.constantFrom(...accepts, '*/*'), { freq: 3 })
        : fc.option(fc.constantFrom(...accepts, '*/*', 'text/html', 'application/xml'), { freq: 3 });
      const rawPathArb = validOnly
        ? fc.constant(null)
        : fc.oneof(
            { weight: 19, arbitrary: fc.constant(null) },
            { weight: 1, arbitrary: fc.constantFrom(...RAW_PATH_JUNK) },
          );
      return fc
        .record({
          path: pathArb,
          query: queryArbitrary(doc, queryParams, identity.actor, world, validOnly),
          body: op.body
            ? bodyArbitrary(doc, op, identity.actor, world, validOnly)
            : fc.constant<BodyChoice>({ labels: [] }),
          headerValues: headerArb,
          accept: acceptArb,
          rawPath: rawPathArb,
        })
        .map(({ path, query, body, headerValues, accept, rawPath }) => {
          const headers: Record<string, string> = { ...identity.headers };
          headerParams.forEach((p, i) => {
            const value = headerValues[i];
            if (value !== null && headerSafe(value)) headers[p.name.toLowerCase()] = value;
          });
          if (accept) headers.accept = accept;
          if (body.payload !== undefined && body.contentType) headers['content-type'] = body.contentType;
          const labels = [
            validOnly ? 'valid request' : identity.label,
            ...query.labels,
            ...body.labels,
          ].filter(Boolean);
          const pathLabels = pathNames
            .filter((n) => !/^[0-9a-f-]{36}$/i.test(path[n]))
            .map((n) => `malformed path ${n}`);
          let url = buildUrl(op, path, query.pairs);
          if (rawPath !== null && pathNames.length > 0) {
            // The first occurrence of the encoded value is in the path, before any query string.
            url = url.replace(encodeComponent(path[pathNames[0]]), rawPath);
            pathLabels.push(`raw path ${rawPath}`);
          }
          return {
            method: op.method,
            url,
            headers,
            payload: body.payload,
            labels: [...labels, ...pathLabels],
            echoes: [
              ...(rawPath !== null ? [rawPath] : []),
              ...Object.values(path).flatMap((v) => [v, encodeComponent(v)]),
              ...query.pairs.flat().flatMap((v) => [v, encodeComponent(v)]),
              ...Object.values(headers),
              ...echoesOf(body.payload),
            ],
          };
        });
    });
}
