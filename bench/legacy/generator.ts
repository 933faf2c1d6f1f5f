import type { SqlExecutor } from '../../src/database/sql-executor.js';
import { seededRandom } from '../random.js';

/**
 * A realistic legacy database for the importer: the pre-sessions `dossier` and `turns` tables filled with
 * set-based SQL (generate_series over a per-dossier turn count), so a million turns take well under a minute.
 *
 * Deterministic for a given seed: ids are md5 digests of (seed, position) and every "random" choice is read
 * from a turn's digest, so two databases generated with the same options hold the same rows.
 *
 * What it contains:
 * - dossiers with 1 to `maxTurnsPerDossier` turns, skewed like real use (log-normal: most conversations are
 *   short, a few very long; `bigDossiers` of them at the maximum), plus some dossiers with no turns at all;
 * - texts from a multilingual pool (accents, CJK, Arabic and Hebrew, emoji with joiners, combining marks,
 *   newlines, quotes and backslashes), most short, 2% long (2,000 to 9,000 characters), a few over the
 *   32,000-character message limit;
 * - and, unless `badRows` is false, the legacy data the importer must survive: NULL, empty and
 *   whitespace-only texts on either side or both, turns sharing a timestamp with the previous one, turns whose
 *   dossier is missing (a deleted dossier id, or NULL), NULL / empty / very long dossier titles.
 */
export interface LegacyDatasetOptions {
  /** Dossiers that have turns. */
  dossiers: number;
  /** Turns in those dossiers, exactly. */
  turns: number;
  maxTurnsPerDossier?: number;
  /** Dossiers with exactly `maxTurnsPerDossier` turns (default: about 5% of the turns, at least one). */
  bigDossiers?: number;
  /** Extra dossiers without any turn (default 0.5% of `dossiers`). */
  emptyDossiers?: number;
  /** Turns whose dossier does not exist (default 0.05% of `turns` when badRows). */
  orphanTurns?: number;
  badRows?: boolean;
  /** Multiplies how often each kind of bad row occurs (default 1; small test datasets use 50 or so). */
  badRowFactor?: number;
  seed?: number;
}

export interface LegacyDatasetStats {
  dossiers: number;
  dossiersWithTurns: number;
  turns: number;
  /** Turns of existing dossiers (what the importer can migrate). */
  importableTurns: number;
  orphanTurns: number;
  emptyBoth: number;
  emptyUserText: number;
  emptyAssistantText: number;
  duplicateTimestamps: number;
  overLimit: number;
  largestDossier: number;
  longestText: number;
  generateMs: number;
}

/** The legacy schema as the pre-sessions application created it (no users, sessions or messages). */
export async function createLegacySchema(sql: SqlExecutor): Promise<void> {
  await sql.exec(`
    CREATE TABLE IF NOT EXISTS dossier (
      project_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
      title TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    );
    CREATE TABLE IF NOT EXISTS turns (
      turn_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id UUID,
      user_text TEXT,
      assistant_text TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
    );`);
}

/**
 * Turns per dossier: `bigDossiers` at the maximum, the rest log-normal (median about 3), scaled and nudged
 * so that the total is exactly `turns` and each count stays within 1..max.
 */
export function turnCounts(options: {
  dossiers: number;
  turns: number;
  maxTurnsPerDossier?: number;
  bigDossiers?: number;
  seed?: number;
}): number[] {
  const max = options.maxTurnsPerDossier ?? 5000;
  const { dossiers, turns } = options;
  if (dossiers < 1 || turns < dossiers || turns > dossiers * max) {
    throw new Error(`cannot spread ${turns} turns over ${dossiers} dossiers of 1..${max} turns`);
  }
  const random = seededRandom(options.seed ?? 1);
  const big = Math.min(
    dossiers - 1,
    options.bigDossiers ?? Math.max(1, Math.floor((turns * 0.05) / max)),
    Math.floor((turns - dossiers) / Math.max(1, max - 1)),
  );
  const counts: number[] = [];
  for (let i = 0; i < big; i++) counts.push(max);
  const rest = dossiers - big;
  const target = turns - big * max;
  const draws: number[] = [];
  for (let i = 0; i < rest; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    draws.push(Math.exp(1.1 + 1.5 * z));
  }
  const scale = target / draws.reduce((a, b) => a + b, 0);
  for (const d of draws) counts.push(Math.min(max, Math.max(1, Math.round(d * scale))));
  let diff = target - counts.slice(big).reduce((a, b) => a + b, 0);
  while (diff !== 0) {
    const i = big + Math.floor(random() * rest);
    if (diff > 0 && counts[i] < max) {
      counts[i]++;
      diff--;
    } else if (diff < 0 && counts[i] > 1) {
      counts[i]--;
      diff++;
    }
  }
  for (let i = counts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [counts[i], counts[j]] = [counts[j], counts[i]];
  }
  return counts;
}

const SENTENCES = [
  'Could you help me outline the third chapter? The heroine returns home and finds the door open.',
  "Voilà une idée : l'héroïne découvre une lettre cachée sous le plancher de la cuisine.",
  'Schreib die Szene aus der Sicht des Hundes — kurz, atmosphärisch, ohne Kitsch.',
  '夜の港で二人が再会する場面を書いてください。会話は少なめでお願いします。',
  '请把这段对话改得更自然一些，保留人物的口音。',
  'اكتب فقرة قصيرة عن البحر في الشتاء، بأسلوب شاعري.',
  'כתוב פסקה קצרה על העיר בלילה, בגוף ראשון.',
  'Here is a draft:\n\n"It was late," she said. "Too late for trains."\n\nWhat do you think?',
  '👩‍💻 Tip: keep the tension by ending each scene on a question. 🧭✨ 👨‍👩‍👧‍👦',
  'Zalgo-ish test: ẗ̤e̊x̧t̃ w̌i̇t̄h̆ c̈ȯm̂b̌i̇n̄ĭn̈ġ m̊ǎr̄k̆s̈ — and a tab\there.',
  'Markdown list:\n- setting: Lisbon, 1974\n- point of view: the baker\n- tone: dry humour',
  'Path C:\\\\drafts\\\\novel\\\\ch3.md and a backslash \\\\ and a percent 100% and $dollar.',
  'Ελληνικά: μια σύντομη ιστορία για έναν φάρο. Русский: короткий рассказ о маяке.',
  'Sure! Here is a revised version with a stronger opening line and fewer adverbs.',
  'हिन्दी में एक छोटी कहानी लिखिए। 한국어로 짧은 시를 써 주세요.',
];

const TITLES = [
  'Novel draft',
  'Short story: the lighthouse',
  'Lettre à Émilie',
  '夜の港',
  'Blog post ideas 📝',
  'Screenplay — act II',
  'قصة البحر',
  'Grant proposal',
  'Poems',
  'Untitled',
];

/** The text pool every turn slices from: all the sentences, in several orders, about 12,000 characters. */
export function textPool(): string {
  const parts: string[] = [];
  for (let round = 0; parts.join(' ').length < 12_000; round++) {
    for (let i = 0; i < SENTENCES.length; i++) parts.push(SENTENCES[(i * 7 + round * 3) % SENTENCES.length]);
  }
  return parts.join(' ');
}

/** An integer in 0..2^28-1 read from 7 hex digits of a digest. */
const hex = (digest: string, position: number) => `('x' || substr(${digest}, ${position}, 7))::bit(28)::int`;

export async function generateLegacyDataset(
  sql: SqlExecutor,
  options: LegacyDatasetOptions,
): Promise<LegacyDatasetStats> {
  const started = Date.now();
  const seed = Math.trunc(options.seed ?? 1);
  const bad = options.badRows ?? true;
  const counts = turnCounts({ ...options, seed });
  const empty = options.emptyDossiers ?? Math.round(options.dossiers * 0.005);
  for (let i = 0; i < empty; i++) counts.push(0);
  const factor = Math.max(0, options.badRowFactor ?? 1);
  const orphans = bad
    ? (options.orphanTurns ?? Math.max(2, Math.round(options.turns * 0.0005 * Math.max(1, factor))))
    : 0;
  const pool = textPool();
  const poolLength = [...pool].length;
  // Chances out of 100,000 (kinds of user text, kinds of assistant text), cumulative. 0 when badRows is off.
  const b = (n: number) => (bad ? Math.round(n * factor) : 0);
  const userNull = b(150);
  const userEmpty = userNull + b(100);
  const userBlank = userEmpty + b(50);
  const bothNull = userBlank + b(50);
  const userHuge = bothNull + Math.max(2, b(2));
  const assistantNull = b(300);
  const assistantEmpty = assistantNull + b(50);
  const assistantHuge = assistantEmpty + Math.max(2, b(2));
  const assistantLong = assistantHuge + 2000;
  // Title kinds out of 1,000, cumulative (NULL, empty, blank, very long).
  const t = (n: number) => Math.min(b(n), 500 + n);
  const duplicateEvery = bad && factor > 0 ? Math.max(2, Math.round(200 / factor)) : 0;

  await sql.query(
    `CREATE TEMP TABLE legacy_gen_dossier AS
     SELECT c.ord::int AS ord, c.n::int AS n,
            md5($2 || ':dossier:' || c.ord)::uuid AS project_id,
            md5($2 || ':dossier-attributes:' || c.ord) AS h
       FROM unnest($1::int[]) WITH ORDINALITY AS c(n, ord)`,
    [counts, String(seed)],
  );
  try {
    await sql.query(
      `INSERT INTO dossier (project_id, title, created_at, updated_at)
       SELECT g.project_id,
              CASE WHEN k < ${t(10)} THEN NULL
                   WHEN k < ${t(15)} THEN ''
                   WHEN k < ${t(17)} THEN E' \\t '
                   WHEN k < ${t(19)} THEN repeat(($1::text[])[1 + k % array_length($1::text[], 1)] || ' ', 40)
                   ELSE ($1::text[])[1 + k % array_length($1::text[], 1)] || ' #' || g.ord END,
              g.started, g.started + g.n * g.step * interval '1 second'
         FROM (SELECT d.*, ${hex('d.h', 22)} % 1000 AS k,
                      timestamptz '2019-01-01 00:00:00+00'
                        + (${hex('d.h', 1)} % (7 * 365 * 86400)) * interval '1 second'
                        + (${hex('d.h', 8)} % 1000000) * interval '1 microsecond' AS started,
                      20 + ${hex('d.h', 15)} % 21600 AS step
                 FROM legacy_gen_dossier d) g`,
      [TITLES],
    );
    await sql.query(
      `INSERT INTO turns (turn_id, project_id, user_text, assistant_text, created_at)
       SELECT x.th::uuid, x.project_id,
              CASE WHEN x.uk < ${userNull} THEN NULL
                   WHEN x.uk < ${userEmpty} THEN ''
                   WHEN x.uk < ${userBlank} THEN E' \\n\\t '
                   WHEN x.uk < ${bothNull} THEN NULL
                   WHEN x.uk < ${userHuge} THEN 'Pasted chapter: ' || repeat($1, 4)
                   ELSE substr($1, 1 + x.off % ($2 - 2000), 8 + x.len % 400) END,
              CASE WHEN x.uk >= ${userBlank} AND x.uk < ${bothNull} THEN NULL
                   WHEN x.ak < ${assistantNull} THEN NULL
                   WHEN x.ak < ${assistantEmpty} THEN ''
                   WHEN x.ak < ${assistantHuge} THEN 'Full manuscript: ' || repeat($1, 4)
                   WHEN x.ak < ${assistantLong} THEN substr($1 || $1, 1 + x.off2 % ($2 - 2000), 2000 + x.len % 7000)
                   ELSE substr($1, 1 + x.off2 % ($2 - 2000), 40 + x.len % 1500) END,
              x.started + (x.i - x.dup) * x.step * interval '1 second'
         FROM (SELECT t.*,
                      ${hex('t.th', 1)} % 100000 AS uk,
                      ${hex('t.th', 8)} % 100000 AS ak,
                      ${hex('t.th', 15)} AS off,
                      ${hex('t.th', 22)} AS len,
                      ${hex('t.th', 26)} AS off2,
                      CASE WHEN t.i > 1 AND ${duplicateEvery} > 0
                                AND (${hex('t.th', 8)} / 100000) % GREATEST(${duplicateEvery}, 1) = 0
                           THEN 1 ELSE 0 END AS dup
                 FROM (SELECT d.project_id, i, md5($3 || ':turn:' || d.ord || ':' || i) AS th,
                              d2.created_at AS started,
                              20 + ${hex('d.h', 15)} % 21600 AS step
                         FROM legacy_gen_dossier d
                         JOIN dossier d2 ON d2.project_id = d.project_id
                        CROSS JOIN LATERAL generate_series(1, d.n) AS i) t) x`,
      [pool, poolLength, String(seed)],
    );
  } finally {
    await sql.exec('DROP TABLE IF EXISTS pg_temp.legacy_gen_dossier');
  }
  if (orphans > 0) {
    // Orphans are what a legacy database without the foreign key accumulated. On an already migrated
    // database the key (NOT VALID, but checked for new rows) refuses them, so they are written the way a
    // restore would: with triggers (and so foreign-key checks) off for this one transaction.
    await sql.exec(`
      BEGIN;
      SET LOCAL session_replication_role = replica;
      INSERT INTO turns (turn_id, project_id, user_text, assistant_text, created_at)
      SELECT md5('${seed}:orphan:' || k)::uuid,
             CASE WHEN k % 2 = 0 THEN NULL ELSE md5('${seed}:deleted-dossier:' || (k % 7))::uuid END,
             'A question in a dossier that no longer exists #' || k,
             'An answer nobody will read #' || k,
             timestamptz '2020-06-01 00:00:00+00' + k * interval '1 hour'
        FROM generate_series(1, ${orphans}) AS k;
      COMMIT;`);
  }
  const stats = await datasetStats(sql);
  return { ...stats, generateMs: Date.now() - started };
}

/**
 * Counts of what the dataset holds, by predicates written independently of the importer's (trimmed text
 * instead of a regular expression), so that tests compare two computations rather than one with itself.
 */
export async function datasetStats(sql: SqlExecutor): Promise<Omit<LegacyDatasetStats, 'generateMs'>> {
  const [row] = await sql.query<Record<string, number>>(
    `WITH t AS (
       SELECT t.*, d.project_id IS NOT NULL AS has_dossier,
              btrim(COALESCE(t.user_text, ''), E' \\t\\r\\n') = '' AS no_user,
              btrim(COALESCE(t.assistant_text, ''), E' \\t\\r\\n') = '' AS no_assistant,
              count(*) OVER (PARTITION BY t.project_id, t.created_at) AS same_time
         FROM turns t LEFT JOIN dossier d ON d.project_id = t.project_id
     )
     SELECT (SELECT count(*)::int FROM dossier) AS dossiers,
            count(DISTINCT project_id) FILTER (WHERE has_dossier)::int AS dossiers_with_turns,
            count(*)::int AS turns,
            count(*) FILTER (WHERE has_dossier)::int AS importable_turns,
            count(*) FILTER (WHERE NOT has_dossier)::int AS orphan_turns,
            count(*) FILTER (WHERE has_dossier AND no_user AND no_assistant)::int AS empty_both,
            count(*) FILTER (WHERE has_dossier AND no_user AND NOT no_assistant)::int AS empty_user_text,
            count(*) FILTER (WHERE has_dossier AND NOT no_user AND no_assistant)::int AS empty_assistant_text,
            count(*) FILTER (WHERE has_dossier AND same_time > 1)::int AS duplicate_timestamps,
            count(*) FILTER (WHERE has_dossier AND (char_length(user_text) > 32000
                                                    OR char_length(assistant_text) > 32000))::int AS over_limit,
            COALESCE(max(GREATEST(char_length(user_text), char_length(assistant_text))), 0)::int AS longest_text
       FROM t`,
  );
  const [largest] = await sql.query<{ n: number }>(
    `SELECT COALESCE(max(n), 0)::int AS n FROM (SELECT count(*) AS n FROM turns GROUP BY project_id) x`,
  );
  return {
    dossiers: row.dossiers,
    dossiersWithTurns: row.dossiers_with_turns,
    turns: row.turns,
    importableTurns: row.importable_turns,
    orphanTurns: row.orphan_turns,
    emptyBoth: row.empty_both,
    emptyUserText: row.empty_user_text,
    emptyAssistantText: row.empty_assistant_text,
    duplicateTimestamps: row.duplicate_timestamps,
    overLimit: row.over_limit,
    largestDossier: largest.n,
    longestText: row.longest_text,
  };
}
