/**
 * `GET /v1/media/:id/:filename`: media we host for providers, only with a valid signed URL.
 * The bytes come from Front attachments, i.e. from anyone who can write to the helpline, and
 * are served at the dashboard's origin: never as something a browser would run.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { loadMedia } from '../../engine/media-store.ts';
import { sendError } from '../reply-error.ts';

/** Raster images, audio and video (what MMS carries) may show inline; SVG, HTML and anything else is a download. */
const INLINE_TYPES = /^(?:image\/(?:jpeg|png|gif|webp|bmp|avif|heic|heif)|audio\/[\w.+-]+|video\/[\w.+-]+)$/;
const showsInline = (contentType: string) => INLINE_TYPES.test(contentType.split(';')[0]!.trim().toLowerCase());

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
    return reply
      .type(media.contentType)
      .header('cache-control', 'private, max-age=60')
      // Whatever Front said the type was, never let a browser run it on our domain.
      .header('content-security-policy', "default-src 'none'; sandbox")
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', `${showsInline(media.contentType) ? 'inline' : 'attachment'}; filename="${encodeURIComponent(media.filename)}"`)
      .send(media.bytes);
  });
};
