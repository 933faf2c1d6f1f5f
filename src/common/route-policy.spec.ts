import { Controller, Get, Req } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { installRequestTimeout, TimeoutAwareFastifyAdapter } from './request-timeout.js';
import {
  ChatRoute,
  hasNoRequestTimeout,
  isChatRoute,
  NoRequestTimeout,
  SKIP_RATE_LIMIT,
  SkipRateLimit,
} from './route-policy.js';

const TIMEOUT_MS = 50;
const SLOW_MS = 300;

const policyOf = (request: FastifyRequest) => ({
  chat: isChatRoute(request.routeOptions),
  noTimeout: hasNoRequestTimeout(request.routeOptions),
});

@Controller('probe')
@SkipRateLimit()
class ProbeController {
  @Get('chat')
  @ChatRoute()
  async chat(@Req() request: FastifyRequest) {
    await sleep(SLOW_MS);
    return policyOf(request);
  }

  @Get('untimed')
  @NoRequestTimeout()
  async untimed(@Req() request: FastifyRequest) {
    await sleep(SLOW_MS);
    return policyOf(request);
  }

  @Get('both')
  @NoRequestTimeout()
  @ChatRoute()
  both(@Req() request: FastifyRequest) {
    return policyOf(request);
  }

  @Get('plain')
  plain(@Req() request: FastifyRequest) {
    return policyOf(request);
  }

  @Get('slow')
  async slow() {
    await sleep(SLOW_MS);
    return { late: true };
  }
}

describe('route policy marks', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const module = await Test.createTestingModule({ controllers: [ProbeController] }).compile();
    app = module.createNestApplication<NestFastifyApplication>(new TimeoutAwareFastifyAdapter(), {
      logger: false,
    });
    installRequestTimeout(app.getHttpAdapter().getInstance(), TIMEOUT_MS);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(() => app.close());

  const get = async (path: string) => {
    const response = await app.inject({ method: 'GET', url: `/probe/${path}` });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  };

  it('@ChatRoute() marks the route as a chat route and exempts it from the request timeout', async () => {
    expect(await get('chat')).toEqual({ status: 200, body: { chat: true, noTimeout: true } });
  });

  it('@NoRequestTimeout() exempts the route from the timeout without making it a chat route', async () => {
    expect(await get('untimed')).toEqual({ status: 200, body: { chat: false, noTimeout: true } });
  });

  it('the two marks on one handler keep each other (the route config is merged, not replaced)', async () => {
    expect(await get('both')).toEqual({ status: 200, body: { chat: true, noTimeout: true } });
  });

  it('an unmarked route is neither, and is answered 503 when it runs past the timeout', async () => {
    expect(await get('plain')).toEqual({ status: 200, body: { chat: false, noTimeout: false } });
    const late = await get('slow');
    expect(late.status).toBe(503);
    expect(late.body.error).toBe('unavailable');
  });

  it('@SkipRateLimit() on a controller is Nest metadata the guard finds from any of its handlers', () => {
    const reflector = new Reflector();
    const handler = Object.getOwnPropertyDescriptor(ProbeController.prototype, 'plain')!
      .value as () => unknown;
    expect(reflector.getAllAndOverride<boolean>(SKIP_RATE_LIMIT, [handler, ProbeController])).toBe(true);
  });
});
