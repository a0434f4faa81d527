/** `GET /v1/media/:id/:filename`: media we host for providers, only with a valid signed URL. */
import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../../engine/ingest.ts';
import { loadMedia } from '../../engine/media-store.ts';
import { sendError } from '../reply-error.ts';

export const mediaRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  app.get<{ Params: { id: string; filename: string }; Querystring: { expires?: string; sig?: string } }>('/v1/media/:id/:filename', async (request, reply) => {
    const { expires = '', sig = '' } = request.query;
    const media = await loadMedia(engine.db, request.params.id, expires, sig);
    if (!media.found) {
      return media.reason === 'unknown'
        ? sendError(reply, 'SB_ERR_NOT_FOUND', 'no such media')
        : sendError(reply, 'SB_ERR_UNAUTHORIZED', `media URL ${media.reason}`);
    }
    return reply.type(media.contentType).header('cache-control', 'private, max-age=60').send(media.bytes);
  });
};
