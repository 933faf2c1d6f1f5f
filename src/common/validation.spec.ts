import { Transform } from 'class-transformer';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { AppError } from './app-error.js';
import { checkInputStructure, createValidationPipe, MAX_INPUT_DEPTH, TrimmedText } from './validation.js';

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

describe('TrimmedText', () => {
  const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

  // The stack it replaces, written out.
  class WrittenOut {
    @Transform(trim)
    @IsString()
    @MinLength(1)
    @MaxLength(5)
    title: string;

    @IsOptional()
    @Transform(trim)
    @IsString()
    @MinLength(1)
    @MaxLength(5)
    note?: string | null;
  }

  class Decorated {
    @TrimmedText({ minLength: 1, maxLength: 5 })
    title: string;

    @IsOptional()
    @TrimmedText({ minLength: 1, maxLength: 5 })
    note?: string | null;
  }

  const outcome = async (metatype: new () => object, body: unknown) => {
    try {
      return { value: await createValidationPipe().transform(body, { type: 'body', metatype }) };
    } catch (error) {
      return { details: (error as AppError).details, message: (error as AppError).message };
    }
  };

  it.each([
    { title: '  hello  ' },
    { title: 'hello', note: ' a ' },
    { title: 'hello', note: null },
    { title: '' },
    { title: '     ' },
    { title: 'toolong' },
    { title: 5 },
    { title: ['a'] },
    { note: 7 },
    {},
  ])('validates %j exactly as the stack written out (value, messages and their order)', async (body) => {
    const expected = await outcome(WrittenOut, body);
    const actual = await outcome(Decorated, body);
    expect(actual.details ?? actual.value).toEqual(expected.details ?? expected.value);
    expect(actual.message).toEqual(expected.message);
    expect(actual.value && { ...actual.value }).toEqual(expected.value && { ...expected.value });
  });
});
