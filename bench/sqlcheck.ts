/**
 * "Exactly the same SQL": the harness starts a throw-away Parley and a throw-away bare server with
 * trace-sql.ts preloaded, sends each scenario's first request to both, one at a time, and compares the
 * statements each sent to PostgreSQL. A scenario whose statements differ is flagged in the report (its ratio
 * compares different work).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchRequest } from './load.js';

export interface SqlCheck {
  same: boolean;
  parley: string[];
  bare: string[];
}

const normalize = (sql: string) => sql.replace(/\s+/g, ' ').trim();

async function traced(baseUrl: string, traceFile: string, request: BenchRequest): Promise<string[]> {
  writeFileSync(traceFile, '');
  const response = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
  await response.arrayBuffer();
  if (response.status >= 300)
    throw new Error(`${request.method} ${request.path} answered ${response.status}`);
  // Statements after the last byte (a stream's final insert) land within a few milliseconds.
  await sleep(150);
  return readFileSync(traceFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => normalize(JSON.parse(line) as string));
}

export async function compareSql(
  parley: { url: string; traceFile: string },
  bare: { url: string; traceFile: string },
  request: BenchRequest,
): Promise<SqlCheck> {
  const p = await traced(parley.url, parley.traceFile, request);
  const b = await traced(bare.url, bare.traceFile, request);
  return { same: p.length === b.length && p.every((sql, i) => sql === b[i]), parley: p, bare: b };
}
