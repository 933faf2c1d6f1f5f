import { Transform } from 'class-transformer';
import { buildMessage, ValidateBy, type ValidationOptions } from 'class-validator';
import { isUuid } from './uuid.js';

/*
 * Query strings arrive as text and the global ValidationPipe converts nothing implicitly, so query DTOs say
 * how each value is read. These transforms convert only well-formed text and leave anything else as it came,
 * so the validators after them (@IsInt, @IsBoolean) reject it with a message naming the field: `limit=abc`,
 * `limit=1.5`, `limit=` and `limit=1&limit=2` are all 400 `limit must be an integer number`.
 */

/** `"42"` / `"-3"` -> number; anything else unchanged. */
export const QueryInt = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : value,
  );

/** `"true"` / `"false"` -> boolean; anything else unchanged. */
export const QueryBoolean = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));

/**
 * A UUID of any version in canonical form (what ParseUuidPipe accepts; legacy ids pass). class-validator's
 * @IsUUID() rejects some ids PostgreSQL stores happily (nil-like or non-RFC variants).
 */
export function IsAnyUuid(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isAnyUuid',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isUuid(value),
        defaultMessage: buildMessage((each) => `${each}$property must be a UUID`, options),
      },
    },
    options,
  );
}
