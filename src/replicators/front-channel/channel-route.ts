/**
 * `POST|DELETE /v1/install/<app>/channel`: the one URL Front calls for every channel of an
 * app; the bearer token (the integration's API key) says which one. Checks in WebhookDB's
 * order: 400 bad or missing `type` → 401 API key → 401 Front signature → 200 with the
 * synchronous body. Message rows are committed before we answer.
 */
import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import { requestBackfill } from '../../engine/backfill-queue.ts';
import { invalidPayload, SwitchboardError } from '../../engine/errors.ts';
import { commitWebhookRows } from '../../engine/group-commit.ts';
import type { Engine } from '../../engine/engine.ts';
import { integrationByApiKey } from '../../engine/integration-cache.ts';
import { deleteIntegration } from '../../engine/integrations.ts';
import { verifyFrontSignature } from '../../providers/front/signature.ts';
import { mayBeLargeBody, toWebhookRequest } from '../../http/webhook-request.ts';
import { recordImported } from './imported.ts';
import { CHANNEL_TYPES, type ChannelType } from './rows.ts';


const unauthorized = (message: string) => new SwitchboardError('SB_ERR_UNAUTHORIZED', message);

/** The integration whose API key the Authorization header carries, else 401. */
async function keyHolder(engine: Engine, authorization: string | undefined, service: string) {
  if (!authorization) throw unauthorized('Missing Authorization header');
  if (!authorization.startsWith('Bearer ')) throw unauthorized('Expected Bearer authorization');
  const integration = await integrationByApiKey(engine, authorization.slice('Bearer '.length).trim());
  if (!integration || integration.service_name !== service) throw unauthorized('Invalid API key');
  return integration;
}

/** The route of one Front channel app: its path, and the service whose integrations answer there. */
export const channelRoutes = (path: string, service: string): FastifyPluginAsync<{ engine: Engine }> => async (app, { engine }) => {
  app.addHook('onRequest', async (request) => {
    request.webhookLog = { integrationId: null, reason: null };
  });

  app.route({
    method: ['POST', 'DELETE'],
    url: path,
    // A large body is refused on its API key before it is read or parsed (and its connection closed, not drained).
    onRequest: async (request, reply) => {
      if (!mayBeLargeBody(request)) return;
      reply.header('connection', 'close');
      await keyHolder(engine, request.headers.authorization, service);
      reply.removeHeader('connection');
    },
    handler: async (request, reply) => {
      const webhook = toWebhookRequest(request, engine.config.publicUrl);
      const body = webhook.body as { type?: unknown; payload?: { channel_id?: unknown } } | null;
      if (!body || typeof body !== 'object' || !CHANNEL_TYPES.includes(body.type as ChannelType)) {
        throw new SwitchboardError('SB_ERR_BAD_REQUEST', `type is missing or not one of ${CHANNEL_TYPES.join(', ')}`);
      }
      const type = body.type as ChannelType;
      if ((request.method === 'DELETE') !== (type === 'delete')) {
        throw new SwitchboardError('SB_ERR_BAD_REQUEST', `type ${type} does not go with ${request.method}`);
      }

      const integration = await keyHolder(engine, webhook.headers.authorization, service);
      request.webhookLog!.integrationId = integration.id;

      const secret = engine.config.front.appSecret;
      if (!secret) {
        request.log.error('FRONT_CHANNEL_APP_SECRET is not set: Front channel requests cannot be verified');
        throw unauthorized('channel app secret not configured');
      }
      const verification = verifyFrontSignature(secret, webhook.headers, webhook.rawBody.toString('utf8'), type === 'delete');
      if (!verification.ok) throw unauthorized(verification.reason);
      request.webhookLog!.authenticated = true;

      reply.code(200).type('application/json');
      switch (type) {
        case 'authorization': {
          const channelId = body.payload?.channel_id;
          if (typeof channelId !== 'string' || !channelId) throw invalidPayload('payload.channel_id is required');
          await engine.db.transaction().execute(async (trx) => {
            await trx.updateTable('service_integrations').set({ backfill_key: channelId, updated_at: sql<Date>`now()` }).where('id', '=', integration.id).execute();
            // Messages waiting for a channel can go now.
            await requestBackfill(trx, integration.id, { trigger: 'authorization' });
          });
          return JSON.stringify({ type: 'success', webhook_url: `${engine.config.publicUrl}${path}` });
        }
        case 'message':
        case 'message_autoreply': {
          const toRows = engine.registry.get(service).toRows!;
          const rows = await commitWebhookRows(engine, integration, toRows(body, { integration, config: engine.config }));
          return JSON.stringify({
            type: 'success',
            external_id: rows.map((r) => r.key).join(','),
            external_conversation_id: rows.map((r) => r.columns.external_conversation_id).join(','),
          });
        }
        case 'delete':
          await deleteIntegration(engine.db, engine.registry, integration);
          return '{}';
        case 'message_imported':
          await recordImported(engine, integration, body);
          return '{}';
      }
    },
  });
};
