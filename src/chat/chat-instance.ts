import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { LiveReply } from './live-reply.js';

/**
 * This process as a chat instance: its id (new at every start, recorded on the replies it generates and in
 * chat_instances with its heartbeat), and the replies it is generating now, by assistant message id.
 */
@Injectable()
export class ChatInstance {
  readonly id = randomUUID();
  private readonly live = new Map<string, LiveReply>();

  add(reply: LiveReply): void {
    this.live.set(reply.messageId, reply);
  }

  remove(reply: LiveReply): void {
    if (this.live.get(reply.messageId) === reply) this.live.delete(reply.messageId);
  }

  reply(messageId: string): LiveReply | undefined {
    return this.live.get(messageId);
  }

  get replies(): number {
    return this.live.size;
  }
}
