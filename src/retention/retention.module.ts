import { Module } from '@nestjs/common';
import { RetentionService } from './retention.service.js';

/** The purge job of expired sessions (issue 15 §4). */
@Module({ providers: [RetentionService], exports: [RetentionService] })
export class RetentionModule {}
