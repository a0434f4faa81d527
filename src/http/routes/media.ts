/** `GET /v1/media/:id/:filename`: media we host for providers, only with a valid signed URL. */
import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../../engine/ingest.ts';
import { loadMedia } from '../../engine/media-store.ts';
import { sendError } from '../reply-error.ts';

export const mediaRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  app.get<{ Params: { id: string; filename: string }; Querystring: { expires?: string; sig?: string } }>('/v1/media/:id/:filename', async (request, reply) => {
    const { expires = '', sig = '' } = request.query;
    if (!/^[0-9a-f]{32}$/.test(request.params.id)) return sendError(reply, 'SB_ERR_NOT_FOUND', 'no such media');
    const media = await loadMedia(engine.db, request.params.id, expires, sig);
    if (!media.found) {
      return media.reason === 'unknown'
        ? sendError(reply, 'SB_ERR_NOT_FOUND', 'no such media')
        : sendError(reply, 'SB_ERR_UNAUTHORIZED', `media URL ${media.reason}`);
    }
    // Whatever Front said the type was, never let a browser run it on our domain.
    const inline = /^(image|audio|video)\//.test(media.contentType);
    return reply
      .type(media.contentType)
      .header('cache-control', 'private, max-age=60')
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="${encodeURIComponent(media.filename)}"`)
      .send(media.bytes);
  });
};
