import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import pg from 'pg';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { ChatInstance } from './chat-instance.js';
import { GenerationsRepository } from './generations.repository.js';
import { InterruptedReplies } from './interrupted-replies.js';
import { CHUNKS_CHANNEL } from './reply-chunk-writer.js';

/** The PostgreSQL channel of stop requests (payload: the assistant message id). */
export const STOP_CHANNEL = 'parley_reply_stop';
/** How often this instance says it is alive. */
export const HEARTBEAT_MS = 1000;
/** An instance silent this long is dead: its replies are finished as `interrupted`. */
export const DEAD_AFTER_MS = 5000;
/** Every this many heartbeats, this instance's own records of replies it no longer generates are finished. */
const LOST_CHECK_TICKS = 10;
/** A record must be this old before it counts as lost (a reply is recorded just before it starts here). */
const LOST_AFTER_MS = 30_000;
/** How often a reader polls when no notification can reach it (CHAT_RELAY=poll, or LISTEN is down). */
export const POLL_MS = 200;

/**
 * What ties the instances together through PostgreSQL alone: one LISTEN connection per instance (to
 * DATABASE_DIRECT_URL when set: a transaction-mode pooler cannot hold a LISTEN) for chunk batches and stop
 * requests, both carrying ids only; this instance's heartbeat; and, on every tick, the replies of dead
 * instances finished by InterruptedReplies. With CHAT_RELAY=poll, or while the LISTEN connection is down,
 * readers poll and stop requests are read from chat_generations.stop_requested_at. On the embedded database
 * everything is in this process; only the heartbeat and the finishing of a previous run's replies remain.
 */
@Injectable()
export class ReplyRelay implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ReplyRelay');
  private listener?: pg.Client;
  private listening = false;
  private closed = false;
  private heartbeatTimer?: NodeJS.Timeout;
  private stopPollTimer?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  /** Readers waiting for a batch of a given instance. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private ticking = false;
  private ticks = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly instance: ChatInstance,
    private readonly generations: GenerationsRepository,
    private readonly interrupted: InterruptedReplies,
  ) {}

  async onModuleInit(): Promise<void> {
    // The heartbeat first, then the replies of instances that died (on the embedded database: all others).
    await this.tick();
    this.heartbeatTimer = setInterval(() => void this.tick(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    if (this.db.kind !== 'postgres') return;
    if (this.config.CHAT_RELAY === 'listen') await this.listen();
    this.stopPollTimer = setInterval(() => {
      if (!this.listening) void this.pollStops();
    }, POLL_MS);
    this.stopPollTimer.unref();
  }

  /** Whether notifications reach this instance now (else readers poll). */
  get notified(): boolean {
    return this.listening;
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const sql = this.db.maintenance();
      await this.generations.heartbeat(sql, this.instance.id);
      const orphaned = await this.generations.orphaned(
        sql,
        this.instance.id,
        DEAD_AFTER_MS,
        this.db.kind === 'pglite',
      );
      for (const messageId of orphaned) await this.interrupted.finish(messageId);
      // A reply of this instance that is no longer generated here but whose record stayed (saving it failed,
      // e.g. the database was unreachable at that moment) is finished the same way, so that nobody waits for it.
      if (++this.ticks % LOST_CHECK_TICKS === 0) {
        const mine = await this.generations.ofInstance(sql, this.instance.id, LOST_AFTER_MS);
        for (const messageId of mine)
          if (!this.instance.reply(messageId)) await this.interrupted.finish(messageId);
      }
      if (Math.random() < HEARTBEAT_MS / 60_000) await this.generations.sweep(sql);
    } catch (error) {
      if (!this.closed) this.logger.warn(`chat instance heartbeat failed: ${(error as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private async listen(): Promise<void> {
    let client: pg.Client | undefined;
    const retry = () => {
      this.listening = false;
      if (client && this.listener === client) this.listener = undefined;
      void client?.end().catch(() => undefined);
      if (this.closed || this.reconnectTimer) return;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        void this.listen();
      }, 1000);
      this.reconnectTimer.unref();
    };
    try {
      client = await this.db.openDirectConnection('parley-relay');
      if (!client) return;
      client.on('error', (error) => {
        this.logger.warn(`the LISTEN connection failed (polling meanwhile): ${error.message}`);
        retry();
      });
      client.on('end', () => retry());
      client.on('notification', (message) => this.onNotification(message.channel, message.payload ?? ''));
      await client.query(`LISTEN ${CHUNKS_CHANNEL}; LISTEN ${STOP_CHANNEL}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.listener = client;
      this.listening = true;
      // Anything announced while nobody listened is read now.
      this.wakeAll();
    } catch (error) {
      this.logger.warn(`cannot LISTEN (polling meanwhile): ${(error as Error).message}`);
      retry();
    }
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === STOP_CHANNEL) this.instance.reply(payload)?.stop();
    else if (channel === CHUNKS_CHANNEL) this.wake(payload);
  }

  /** The polling fallback of stop notifications: this instance's replies someone asked to stop. */
  private async pollStops(): Promise<void> {
    if (this.instance.replies === 0 || this.closed) return;
    try {
      const ids = await this.generations.stopRequested(this.db.maintenance(), this.instance.id);
      for (const id of ids) this.instance.reply(id)?.stop();
    } catch (error) {
      this.logger.warn(`reading stop requests failed: ${(error as Error).message}`);
    }
  }

  /** Tells the instance generating `messageId` to stop it (on PostgreSQL; the caller stops a local one). */
  async announceStop(messageId: string): Promise<void> {
    if (this.db.kind === 'postgres') {
      await this.generations.notify(this.db.maintenance(), STOP_CHANNEL, messageId);
    }
  }

  /**
   * Resolves when instance `instanceId` has written a batch, or after a poll interval (at most `maxMs`
   * when notifications arrive, POLL_MS when they cannot), or when `signal` aborts.
   */
  nextBatch(instanceId: string, signal: AbortSignal, maxMs = 1000): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.waiting.get(instanceId) ?? new Set<() => void>();
      this.waiting.set(instanceId, waiters);
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiting.get(instanceId) === waiters) this.waiting.delete(instanceId);
        resolve();
      };
      const timer = setTimeout(done, this.listening ? maxMs : POLL_MS);
      signal.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }

  private wake(instanceId: string): void {
    for (const wake of [...(this.waiting.get(instanceId) ?? [])]) wake();
  }

  private wakeAll(): void {
    for (const instanceId of [...this.waiting.keys()]) this.wake(instanceId);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.stopPollTimer);
    clearTimeout(this.reconnectTimer);
    this.wakeAll();
    const listener = this.listener;
    this.listener = undefined;
    this.listening = false;
    await listener?.end().catch(() => undefined);
  }
}
