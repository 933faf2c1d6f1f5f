import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export const USER_ID_SCHEME = 'user-id';
export const JWT_SCHEME = 'jwt';

/**
 * The Swagger CLI plugin's output (DTO schemas from class-validator, response types, comments) is generated
 * into src/metadata.ts by `npm run metadata`, so the document is the same under tsc, SWC and jest.
 */
async function loadPluginMetadata(): Promise<void> {
  const { default: metadata } = await import('./metadata.js');
  await SwaggerModule.loadPluginMetadata(metadata);
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
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
}

export async function setupOpenApi(app: INestApplication): Promise<void> {
  const document = await buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}
