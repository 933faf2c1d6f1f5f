import { checkIntervalMs, parseLsn, ReplicaSet } from './replicas.js';

describe('ReplicaSet', () => {
  let now = 1_000_000;
  const make = (maxLagMs = 1000) =>
    new ReplicaSet(['postgresql://127.0.0.1:1/a', 'postgresql://127.0.0.1:1/b'], {
      maxLagMs,
      poolOptions: {},
      primaryLsn: async () => '0/0',
      log: () => undefined,
      now: () => now,
    });
  const up = (set: ReplicaSet, index: number, lsn: string, lagMs = 0) => {
    const replica = set.replicas[index];
    replica.down = false;
    replica.checkedAt = now;
    replica.replayLsn = parseLsn(lsn);
    replica.replayText = lsn;
    replica.lagMs = lagMs;
  };

  afterEach(() => {
    now = 1_000_000;
  });

  it('orders WAL positions like PostgreSQL (X/Y hexadecimal)', () => {
    expect(parseLsn('0/16B3748') < parseLsn('0/16B3750')).toBe(true);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  });

  it('checks a quarter of the lag bound, 100 ms to 1 s', () => {
    expect(checkIntervalMs(100)).toBe(100);
    expect(checkIntervalMs(2000)).toBe(500);
    expect(checkIntervalMs(60000)).toBe(1000);
  });

  it('takes replicas in turn, skipping one that is down, stale or lagging', () => {
    const set = make();
    expect(set.pick(undefined)).toBeUndefined(); // never checked: down
    up(set, 0, '0/100');
    up(set, 1, '0/100');
    const first = set.pick(undefined);
    const second = set.pick(undefined);
    expect(new Set([first?.name, second?.name])).toEqual(new Set(['replica-1', 'replica-2']));
    set.replicas[1].lagMs = 1001;
    expect(set.pick(undefined)?.name).toBe('replica-1');
    expect(set.pick(undefined)?.name).toBe('replica-1');
    set.markDown(set.replicas[0], 'test');
    expect(set.pick(undefined)).toBeUndefined();
    up(set, 0, '0/100');
    now += 3 * set.intervalMs + 1; // no successful check for three intervals
    expect(set.pick(undefined)).toBeUndefined();
    expect(set.status().map((s) => s.status)).toEqual(['down', 'down']);
  });

  it("reads a writer's data only from a replica that has replayed their last commit, within the window", () => {
    const set = make();
    up(set, 0, '0/100');
    up(set, 1, '0/200');
    set.recordWrite('ada', '0/180');
    for (let i = 0; i < 4; i++) expect(set.pick('ada')?.name).toBe('replica-2');
    expect(set.pick('bob')).toBeDefined();
    set.recordWrite('ada', '0/300');
    expect(set.pick('ada')).toBeUndefined(); // the primary
    now += set.writeWindowMs + 1;
    up(set, 0, '0/100');
    up(set, 1, '0/200');
    expect(set.pick('ada')).toBeDefined(); // past the window, the lag bound covers the write
  });
});
