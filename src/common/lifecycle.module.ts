import { Global, Module } from '@nestjs/common';
import { ShutdownService } from './shutdown.service.js';

/** ShutdownService for every feature (see its comment for the order of a graceful shutdown). */
@Global()
@Module({ providers: [ShutdownService], exports: [ShutdownService] })
export class LifecycleModule {}
