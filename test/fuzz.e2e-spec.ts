/**
 * Property-based fuzzing of every operation in the app's own OpenAPI document (fast-check): identities,
 * path ids, query strings, headers and bodies generated from the documented schemas, valid and invalid
 * (wrong types, huge and hostile strings, unicode, control characters, NUL, SQL and JSON meta-characters,
 * extreme numbers, missing and extra fields, malformed UUIDs, broken JSON, wrong content types).
 *
 * Every response must hold whatever the input: no 5xx; no stack trace, SQL or internal path; every error in
 * the one error shape with the request id; only documented statuses; 2xx bodies that validate strictly
 * against their documented schema, and no 2xx body names another user's rows (foreignIdsIn() in
 * support/api-world.ts). After each operation the database invariants hold. Each operation's test arranges its
 * own world and counts its own requests, so any one of them runs alone with `-t`.
 *
 * FUZZ_SEED replays a run (the seed is printed with any failure); FUZZ_REQUESTS sets the total (default 3000).
 */
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { arrangeWorld, foreignIdsIn, toFuzzActors } from './support/api-world.js';
import { findInvariantViolations } from './support/db-invariants.js';
import { requestArbitrary, type FuzzRequest, type FuzzWorld } from './support/openapi-arbitraries.js';
import {
  checkResponse,
  loadApiDocument,
  pathParameterNames,
  type ApiOperation,
} from './support/openapi-driver.js';
import { createTestApp, DATABASE_KIND } from './support/test-app.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const TOTAL_REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 3000);

// The app is built before the tests are declared: the operations to fuzz come from its document.
const t = await createTestApp({ RATE_LIMIT_ENABLED: 'false' });
const doc = await loadApiDocument(t.app);
// Destructive operations last inside each group does not matter (every operation gets a fresh world), but
// running reads first keeps failures of the simple operations at the top of the report.
const operations = [...doc.operations].sort(
  (a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE') || a.path.localeCompare(b.path),
);
const RUNS_PER_OPERATION = Math.max(60, Math.ceil(TOTAL_REQUESTS / Math.max(operations.length, 1)));

interface Finding {
  operation: string;
  problem: string;
  count: number;
  example: { request: string; status: number; body: string };
}

const findings = new Map<string, Finding>();
const statusesByOperation = new Map<string, Map<number, number>>();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who a generated request acts as: the X-User-ID it carries when that is a UUID, else nobody. */
function callerOf(request: FuzzRequest): string | undefined {
  const header = Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'x-user-id')?.[1];
  return header && UUID.test(header) ? header : undefined;
}

function record(
  op: ApiOperation,
  request: FuzzRequest,
  status: number,
  body: string,
  problems: string[],
): void {
  for (const problem of problems) {
    // Group by the kind of problem, not by the generated value inside it.
    const kind = problem.replace(/"[^"]*"|\d+/g, '…').slice(0, 160);
    const key = `${op.operationId}|${kind}`;
    const existing = findings.get(key);
    if (existing) existing.count++;
    else
      findings.set(key, {
        operation: op.operationId,
        problem,
        count: 1,
        example: {
          request: `${request.method} ${request.url.slice(0, 300)} headers=${JSON.stringify(request.headers).slice(0, 300)} body=${JSON.stringify((request.payload ?? '').slice(0, 300))} [${request.labels.join(', ')}]`,
          status,
          body: body.slice(0, 400),
        },
      });
  }
}

describe(`fuzzing every operation of the OpenAPI document (${DATABASE_KIND}, seed ${SEED})`, () => {
  afterAll(async () => {
    const table = [...statusesByOperation].map(
      ([op, statuses]) =>
        `${op.padEnd(28)} ${[...statuses]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}x${n}`)
          .join(' ')}`,
    );
    const total = [...statusesByOperation.values()].reduce(
      (sum, statuses) => sum + [...statuses.values()].reduce((a, b) => a + b, 0),
      0,
    );
    console.log(`fuzz (${DATABASE_KIND}, seed ${SEED}): ${total} requests\n${table.join('\n')}`);
    if (process.env.FUZZ_REPORT)
      writeFileSync(
        process.env.FUZZ_REPORT,
        JSON.stringify({ seed: SEED, findings: [...findings.values()] }, null, 2),
      );
    await t.close();
  });

  it('the document has operations to fuzz, each with a unique operationId', () => {
    expect(operations.length).toBeGreaterThanOrEqual(4);
    expect(new Set(operations.map((op) => op.operationId)).size).toBe(operations.length);
  });

  it('errors raised before routing (malformed percent-escapes, over-long path parameters) are in the error shape', async () => {
    const op = operations.find((o) => o.method === 'GET' && pathParameterNames(o).length > 0);
    expect(op).toBeDefined();
    for (const raw of ['%', '%zz', '%E0%A4%A', 'x'.repeat(5000)]) {
      const response = await t.app.inject({ method: 'GET', url: op!.path.replace(/\{[^}]+\}/g, raw) });
      expect(response.statusCode).toBe(400);
      expect(checkResponse(doc, op!, response, [raw])).toEqual([]);
    }
  });

  it.each(operations.map((op) => [`${op.method} ${op.path} (${op.operationId})`, op] as const))(
    '%s: generated requests never break the response contract or the data',
    async (_name, op) => {
      const users = await arrangeWorld({ app: t.app, sql: t.sql, doc }, 3);
      // Administrators-only operations need an admin among the actors to get past the 403.
      if (op.adminOnly)
        await t.sql.query(`UPDATE users SET role = 'admin' WHERE user_id = $1`, [users[0].user_id]);
      const world: FuzzWorld = { actors: toFuzzActors(users), bodyLimitBytes: t.config.BODY_LIMIT_BYTES };
      const statuses = new Map<number, number>();
      statusesByOperation.set(op.operationId, statuses);
      let sent = 0;

      await fc.assert(
        fc.asyncProperty(requestArbitrary(doc, op, world), async (request) => {
          const startedAt = new Date();
          const response = await t.app.inject({
            method: request.method,
            url: request.url,
            headers: request.headers,
            ...(request.payload !== undefined ? { payload: request.payload } : {}),
          });
          sent++;
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          const problems = checkResponse(doc, op, response, request.echoes);
          // No 2xx body names another user's rows (ids the request itself carried aside: echoes). Admin
          // operations show every user's rows by design (to admins only: test/admin.e2e-spec.ts).
          if (response.statusCode >= 200 && response.statusCode < 300 && !op.adminOnly)
            for (const foreign of await foreignIdsIn(t.sql, callerOf(request), response.body, {
              allowed: [request.url, request.payload ?? ''],
              createdSince: startedAt,
            }))
              problems.push(`2xx body carries a ${foreign.kind} id the caller may not see: "${foreign.id}"`);
          record(op, request, response.statusCode, response.body, problems);
          return true;
        }),
        { seed: SEED + operations.indexOf(op), numRuns: RUNS_PER_OPERATION, endOnFailure: true },
      );

      for (const violation of await findInvariantViolations(t.sql))
        record(
          op,
          { method: op.method, url: '(after the run)', headers: {}, labels: [], echoes: [] },
          0,
          violation.detail,
          [`database invariant broken: ${violation.rule} (${violation.id})`],
        );

      const mine = [...findings.values()].filter((f) => f.operation === op.operationId);
      expect({ seed: SEED, findings: mine.slice(0, 20) }).toEqual({ seed: SEED, findings: [] });
      // This operation got its whole share of the FUZZ_REQUESTS total (counted here, not across tests).
      expect(sent).toBe(RUNS_PER_OPERATION);
      // The generator must reach the handler, not only the validation: some requests succeed.
      const documentsSuccess = Object.keys(op.responses).some((s) => s.startsWith('2'));
      if (documentsSuccess)
        expect([...statuses.keys()].filter((s) => s >= 200 && s < 300).length).toBeGreaterThan(0);
    },
    240_000,
  );
});
