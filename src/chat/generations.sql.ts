/**
 * The statements a chat exchange adds for its reply's generation record (chat_generations), in a module that
 * loads neither Nest nor Prisma, so the benchmarks' bare server sends the very same text.
 */

/**
 * GenerationsRepository.insert, in the transaction that commits the user message. Parameters: assistant
 * message id, session id, owner, user message id, instance id, Idempotency-Key (or NULL), provider, model.
 */
export const INSERT_GENERATION = `INSERT INTO chat_generations
              (message_id, session_id, user_id, user_message_id, instance_id, idempotency_key, provider, model)
       VALUES ($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, $6, $7, $8)`;

/** GenerationsRepository.delete, in the transaction that saves the reply: its record and its chunks go. */
export const END_GENERATION = `WITH chunks AS (DELETE FROM chat_generation_chunks WHERE message_id = $1::uuid)
       DELETE FROM chat_generations WHERE message_id = $1::uuid`;
