/** The one error shape every route answers with: `{error: {code, message}}`. */
import type { FastifyReply } from 'fastify';
import { ERRORS, type ErrorCode } from '../engine/errors.ts';

export function sendError(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  // 503 means "try again": tell the sender when.
  if (code === 'SB_ERR_DATABASE_UNAVAILABLE') reply.header('retry-after', '5');
  return reply.code(ERRORS[code].status).type('application/json').send({ error: { code, message } });
}
