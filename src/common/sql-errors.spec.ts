import { appErrorFromDatabase } from './sql-errors.js';

const fromState = (code: string) =>
  appErrorFromDatabase(Object.assign(new Error('database error'), { code }));

describe('appErrorFromDatabase', () => {
  it.each(['22008', '22003', '22007', '2201B', '22P05'])(
    'every data exception (class 22), e.g. %s, is a 400: it comes from the request’s values',
    (code) => {
      expect(fromState(code)).toMatchObject({ code: 'validation_failed', status: 400 });
    },
  );

  it.each(['08000', '08001', '08004', '08P01', '3D000', '53300', '53100', '57P01', '57P04', '28P01'])(
    'a connection-class failure, e.g. %s, is a 503',
    (code) => {
      expect(fromState(code)).toMatchObject({ code: 'unavailable', status: 503 });
    },
  );

  it('28000 (app.assert_user_exists: an unknown caller) stays a 401, not an outage', () => {
    expect(fromState('28000')).toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('an unknown SQLSTATE of another class is a server fault (no mapping)', () => {
    expect(fromState('42P01')).toBeUndefined();
  });
});
