import { AppError } from './app-error.js';
import { checkInputStructure, createValidationPipe, MAX_INPUT_DEPTH } from './validation.js';

function errorOf(work: () => unknown): AppError {
  try {
    work();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected an AppError');
}

const nested = (levels: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
};

describe('checkInputStructure', () => {
  it('accepts ordinary input, including nesting up to the limit', () => {
    expect(() => checkInputStructure({ title: 'x', tags: ['a', { b: [1, null, true] }] })).not.toThrow();
    expect(() => checkInputStructure(nested(MAX_INPUT_DEPTH))).not.toThrow();
    expect(() => checkInputStructure(undefined)).not.toThrow();
  });

  it('rejects nesting deeper than the limit without overflowing the stack (100,000 levels)', () => {
    const error = errorOf(() => checkInputStructure(nested(100_000)));
    expect(error.code).toBe('validation_failed');
    expect(error.message).toContain(`nested more than ${MAX_INPUT_DEPTH} levels`);
    expect(errorOf(() => checkInputStructure(nested(MAX_INPUT_DEPTH + 1))).code).toBe('validation_failed');
  });

  it('rejects a NUL character in a value or a field name, naming the field', () => {
    const error = errorOf(() => checkInputStructure({ session: { title: 'a\u0000b' } }));
    expect(error.details).toEqual([{ field: 'session.title', message: 'must not contain NUL characters' }]);
    expect(errorOf(() => checkInputStructure({ ['x\u0000']: 1 })).code).toBe('validation_failed');
    expect(errorOf(() => checkInputStructure('\u0000')).details?.[0].field).toBe('body');
  });

  it('runs in the global pipe for bodies and queries, before class-transformer', async () => {
    const pipe = createValidationPipe();
    await expect(pipe.transform(nested(10_000), { type: 'body', metatype: Object })).rejects.toBeInstanceOf(
      AppError,
    );
    await expect(
      pipe.transform({ q: 'a\u0000' }, { type: 'query', metatype: Object }),
    ).rejects.toBeInstanceOf(AppError);
  });
});
