import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiSecurity, getSchemaPath, ApiExtraModels } from '@nestjs/swagger';
import { JWT_SCHEME, USER_ID_SCHEME } from '../openapi.js';
import { ErrorResponseDto } from './error-response.dto.js';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: the message names the field',
  401: 'Missing, malformed or unknown caller identity',
  403: 'The caller may not do this',
  404: "Not found (or not the caller's)",
  409: 'Conflicts with existing data',
  413: 'Request body too large',
  415: 'Unsupported content type of the request body',
  422: 'Understood but not processable (e.g. an Idempotency-Key reused with a different body)',
  429: 'Too many requests',
  502: 'The language model provider failed',
  503: 'The database is unavailable',
  504: 'The language model provider timed out',
};

/** Documents the error responses a route can return, all with the shared ErrorResponse schema. */
export function ApiErrors(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status],
        schema: { $ref: getSchemaPath(ErrorResponseDto) },
      }),
    ),
  );
}

/** The route needs a caller: X-User-ID or a bearer JWT. */
export function ApiAuthenticated(): MethodDecorator & ClassDecorator {
  return applyDecorators(ApiSecurity(USER_ID_SCHEME), ApiBearerAuth(JWT_SCHEME));
}

/** The route is public; a bearer JWT is used when present. */
export function ApiPublic(): MethodDecorator & ClassDecorator {
  return applyDecorators(ApiSecurity({}), ApiBearerAuth(JWT_SCHEME));
}

type SchemaObject = Record<string, unknown>;

/**
 * Component schemas that are not DTO classes (a `oneOf` of two DTOs, say), added to the document by
 * buildOpenApiDocument. Returns the `$ref` object to use in an @ApiResponse.
 */
const namedSchemas = new Map<string, SchemaObject>();

export function defineNamedSchema(name: string, schema: SchemaObject): { $ref: string } {
  namedSchemas.set(name, schema);
  return { $ref: `#/components/schemas/${name}` };
}

export function definedNamedSchemas(): ReadonlyMap<string, SchemaObject> {
  return namedSchemas;
}
