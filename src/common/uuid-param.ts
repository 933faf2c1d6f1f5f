import { Injectable, Param, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { AppError } from './app-error.js';
import { isUuid } from './uuid.js';

/**
 * Validates a UUID in a path or query parameter: a malformed value answers 400 `validation_failed` naming the
 * parameter (details `[{ field: name, message }]`). Accepts what PostgreSQL's uuid type accepts in canonical
 * form (any version, so legacy ids pass) and returns it lower-cased. An absent optional value passes as
 * undefined.
 */
@Injectable()
export class ParseUuidPipe implements PipeTransform<unknown, string | undefined> {
  constructor(
    private readonly name: string,
    private readonly optional = false,
  ) {}

  transform(value: unknown): string | undefined {
    if ((value === undefined || value === '') && this.optional) return undefined;
    if (typeof value !== 'string' || !isUuid(value)) {
      const message = 'must be a UUID';
      throw AppError.validation(`Invalid request: ${this.name}: ${message}`, [{ field: this.name, message }]);
    }
    return value.toLowerCase();
  }
}

/** Applies a method decorator from inside a parameter decorator (the descriptor's function carries the metadata). */
function decorateMethod(target: object, key: string | symbol | undefined, decorator: MethodDecorator): void {
  if (key === undefined) return;
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor) decorator(target, key, descriptor);
}

/**
 * A UUID path parameter, validated (400 naming it when malformed) and documented as `format: uuid`:
 * `getProject(@UuidParam('project_id') projectId: string)`.
 */
export function UuidParam(name: string, description?: string): ParameterDecorator {
  return (target, key, index) => {
    Param(name, new ParseUuidPipe(name))(target, key, index);
    decorateMethod(
      target,
      key,
      ApiParam({ name, type: String, format: 'uuid', ...(description ? { description } : {}) }),
    );
  };
}
