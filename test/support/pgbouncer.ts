// PgBouncer for tests: the benchmark's own starter (bench/pgbouncer.ts), one source for both.
export {
  PGBOUNCER_BIN,
  pgbouncerUnavailable,
  startPgBouncer,
  type PgBouncer,
} from '../../bench/pgbouncer.js';
