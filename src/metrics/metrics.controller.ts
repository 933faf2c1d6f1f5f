import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { ApiErrors, ApiPublic } from '../common/api-docs.js';
import { NoRequestTimeout, SkipRateLimit } from '../common/route-policy.js';
import { MetricsService } from './metrics.service.js';

/** Prometheus scrape endpoint. Public like the health checks: keep it off the internet at the proxy. */
@ApiTags('operations')
@Controller('metrics')
@SkipRateLimit()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Public()
  @ApiPublic()
  @NoRequestTimeout()
  @ApiOperation({ summary: 'Prometheus metrics' })
  // The 200 is text; errors (401 for a malformed identity header) are JSON like everywhere else.
  @ApiResponse({
    status: 200,
    description: 'Prometheus text exposition format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiErrors(401)
  @Header('cache-control', 'no-store')
  async getMetrics(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    void reply.header('content-type', this.metrics.contentType);
    return this.metrics.render();
  }
}
