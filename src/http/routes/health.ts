/** `GET /healthz`: 200 only when the database answers, for load balancers and probes. */
import { sql } from 'kysely';
import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { sendError } from '../reply-error.ts';

const HEALTH_TIMEOUT_MS = 2000;

export const healthRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  app.get('/healthz', async (_request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), HEALTH_TIMEOUT_MS);
    });
    try {
      await Promise.race([sql`SELECT 1`.execute(engine.db), timeout]);
      return reply.send({ status: 'ok' });
    } catch {
      return sendError(reply, 'SB_ERR_DATABASE_UNAVAILABLE', 'database does not answer');
    } finally {
      clearTimeout(timer);
    }
  });
};
