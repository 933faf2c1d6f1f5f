import { Module } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.tokens.js';
import { MessagesModule } from '../messages/messages.module.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ChatEngine } from './chat-engine.js';
import { ChatIdempotency } from './chat-idempotency.js';
import { createChatModel } from './chat-model.js';
import { ChatController } from './chat.controller.js';
import { ChatRepository } from './chat.repository.js';
import { ChatService } from './chat.service.js';
import { CHAT_MODEL } from './chat.tokens.js';

/** POST /api/v1/chat. The legacy POST /chat (src/legacy-chat/) builds on the engine and repository it exports. */
@Module({
  imports: [ProjectsModule, SessionsModule, MessagesModule],
  controllers: [ChatController],
  providers: [
    { provide: CHAT_MODEL, useFactory: createChatModel, inject: [APP_CONFIG] },
    ChatRepository,
    ChatIdempotency,
    ChatEngine,
    ChatService,
  ],
  exports: [ChatEngine, ChatRepository],
})
export class ChatModule {}
