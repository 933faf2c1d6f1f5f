export class LivenessResponseDto {
  /** Always `ok`: the process is running and answering HTTP. */
  status: 'ok';
}

export class ReplicaCheckDto {
  /** `replica-1`, `replica-2`, ... in the order of DATABASE_REPLICA_URLS. */
  name: string;
  /**
   * `up`: takes reads; `lagging`: behind the primary by more than REPLICA_MAX_LAG_MS; `down`: not answering.
   * Reads skip a replica that is not up (they go to the primary); readiness does not depend on replicas.
   */
  status: 'up' | 'lagging' | 'down';
  /** How long the replica has been missing a state of the primary, in milliseconds; null when down. */
  lag_ms: number | null;
}

export class ReadinessChecksDto {
  /** The database answered a query within HEALTH_TIMEOUT_MS. */
  database: 'up';
  /** Every migration shipped with this version is applied. */
  migrations: 'up';
  /** Each streaming replica of DATABASE_REPLICA_URLS, reported apart (present only when some are configured). */
  replicas?: ReplicaCheckDto[];
}

export class ReadinessResponseDto {
  status: 'ok';
  checks: ReadinessChecksDto;
}
