import { RequestMethod, type INestApplication, type Type } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import { ApiResponse, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export const USER_ID_SCHEME = 'user-id';
export const JWT_SCHEME = 'jwt';

/**
 * The Swagger CLI plugin's output (DTO schemas from class-validator, response types, comments) is generated
 * into src/metadata.ts by `npm run metadata`, so the document is the same under tsc, SWC and jest.
 */
async function loadPluginMetadata(): Promise<void> {
  const { default: metadata } = await import('./metadata.js');
  const loaded = (await metadata()) as unknown as PluginMetadata;
  await SwaggerModule.loadPluginMetadata(async () => loaded);
  await documentSuccessResponses(loaded);
}

/** Where @nestjs/swagger keeps a method's @ApiResponse entries (its DECORATORS.API_RESPONSE). */
const API_RESPONSE_METADATA = 'swagger/apiResponse';

type PluginMethodMetadata = { type?: unknown; summary?: string };
type PluginMetadata = {
  '@nestjs/swagger'?: {
    controllers?: [Promise<Record<string, unknown>>, Record<string, Record<string, PluginMethodMetadata>>][];
  };
};

const SUCCESS_DESCRIPTIONS: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No content' };

/**
 * Gives every route its success response from the plugin's metadata (the handler's return type). Swagger
 * applies that metadata only to methods without any @ApiResponse, and every route has @ApiErrors, so without
 * this the success responses would be missing. A route that documents a 2xx itself is left alone; a handler
 * without a return type gets a bodiless response with its status (204 for @HttpCode(204)).
 */
async function documentSuccessResponses(metadata: PluginMetadata): Promise<void> {
  for (const [fileImport, classes] of metadata['@nestjs/swagger']?.controllers ?? []) {
    const file = await fileImport;
    for (const [className, methods] of Object.entries(classes)) {
      const prototype = (file[className] as { prototype?: object } | undefined)?.prototype;
      if (!prototype) continue;
      for (const [methodName, meta] of Object.entries(methods)) {
        const descriptor = Object.getOwnPropertyDescriptor(prototype, methodName);
        const handler = descriptor?.value as object | undefined;
        if (!descriptor || !handler) continue;
        const responses = (Reflect.getMetadata(API_RESPONSE_METADATA, handler) ?? {}) as Record<
          string,
          unknown
        >;
        if (Object.keys(responses).some((status) => status.startsWith('2'))) continue;
        const status =
          (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ??
          ((Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod) === RequestMethod.POST
            ? 201
            : 200);
        ApiResponse({
          status,
          description: SUCCESS_DESCRIPTIONS[status] ?? 'Success',
          ...(meta.type ? { type: meta.type as Type<unknown> } : {}),
        })(prototype, methodName, descriptor);
      }
    }
  }
}

export async function buildOpenApiDocument(app: INestApplication): Promise<OpenAPIObject> {
  await loadPluginMetadata();
  const config = new DocumentBuilder()
    .setTitle('Parley API')
    .setDescription(
      'Chat sessions, persisted history and per-user isolation for an AI writing assistant. ' +
        'Authenticate with X-User-ID (a user id) or a bearer JWT whose sub is the user id.',
    )
    .setVersion('1.0.0')
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'X-User-ID', description: "The caller's user id" },
      USER_ID_SCHEME,
    )
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, JWT_SCHEME)
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
  // Named schemas that are not DTO classes (src/common/api-docs.ts, defineNamedSchema).
  const { definedNamedSchemas } = await import('./common/api-docs.js');
  const schemas = (document.components ??= {}).schemas ?? {};
  for (const [name, schema] of definedNamedSchemas()) schemas[name] = schema;
  document.components.schemas = schemas;
  return document;
}

/** Object keys sorted at every level (arrays keep their order), so the text is the same whatever built it. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  return value;
}

/**
 * The committed form of the document (openapi.json): keys sorted at every level, 2-space JSON, a trailing
 * newline. `npm run openapi` writes it; test/openapi.e2e-spec.ts fails when the app's document differs.
 */
export function serializeOpenApiDocument(document: OpenAPIObject): string {
  return `${JSON.stringify(sortKeys(document), null, 2)}\n`;
}

export async function setupOpenApi(app: INestApplication): Promise<void> {
  const document = await buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}
