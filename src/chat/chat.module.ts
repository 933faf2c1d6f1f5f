import { Module } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.tokens.js';
import { MessagesModule } from '../messages/messages.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ChatIdempotency } from './chat-idempotency.js';
import { createChatModel } from '../llm/providers.js';
import { ChatController } from './chat.controller.js';
import { RegenerateController } from './regenerate.controller.js';
import { ChatService } from './chat.service.js';
import { CHAT_MODEL } from './chat.tokens.js';
import { ContextBuilder } from './context-builder.js';
import { IdempotencyKeysRepository } from './idempotency-keys.repository.js';
import { InFlightReplies } from './in-flight-replies.js';
import { ReplyGenerator } from './reply-generator.js';
import { ReplyRecorder } from './reply-recorder.js';
import { ChatInstance } from './chat-instance.js';
import { GenerationsRepository } from './generations.repository.js';
import { InterruptedReplies } from './interrupted-replies.js';
import { ReplyChunkWriter } from './reply-chunk-writer.js';
import { ReplyRelay } from './reply-relay.js';
import { RunningRepliesController } from './running-replies.controller.js';
import { RunningRepliesService } from './running-replies.service.js';

/**
 * POST /api/v1/chat. The legacy POST /chat (src/legacy-chat/) builds on the parts it exports: the model's
 * context, the model call, the reply's metadata and the tracking of replies in flight.
 */
@Module({
  imports: [SessionsModule, MessagesModule],
  controllers: [ChatController, RunningRepliesController, RegenerateController],
  providers: [
    { provide: CHAT_MODEL, useFactory: createChatModel, inject: [APP_CONFIG] },
    IdempotencyKeysRepository,
    ChatIdempotency,
    ContextBuilder,
    ReplyRecorder,
    ReplyGenerator,
    InFlightReplies,
    ChatInstance,
    GenerationsRepository,
    ReplyChunkWriter,
    InterruptedReplies,
    ReplyRelay,
    ChatService,
    RunningRepliesService,
  ],
  exports: [ContextBuilder, ReplyRecorder, ReplyGenerator, InFlightReplies],
})
export class ChatModule {}
