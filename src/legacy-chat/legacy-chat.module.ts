import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { LegacyChatController } from './legacy-chat.controller.js';
import { LegacyChatService } from './legacy-chat.service.js';
import { TurnsRepository } from './turns.repository.js';

/**
 * The pre-sessions POST /chat, kept for old clients. AppModule imports it only while LEGACY_CHAT_ENABLED is
 * true; when it is off the route does not exist (404 like any unknown path, absent from the OpenAPI document).
 */
@Module({
  imports: [ChatModule, ProjectsModule, SessionsModule, MessagesModule],
  controllers: [LegacyChatController],
  providers: [LegacyChatService, TurnsRepository],
})
export class LegacyChatModule {}
