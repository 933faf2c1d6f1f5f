import { applyDecorators, ValidationError, ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, MaxLength, MinLength } from 'class-validator';
import { AppError, type ErrorDetail } from './app-error.js';

/** Deepest nesting of objects and arrays a body or query may have. Parley's DTOs need three levels. */
export const MAX_INPUT_DEPTH = 32;

/**
 * Checks the shape of raw input before class-transformer sees it, without recursion: nesting deeper than
 * MAX_INPUT_DEPTH (class-transformer recurses and would overflow the stack: a 500) and NUL characters, which
 * PostgreSQL text cannot store (the insert would fail: a 500), are answered 400 naming the field.
 */
export function checkInputStructure(value: unknown): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop()!;
    const field = path || 'body';
    if (typeof current === 'string') {
      if (current.includes('\u0000')) {
        const message = 'must not contain NUL characters';
        throw AppError.validation(`Invalid request: ${field}: ${message}`, [{ field, message }]);
      }
      continue;
    }
    if (!current || typeof current !== 'object') continue;
    if (depth >= MAX_INPUT_DEPTH) {
      const message = `is nested more than ${MAX_INPUT_DEPTH} levels deep`;
      throw AppError.validation(`Invalid request: ${field}: ${message}`, [{ field, message }]);
    }
    for (const [key, inner] of Object.entries(current)) {
      if (key.includes('\u0000')) {
        const message = 'field names must not contain NUL characters';
        throw AppError.validation(`Invalid request: ${field}: ${message}`, [{ field, message }]);
      }
      stack.push({ value: inner, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
}

class StructureCheckingValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' || metadata.type === 'query') checkInputStructure(value);
    return super.transform(value, metadata);
  }
}

function flatten(errors: ValidationError[], prefix = ''): ErrorDetail[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({
      field,
      message: message.replace(/^property (\S+) should not exist$/, 'unknown field $1'),
    }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/**
 * The global pipe: strips nothing silently (unknown fields are 400), converts types, names every bad field,
 * and refuses input nested too deeply or carrying NUL characters (see checkInputStructure).
 */
export function createValidationPipe(): ValidationPipe {
  return new StructureCheckingValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      return AppError.validation(
        `Invalid request: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`,
        details,
      );
    },
  });
}

const trimString = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/** A string field is trimmed before it is validated (other values are left for the validators to refuse). */
export const Trimmed = (): PropertyDecorator => Transform(trimString);

/**
 * A text field: trimmed, then a string of `minLength` to `maxLength` characters. The OpenAPI document gets the
 * limits from here: the Swagger CLI plugin reads only limits written as decorators of the property itself. Put
 * @IsOptional() above it for an optional field, as usual.
 */
export function TrimmedText(limits: { minLength?: number; maxLength: number }): PropertyDecorator {
  const { minLength, maxLength } = limits;
  // In the order a stack written out would apply them (bottom up), so validation messages keep their order.
  return applyDecorators(
    ApiProperty({ type: String, minLength, maxLength }),
    MaxLength(maxLength),
    ...(minLength === undefined ? [] : [MinLength(minLength)]),
    IsString(),
    Trimmed(),
  );
}
