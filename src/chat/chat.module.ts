import { DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
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
import { LegacyChatController } from './legacy-chat.controller.js';
import { LegacyChatService } from './legacy-chat.service.js';

/**
 * POST /api/v1/chat and, unless LEGACY_CHAT_ENABLED is false, the legacy POST /chat (when it is off the route
 * does not exist: 404 like any unknown path, and absent from the OpenAPI document).
 */
@Module({})
export class ChatModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ChatModule,
      imports: [ProjectsModule, SessionsModule, MessagesModule],
      controllers: config.LEGACY_CHAT_ENABLED ? [ChatController, LegacyChatController] : [ChatController],
      providers: [
        { provide: CHAT_MODEL, useFactory: createChatModel, inject: [APP_CONFIG] },
        ChatRepository,
        ChatIdempotency,
        ChatEngine,
        ChatService,
        LegacyChatService,
      ],
    };
  }
}
