export class LivenessResponseDto {
  /** Always `ok`: the process is running and answering HTTP. */
  status: 'ok';
}

export class ReadinessChecksDto {
  /** The database answered a query within HEALTH_TIMEOUT_MS. */
  database: 'up';
  /** Every migration shipped with this version is applied. */
  migrations: 'up';
}

export class ReadinessResponseDto {
  status: 'ok';
  checks: ReadinessChecksDto;
}
