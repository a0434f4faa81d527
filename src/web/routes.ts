/**
 * The web dashboard: `GET /` and `/assets/*` serve the page (no data in them, so no
 * token), and `/api/v1/dashboard/*` serves the data as JSON behind the admin token
 * (web/admin-token.ts). The page polls these every few seconds to show convergence live.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../engine/engine.ts';
import { sendError } from '../http/reply-error.ts';
import { adminGuard } from './admin-token.ts';
import { indexHtml, loadDashboardAssets, type DashboardAssets } from './assets.ts';
import * as queries from './queries.ts';

export interface DashboardOptions {
  engine: Engine;
  /** Demo mode: the page also shows the simulator pages (phone, Front inbox). */
  demo: boolean;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

const conversationQuery = z.object({ unanswered: z.enum(['true', 'false']).optional(), q: z.string().max(64).optional() });
const webhookQuery = z.object({ rejected: z.enum(['true', 'false']).optional(), before: z.coerce.number().int().positive().optional() });

export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, { engine, demo }) => {
  let assets: Promise<DashboardAssets> | undefined;
  const loadAssets = () => (assets ??= loadDashboardAssets(engine.log).catch((error: unknown) => {
    assets = undefined;
    throw error;
  }));

  app.get('/', async (_request, reply) => reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(indexHtml(await loadAssets())));
  app.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const loaded = await loadAssets();
    const file = request.params.file;
    if (file !== 'main.js' && file !== 'main.css') return sendError(reply, 'SB_ERR_NOT_FOUND', 'no such asset');
    return reply
      .headers(SECURITY_HEADERS)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(file === 'main.js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8')
      .send(file === 'main.js' ? loaded.js : loaded.css);
  });

  await app.register(async (api) => {
    api.addHook('preHandler', adminGuard(engine.db, engine.config.adminToken));
    api.addHook('onSend', async (_request, reply) => {
      reply.header('cache-control', 'no-store');
    });
    api.get('/session', async () => ({ demo }));
    api.get('/overview', async () => queries.overview(engine));
    api.get('/conversations', async (request, reply) => {
      const query = conversationQuery.safeParse(request.query);
      if (!query.success) return sendError(reply, 'SB_ERR_BAD_REQUEST', 'unanswered must be true or false; q at most 64 characters');
      return { conversations: await queries.conversations(engine.db, { unanswered: query.data.unanswered === 'true', ...(query.data.q ? { search: query.data.q } : {}) }) };
    });
    api.get<{ Params: { id: string } }>('/conversations/:id', async (request) => ({
      conversation_id: request.params.id,
      messages: await queries.conversationMessages(engine.db, request.params.id),
    }));
    api.get('/jobs', async () => ({ ...(await queries.jobs(engine.db)), backfills: await queries.backfillRuns(engine.db) }));
    api.get('/webhooks', async (request, reply) => {
      const query = webhookQuery.safeParse(request.query);
      if (!query.success) return sendError(reply, 'SB_ERR_BAD_REQUEST', 'rejected must be true or false; before a positive id');
      return { requests: await queries.webhookLog(engine.db, { rejected: query.data.rejected === 'true', ...(query.data.before ? { before: query.data.before } : {}) }) };
    });
  }, { prefix: '/api/v1/dashboard' });
};
