import { AppError } from './app-error.js';
import { ParseUuidPipe } from './uuid-param.js';

describe('ParseUuidPipe', () => {
  it('accepts a UUID of any version (legacy ids too) and lower-cases it', () => {
    const pipe = new ParseUuidPipe('project_id');
    expect(pipe.transform('7D3C4B1E-2F7A-4C55-9D0E-2B8F5F1C9A10')).toBe(
      '7d3c4b1e-2f7a-4c55-9d0e-2b8f5f1c9a10',
    );
    expect(pipe.transform('00000000-0000-0000-0000-000000000001')).toBe(
      '00000000-0000-0000-0000-000000000001',
    );
  });

  it.each([
    'nope',
    '7d3c4b1e2f7a4c559d0e2b8f5f1c9a10',
    '7d3c4b1e-2f7a-4c55-9d0e-2b8f5f1c9a1',
    '',
    undefined,
    42,
  ])('rejects %p with a validation error naming the parameter', (value) => {
    const pipe = new ParseUuidPipe('project_id');
    let error: unknown;
    try {
      pipe.transform(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('validation_failed');
    expect((error as AppError).details).toEqual([{ field: 'project_id', message: 'must be a UUID' }]);
  });

  it('lets an absent optional value through as undefined', () => {
    const pipe = new ParseUuidPipe('project_id', true);
    expect(pipe.transform(undefined)).toBeUndefined();
    expect(pipe.transform('')).toBeUndefined();
    expect(() => pipe.transform('x')).toThrow(AppError);
  });
});
