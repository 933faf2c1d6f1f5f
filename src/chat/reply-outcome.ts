import { AppError } from '../common/app-error.js';
import type { Generation } from './chat-generation.js';

/** Finish reasons of a call that did not end by the model's own choice. */
export const INTERRUPTED: ReadonlySet<string> = new Set(['error', 'aborted', 'shutdown']);

/** A reply is saved when any text arrived, or when the model finished normally (even with empty text). */
export function replyIsSaved(generation: Generation): boolean {
  return generation.text.length > 0 || !INTERRUPTED.has(generation.finishReason);
}

/** The error a client sees when no reply was saved: 504, 502, or 503 when the call was interrupted. */
export function failureOf(generation: Generation): AppError {
  if (generation.error?.code === 'provider_timeout')
    return new AppError('provider_timeout', generation.error.message);
  if (generation.error) return new AppError('provider_error', generation.error.message);
  if (generation.finishReason === 'shutdown')
    return new AppError('unavailable', 'The service is shutting down; try again shortly');
  return new AppError('unavailable', 'The reply was interrupted before it began');
}
