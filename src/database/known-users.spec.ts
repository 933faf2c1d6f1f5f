import { KnownUsers } from './known-users.js';

describe('KnownUsers', () => {
  let now = 0;
  const clock = () => now;

  it('an id counts as proven from prove() until the TTL passes', () => {
    now = 1_000;
    const known = new KnownUsers(60_000, 10, clock);
    expect(known.has('a')).toBe(false);
    known.prove('a');
    now += 59_999;
    expect(known.has('a')).toBe(true);
    now += 1;
    expect(known.has('a')).toBe(false);
  });

  it('forget() drops an id at once (the database refused it: a deleted user)', () => {
    const known = new KnownUsers(60_000, 10, clock);
    known.prove('a');
    known.forget('a');
    expect(known.has('a')).toBe(false);
  });

  it('holds at most maxEntries ids, dropping the least recently proven', () => {
    const known = new KnownUsers(60_000, 2, clock);
    known.prove('a');
    known.prove('b');
    known.prove('a'); // proven again: now the newest
    known.prove('c');
    expect([known.has('a'), known.has('b'), known.has('c')]).toEqual([true, false, true]);
  });
});
