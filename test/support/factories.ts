import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';

export interface TestUser {
  user_id: string;
  email: string | null;
  display_name: string | null;
  /** Headers that authenticate as this user. */
  headers: Record<string, string>;
}

/** Creates a user through the public API and returns it with the headers that act as it. */
export async function createUser(
  app: NestFastifyApplication,
  fields: { email?: string; display_name?: string; avatar_url?: string } = {},
): Promise<TestUser> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/users',
    payload: { display_name: 'Test user', email: `user-${randomUUID()}@example.test`, ...fields },
  });
  if (response.statusCode !== 201) throw new Error(`createUser: ${response.statusCode} ${response.body}`);
  const user = response.json();
  return { ...user, headers: { 'x-user-id': user.user_id } };
}
