import { Module } from '@nestjs/common';
import { MessagesModule } from '../messages/messages.module.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ImportRunner } from './import-runner.js';
import { ImportsController } from './imports.controller.js';
import { ImportsRepository } from './imports.repository.js';
import { ImportsService } from './imports.service.js';

@Module({
  imports: [ProjectsModule, SessionsModule, MessagesModule],
  controllers: [ImportsController],
  providers: [ImportsService, ImportsRepository, ImportRunner],
})
export class ImportsModule {}
