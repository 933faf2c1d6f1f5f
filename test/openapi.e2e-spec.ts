import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { OpenAPIObject } from '@nestjs/swagger';
import { ERROR_CODES } from '../src/common/error-response.dto.js';
import { buildOpenApiDocument, serializeOpenApiDocument } from '../src/openapi.js';
import { addMessages, createUser, type TestUser } from './support/factories.js';
import { npmRegistryUnreachable } from './support/npm-registry.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const run = promisify(execFile);
/** Why the generated-client test cannot fetch openapi-typescript, or undefined (probed once, before declaring it). */
const registryUnreachable = await npmRegistryUnreachable('openapi-typescript@7');
const ROOT = new URL('..', import.meta.url).pathname;
const CONTRACT = join(ROOT, 'openapi.json');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = Record<string, Json> & {
  $ref?: string;
  type?: string;
  format?: string;
  nullable?: boolean;
  enum?: Json[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
};
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}
interface Located {
  path: string;
  method: string;
  op: Operation;
}

function operations(document: OpenAPIObject): Located[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => (item as Record<string, unknown>)[method]).map((method) => ({
      path,
      method,
      op: (item as Record<string, Operation>)[method],
    })),
  );
}

const refName = (ref: string) => ref.replace('#/components/schemas/', '');

/** Every schema object inside `schema` (itself included), with a JSON-pointer-like location. */
function walkSchemas(schema: Schema | undefined, at: string, visit: (s: Schema, at: string) => void): void {
  if (!schema || typeof schema !== 'object') return;
  visit(schema, at);
  for (const [key, child] of Object.entries(schema.properties ?? {}))
    walkSchemas(child, `${at}.${key}`, visit);
  if (schema.items) walkSchemas(schema.items, `${at}[]`, visit);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
    walkSchemas(schema.additionalProperties, `${at}{}`, visit);
  for (const key of ['allOf', 'oneOf', 'anyOf'] as const)
    (schema[key] ?? []).forEach((child, i) => walkSchemas(child, `${at}.${key}[${i}]`, visit));
}

/** Names the paths (and component schemas) whose JSON differs between two documents. */
function differences(actual: OpenAPIObject, expected: OpenAPIObject): string[] {
  const out: string[] = [];
  const compare = (kind: string, a: Record<string, unknown>, b: Record<string, unknown>) => {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(key in b)) out.push(`${kind} ${key}: only in the app (new)`);
      else if (!(key in a)) out.push(`${kind} ${key}: only in openapi.json (removed from the app)`);
      else if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) out.push(`${kind} ${key}: changed`);
    }
  };
  const sorted = (value: unknown) =>
    JSON.parse(serializeOpenApiDocument(value as OpenAPIObject)) as OpenAPIObject;
  const [a, b] = [sorted(actual), sorted(expected)];
  compare('path', a.paths, b.paths);
  compare('schema', a.components?.schemas ?? {}, b.components?.schemas ?? {});
  const { paths: _a, components: _ac, ...restA } = a;
  const { paths: _b, components: _bc, ...restB } = b;
  if (
    JSON.stringify(restA) !== JSON.stringify(restB) ||
    JSON.stringify(_ac?.securitySchemes) !== JSON.stringify(_bc?.securitySchemes)
  )
    out.push('document header (info, servers, tags or security schemes): changed');
  return out;
}

/**
 * Checks a JSON value against a schema of the document: required properties present, no undocumented
 * properties, null only where `nullable`, enums, types and the uuid/date-time formats.
 */
function validate(
  document: OpenAPIObject,
  schema: Schema,
  value: unknown,
  at: string,
  errors: string[],
): void {
  if (schema.$ref) {
    const target = document.components?.schemas?.[refName(schema.$ref)] as Schema | undefined;
    if (!target) errors.push(`${at}: unresolved ${schema.$ref}`);
    else validate(document, target, value, at, errors);
    return;
  }
  if (value === null) {
    if (!schema.nullable) errors.push(`${at}: null, but the schema does not say nullable`);
    return;
  }
  if (schema.allOf) {
    for (const part of schema.allOf) validate(document, part, value, at, errors);
    return;
  }
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (!schema[key]) continue;
    const passing = schema[key]!.filter((part) => {
      const sub: string[] = [];
      validate(document, part, value, at, sub);
      return sub.length === 0;
    });
    if (passing.length === 0) errors.push(`${at}: matches none of ${key}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value as Json))
    errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') errors.push(`${at}: expected a string, got ${JSON.stringify(value)}`);
      else if (
        schema.format === 'uuid' &&
        !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
      )
        errors.push(`${at}: not a uuid`);
      else if (schema.format === 'date-time' && Number.isNaN(Date.parse(value)))
        errors.push(`${at}: not a date-time`);
      break;
    case 'number':
    case 'integer':
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value)))
        errors.push(`${at}: expected ${schema.type}`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${at}: expected a boolean`);
      break;
    case 'array':
      if (!Array.isArray(value)) errors.push(`${at}: expected an array`);
      else value.forEach((item, i) => validate(document, schema.items ?? {}, item, `${at}[${i}]`, errors));
      break;
    case 'object':
    case undefined: {
      if (!schema.properties) break;
      if (typeof value !== 'object' || Array.isArray(value)) {
        errors.push(`${at}: expected an object`);
        break;
      }
      const record = value as Record<string, unknown>;
      for (const name of schema.required ?? [])
        if (!(name in record)) errors.push(`${at}.${name}: missing (required)`);
      for (const [name, child] of Object.entries(record)) {
        const property = schema.properties[name];
        if (property) validate(document, property, child, `${at}.${name}`, errors);
        else if (schema.additionalProperties !== true) errors.push(`${at}.${name}: not in the schema`);
      }
    }
  }
}

describe(`OpenAPI contract (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let document: OpenAPIObject;
  beforeAll(async () => {
    t = await createTestApp();
    document = await buildOpenApiDocument(t.app);
  });
  afterAll(() => t?.close());

  it('openapi.json is the running app’s document (run `npm run openapi` after changing routes or DTOs)', () => {
    expect(existsSync(CONTRACT)).toBe(true);
    const committed = readFileSync(CONTRACT, 'utf8');
    const current = serializeOpenApiDocument(document);
    if (committed !== current) {
      const diff = differences(document, JSON.parse(committed) as OpenAPIObject);
      throw new Error(
        `openapi.json differs from the app's document; run \`npm run openapi\`.\n  ${diff.join('\n  ') || 'formatting only'}`,
      );
    }
  });

  it('serves the same document at /docs-json and Swagger UI at /docs', async () => {
    const json = await t.app.inject({ method: 'GET', url: '/docs-json' });
    expect(json.statusCode).toBe(200);
    expect(serializeOpenApiDocument(json.json())).toBe(serializeOpenApiDocument(document));
    const ui = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });

  it('offers both ways to authorize: X-User-ID as an apiKey header and a bearer JWT', () => {
    expect(document.components?.securitySchemes).toEqual({
      'user-id': expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-User-ID' }),
      jwt: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
    });
  });

  const IDENTITY_BLIND = ['GET /health/live', 'GET /health/ready', 'GET /metrics'];

  it('every operation has a unique operationId, a summary, a tag and a security requirement of known schemes', () => {
    const problems: string[] = [];
    const seen = new Map<string, string>();
    const schemes = Object.keys(document.components?.securitySchemes ?? {});
    for (const { path, method, op } of operations(document)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!op.operationId || !/^[a-z][A-Za-z0-9]+$/.test(op.operationId))
        problems.push(`${where}: operationId ${op.operationId} missing or not camelCase`);
      else if (seen.has(op.operationId))
        problems.push(`${where}: operationId ${op.operationId} also used by ${seen.get(op.operationId)}`);
      else seen.set(op.operationId, where);
      if (!op.summary?.trim()) problems.push(`${where}: no summary (@ApiOperation({ summary }))`);
      if (!op.tags?.length) problems.push(`${where}: no tag (@ApiTags)`);
      // Probes and the metrics scrape ignore identity (@IgnoresIdentity): no security requirement at all.
      if (IDENTITY_BLIND.includes(where)) {
        if (op.security !== undefined) problems.push(`${where}: ignores identity, but documents security`);
        continue;
      }
      if (!op.security?.length)
        problems.push(`${where}: no security requirement (@ApiAuthenticated or @ApiPublic)`);
      for (const requirement of op.security ?? [])
        for (const name of Object.keys(requirement))
          if (!schemes.includes(name)) problems.push(`${where}: unknown security scheme ${name}`);
      const isPublic = (op.security ?? []).some((r) => Object.keys(r).length === 0);
      if (!isPublic) {
        const names = (op.security ?? []).map((r) => Object.keys(r).join('+')).sort();
        if (JSON.stringify(names) !== JSON.stringify(['jwt', 'user-id']))
          problems.push(
            `${where}: an authenticated route accepts X-User-ID or a JWT, documented ${names.join(', ')}`,
          );
      }
    }
    expect(problems).toEqual([]);
    expect(seen.size).toBeGreaterThan(0);
  });

  it('every operation documents its request: path parameters (uuid ids), typed query parameters, a named JSON body', () => {
    const problems: string[] = [];
    for (const { path, method, op } of operations(document)) {
      const where = `${method.toUpperCase()} ${path}`;
      const params = op.parameters ?? [];
      for (const name of [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])) {
        const param = params.find((p) => p.in === 'path' && p.name === name);
        if (!param) problems.push(`${where}: path parameter ${name} undocumented`);
        else if (!param.required || param.schema?.type !== 'string')
          problems.push(`${where}: path parameter ${name} must be a required string`);
        else if (name.endsWith('_id') && param.schema.format !== 'uuid')
          problems.push(`${where}: path parameter ${name} needs format uuid (use UuidParam)`);
      }
      for (const param of params.filter((p) => p.in === 'query'))
        if (!param.schema?.type && !param.schema?.$ref)
          problems.push(`${where}: query parameter ${param.name} has no schema type`);
      // A body, when the operation takes one (a regeneration's POST takes none), is a named schema.
      if (['post', 'put', 'patch'].includes(method) && (op.requestBody || method !== 'post')) {
        const schema = op.requestBody?.content?.['application/json']?.schema;
        if (!schema?.$ref) problems.push(`${where}: request body must be a named JSON schema ($ref)`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every operation documents a success response with a schema, and each error status it can return with the error shape', () => {
    const problems: string[] = [];
    for (const { path, method, op } of operations(document)) {
      const where = `${method.toUpperCase()} ${path}`;
      const responses = op.responses ?? {};
      const statuses = Object.keys(responses);
      const success = statuses.filter((s) => /^2\d\d$/.test(s));
      if (success.length === 0) problems.push(`${where}: no success response`);
      for (const status of success) {
        const content = responses[status].content;
        if (status === '204') {
          if (content) problems.push(`${where}: 204 must have no body`);
          continue;
        }
        if (!content || Object.keys(content).length === 0)
          problems.push(`${where}: ${status} has no content schema`);
        for (const [type, media] of Object.entries(content ?? {})) {
          const schema = media.schema;
          const named = schema?.$ref ?? schema?.items?.$ref;
          if (!schema) problems.push(`${where}: ${status} ${type} has no schema`);
          else if (type.includes('json') && !named)
            problems.push(`${where}: ${status} ${type} must be a named schema ($ref), not an inline one`);
        }
      }
      for (const status of statuses.filter((s) => /^[45]\d\d$/.test(s))) {
        const schema = responses[status].content?.['application/json']?.schema;
        if (!schema?.$ref) problems.push(`${where}: ${status} must have a JSON schema ($ref)`);
        else if (status.startsWith('4') && refName(schema.$ref) !== 'ErrorResponseDto')
          problems.push(`${where}: ${status} must use the shared ErrorResponseDto`);
        if (!responses[status].description) problems.push(`${where}: ${status} has no description`);
      }
      const isPublic =
        op.security === undefined || (op.security ?? []).some((r) => Object.keys(r).length === 0);
      const has = (status: string) => statuses.includes(status);
      if (!isPublic && !has('401')) problems.push(`${where}: authenticated, so it can answer 401`);
      const takesInput =
        (op.parameters ?? []).some((p) => p.in === 'path' || p.in === 'query') || !!op.requestBody;
      if (takesInput && !has('400')) problems.push(`${where}: takes input, so it can answer 400`);
      if ((op.parameters ?? []).some((p) => p.in === 'path') && !has('404'))
        problems.push(`${where}: has an id in its path, so it can answer 404`);
      if (op.requestBody && !has('413')) problems.push(`${where}: takes a body, so it can answer 413`);
    }
    expect(problems).toEqual([]);
  });

  it('schemas are named and reused: no inline object schemas, every $ref resolves, ids are uuids, enums are shared', () => {
    const problems: string[] = [];
    const schemas = (document.components?.schemas ?? {}) as Record<string, Schema>;
    const enums = new Map<string, string[]>();
    const check = (root: Schema | undefined, at: string, topLevelComponent: boolean) =>
      walkSchemas(root, at, (schema, where) => {
        if (schema.$ref && !schemas[refName(schema.$ref)])
          problems.push(`${where}: unresolved ${schema.$ref}`);
        if (schema.properties && !(topLevelComponent && schema === root))
          problems.push(`${where}: inline object schema; make it a named DTO class`);
        // A one-value enum is a constant ("ok"), not a type worth naming.
        if (schema.enum && schema.enum.length > 1 && !(topLevelComponent && schema === root)) {
          const key = JSON.stringify([...schema.enum].sort());
          enums.set(key, [...(enums.get(key) ?? []), where]);
        }
      });
    for (const [name, schema] of Object.entries(schemas)) check(schema, name, true);
    for (const { path, method, op } of operations(document)) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const param of op.parameters ?? []) check(param.schema, `${where} ${param.name}`, false);
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {}))
        check(media.schema, `${where} body ${type}`, false);
      for (const [status, response] of Object.entries(op.responses ?? {}))
        for (const [type, media] of Object.entries(response.content ?? {}))
          check(media.schema, `${where} ${status} ${type}`, false);
    }
    for (const [values, places] of enums)
      if (places.length > 1)
        problems.push(
          `enum ${values} is repeated inline at ${places.join(', ')}; give it an enumName so it is one schema`,
        );
    expect(problems).toEqual([]);
  });

  it('ids (`*_id` fields) are documented as format uuid, in requests and responses', () => {
    const problems: string[] = [];
    for (const [name, schema] of Object.entries(
      (document.components?.schemas ?? {}) as Record<string, Schema>,
    ))
      for (const [property, child] of Object.entries(schema.properties ?? {}))
        if (
          property.endsWith('_id') &&
          property !== 'request_id' &&
          // The id a conversation has in the file an import read (a ChatGPT id need not be a UUID).
          `${name}.${property}` !== 'ImportSkipDto.conversation_id' &&
          child.type === 'string' &&
          child.format !== 'uuid'
        )
          problems.push(`${name}.${property}: add @ApiProperty({ format: 'uuid' }) (or ApiPropertyOptional)`);
    expect(problems).toEqual([]);
  });

  it('the error code is an enum of every code the API uses, and nullable fields are marked', () => {
    const error = (document.components?.schemas?.ErrorResponseDto as Schema).properties!.error;
    expect([...(error.enum ?? [])].sort()).toEqual([...ERROR_CODES].sort());
    const project = (document.components?.schemas?.ProjectResponseDto as Schema).properties!;
    expect(project.title.nullable).toBe(true);
    expect(project.created_by.nullable).toBe(true);
    expect(project.project_id.nullable).toBeUndefined();
    const list = (document.components?.schemas?.ProjectListResponseDto as Schema).properties!;
    expect(list.next_cursor.nullable).toBe(true);
  });

  describe('live responses match the documented schemas', () => {
    let owner: TestUser;
    let guest: TestUser;
    const checked = new Set<string>();

    /** Calls an operation by its operationId; the status must be documented and the body must match it. */
    async function call(
      operationId: string,
      options: {
        as?: TestUser;
        params?: Record<string, string>;
        query?: Record<string, string>;
        body?: unknown;
      } = {},
    ): Promise<{ status: number; body: unknown }> {
      const found = operations(document).find((o) => o.op.operationId === operationId);
      if (!found) throw new Error(`no operation ${operationId}`);
      const url = found.path.replace(/\{([^}]+)\}/g, (_m, name: string) => options.params?.[name] ?? '');
      const response = await t.app.inject({
        method: found.method.toUpperCase() as 'GET',
        url,
        query: options.query,
        headers: options.as?.headers,
        ...(options.body !== undefined ? { payload: options.body as object } : {}),
      });
      const status = String(response.statusCode);
      const documented = found.op.responses?.[status];
      if (!documented)
        throw new Error(`${operationId} answered ${status}, which it does not document: ${response.body}`);
      checked.add(`${operationId} ${status}`);
      if (status === '204') {
        expect(response.body).toBe('');
        return { status: response.statusCode, body: undefined };
      }
      const body = response.json();
      const errors: string[] = [];
      validate(
        document,
        documented.content!['application/json'].schema!,
        body,
        `${operationId} ${status}`,
        errors,
      );
      expect(errors).toEqual([]);
      return { status: response.statusCode, body };
    }

    beforeAll(async () => {
      owner = await createUser(t.app, { display_name: 'Owner' });
      guest = await createUser(t.app, {}); // email only: display_name and avatar_url stay null
    });

    it('users', async () => {
      await call('createUser', { body: {} });
      await call('createUser', { body: { email: 'nope' } });
      await call('getMe', { as: owner });
      await call('getMe');
      await call('updateMe', { as: guest, body: { display_name: null } });
      await call('updateMe', { as: guest, body: { email: owner.email } });
    });

    it('projects and members', async () => {
      const { body } = await call('createProject', { as: owner, body: { title: 'Contract' } });
      const projectId = (body as { project_id: string }).project_id;
      const params = { project_id: projectId };
      await call('createProject', { as: owner, body: { title: '' } });
      await call('listProjects', { as: owner, query: { limit: '1' } });
      await call('listProjects', { as: guest });
      await call('getProject', { as: owner, params });
      await call('getProject', { as: guest, params });
      await call('getProject', { as: owner, params: { project_id: 'x' } });
      await call('updateProject', { as: owner, params, body: { title: null } });
      await call('addProjectMember', { as: owner, params, body: { user_id: guest.user_id } });
      await call('addProjectMember', { as: owner, params, body: { user_id: guest.user_id } });
      await call('addProjectMember', { as: owner, params, body: { user_id: randomUUID() } });
      await call('listProjectMembers', { as: guest, params });
      await call('removeProjectMember', { as: guest, params: { ...params, user_id: owner.user_id } });
      await call('deleteProject', { as: guest, params });
      await call('removeProjectMember', { as: guest, params: { ...params, user_id: guest.user_id } });
      await call('deleteProject', { as: owner, params });
      await call('deleteProject', { as: owner, params });
    });

    it('sessions and messages: every operation, its success and its documented errors', async () => {
      const status = async (operationId: string, options: Parameters<typeof call>[1]) =>
        (await call(operationId, options)).status;
      const { body } = await call('createSession', { as: owner, body: { title: 'Chapter one' } });
      const sessionId = (body as { session_id: string }).session_id;
      const params = { session_id: sessionId };
      const [first] = await addMessages(t.sql, sessionId, [
        { content: 'hello' },
        { role: 'assistant', content: 'hi', metadata: { model: 'x' } },
      ]);
      expect(await status('createSession', { as: owner, body: { title: '' } })).toBe(400);
      expect(await status('createSession', { as: owner, body: { project_id: randomUUID() } })).toBe(404);
      expect(await status('createSession', { body: {} })).toBe(401);
      expect(await status('listSessions', { as: owner, query: { limit: '1' } })).toBe(200);
      expect(await status('listSessions', { as: owner, query: { limit: '0' } })).toBe(400);
      expect(await status('getSession', { as: owner, params })).toBe(200);
      expect(await status('getSession', { as: guest, params })).toBe(404);
      expect(await status('getSession', { as: owner, params: { session_id: 'x' } })).toBe(400);
      expect(await status('updateSessionTitle', { as: owner, params, body: { title: 'Renamed' } })).toBe(200);
      expect(await status('updateSessionTitle', { as: owner, params, body: { title: ' ' } })).toBe(400);
      expect(await status('updateSession', { as: owner, params, body: { is_active: false } })).toBe(200);
      expect(await status('updateSession', { as: guest, params, body: { title: null } })).toBe(404);
      const page = await call('listSessionMessages', { as: owner, params, query: { limit: '1' } });
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ total: 2, has_more: true, data: [{ content: 'hello' }] });
      expect(
        await status('listSessionMessages', { as: owner, params, query: { latest: 'true', offset: '1' } }),
      ).toBe(400);
      expect(
        await status('listSessionMessages', { as: guest, params, query: { before: first.message_id } }),
      ).toBe(404);
      expect(await status('deleteSession', { as: guest, params })).toBe(404);
      expect(await status('deleteSession', { as: owner, params })).toBe(204);
      expect(await status('listSessionMessages', { as: owner, params })).toBe(404);
      expect([...checked].filter((c) => /Session/.test(c)).sort()).toEqual(
        [
          'createSession 201',
          'createSession 400',
          'createSession 401',
          'createSession 404',
          'deleteSession 204',
          'deleteSession 404',
          'getSession 200',
          'getSession 400',
          'getSession 404',
          'listSessionMessages 200',
          'listSessionMessages 400',
          'listSessionMessages 404',
          'listSessions 200',
          'listSessions 400',
          'updateSession 200',
          'updateSession 404',
          'updateSessionTitle 200',
          'updateSessionTitle 400',
        ].sort(),
      );
    });

    afterAll(() => {
      // What this block proved, for a reader of a verbose run.
      if (checked.size > 0) console.log(`validated responses: ${[...checked].sort().join(', ')}`);
    });
  });

  describe('a generated client', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'parley-openapi-client-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // Decided before the test is declared: without the registry it is a skip that names why, never a pass.
    const title =
      'openapi-typescript generates types from openapi.json, and a client using them compiles and works';
    (registryUnreachable ? it.skip : it)(
      registryUnreachable
        ? `${title} [skipped: the npm registry is unreachable: ${registryUnreachable}]`
        : title,
      async () => {
        const types = join(dir, 'schema.d.ts');
        await run(
          'npx',
          [
            '-y',
            '-p',
            'typescript@5',
            '-p',
            'openapi-typescript@7',
            'openapi-typescript',
            CONTRACT,
            '-o',
            types,
          ],
          { cwd: dir, timeout: 180_000, env: { ...process.env, npm_config_update_notifier: 'false' } },
        );

        // Every operation is in the generated types by its operationId.
        const ids = operations(document).map((o) => o.op.operationId!);
        const client = `
import type { components, operations, paths } from './schema.js';

type Project = components['schemas']['ProjectResponseDto'];
type ErrorBody = components['schemas']['ErrorResponseDto'];
type CreateProject = paths['/api/v1/projects']['post']['requestBody']['content']['application/json'];
type ProjectList = paths['/api/v1/projects']['get']['responses'][200]['content']['application/json'];
type ListQuery = NonNullable<operations['listProjects']['parameters']['query']>;

export type EveryOperation = [${ids.map((id) => `operations['${id}']`).join(', ')}];

// Nullable fields accept null; the others do not.
const untitled: Project['title'] = null;
const legacy: Project['created_by'] = null;
// @ts-expect-error project_id is never null
const noId: Project['project_id'] = null;
const code: ErrorBody['error'] = 'not_found';
// @ts-expect-error not an error code of the API
const badCode: ErrorBody['error'] = 'teapot';
void [untitled, legacy, noId, code, badCode];

export class ParleyClient {
  constructor(private readonly base: string, private readonly userId: string) {}

  private async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(this.base + path, {
      method,
      headers: { 'x-user-id': this.userId, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as T | ErrorBody;
    if (!response.ok) throw new Error((json as ErrorBody).error);
    return json as T;
  }

  createProject(body: CreateProject): Promise<Project> {
    return this.send('POST', '/api/v1/projects', body);
  }

  listProjects(query: ListQuery = {}): Promise<ProjectList> {
    const search = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return this.send('GET', '/api/v1/projects?' + search.toString());
  }
}

const [base, userId] = process.argv.slice(2);
const client = new ParleyClient(base, userId);
const created = await client.createProject({ title: 'From the generated client' });
const page = await client.listProjects({ limit: 5 });
const first: Project | undefined = page.data[0];
console.log(JSON.stringify({ created: created.project_id, first: first?.project_id, next: page.next_cursor }));
`;
        writeFileSync(join(dir, 'client.ts'), client);
        writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
        const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
        const compile = await run(
          process.execPath,
          [
            tsc,
            '--strict',
            '--target',
            'es2022',
            '--module',
            'nodenext',
            '--moduleResolution',
            'nodenext',
            '--skipLibCheck',
            '--types',
            'node',
            '--typeRoots',
            join(ROOT, 'node_modules/@types'),
            '--outDir',
            join(dir, 'out'),
            join(dir, 'client.ts'),
          ],
          { cwd: dir },
        ).catch((error: { stdout?: string }) => {
          throw new Error(`the client does not compile against the generated types:\n${error.stdout}`);
        });
        expect(compile.stdout).toBe('');

        const user = await createUser(t.app);
        await t.app.listen({ port: 0, host: '127.0.0.1' });
        const base = await t.app.getUrl();
        const { stdout } = await run(
          process.execPath,
          [join(dir, 'out/client.js'), base.replace('[::1]', '127.0.0.1'), user.user_id],
          {
            timeout: 30_000,
          },
        );
        const result = JSON.parse(stdout) as { created: string; first: string; next: string | null };
        expect(result).toEqual({ created: expect.any(String), first: result.created, next: null });
      },
    );
  });
});
