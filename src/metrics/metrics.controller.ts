import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { IgnoresIdentity } from '../auth/auth.decorators.js';
import { NoRequestTimeout, SkipRateLimit } from '../common/route-policy.js';
import { MetricsService } from './metrics.service.js';

/**
 * Prometheus scrape endpoint. Public like the health checks and, like them, blind to identity headers: keep it
 * off the internet at the proxy.
 */
@ApiTags('operations')
@Controller('metrics')
@SkipRateLimit()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @IgnoresIdentity()
  @NoRequestTimeout()
  @ApiOperation({ summary: 'Prometheus metrics' })
  // The 200 is text. Identity headers are not read (@IgnoresIdentity), so there is no error to document.
  @ApiResponse({
    status: 200,
    description: 'Prometheus text exposition format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @Header('cache-control', 'no-store')
  async getMetrics(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    void reply.header('content-type', this.metrics.contentType);
    return this.metrics.render();
  }
}
