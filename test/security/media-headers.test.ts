/**
 * Issue 13 item 7: hosted media cannot carry script onto our origin. Every file is served
 * with a sandboxing CSP and nosniff; only raster images, audio and video show inline, and
 * SVG and HTML (the review's reproduction: an image/svg+xml Front attachment) download.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMedia } from '../../src/engine/media-store.ts';
import { buildApp } from '../../src/http/app.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';

const database = useTestDatabase();
let app: FastifyInstance;
let base: string;
let integrationId: number;

beforeAll(async () => {
  const engine = testEngine(database().db);
  integrationId = (await createExamplePair(engine)).deliveries.id;
  app = await buildApp({ engine, config: { bodyLimit: 4096 } });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => app.close());

const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/api/v1/dashboard/overview")</script></svg>';

describe('GET /v1/media/:id/:filename', () => {
  it.each([
    ['image/svg+xml', 'pic.svg', 'attachment'],
    ['text/html', 'page.html', 'attachment'],
    ['text/html; charset=utf-8', 'page.htm', 'attachment'],
    ['application/xhtml+xml', 'page.xhtml', 'attachment'],
    ['application/pdf', 'doc.pdf', 'attachment'],
    ['image/png', 'pic.png', 'inline'],
    ['image/jpeg', 'pic.jpg', 'inline'],
    ['audio/mpeg', 'voice.mp3', 'inline'],
    ['video/mp4', 'clip.mp4', 'inline'],
  ])('serves %s sandboxed, as %s', async (contentType, filename, disposition) => {
    const url = await storeMedia(database().db, base, { integrationId, filename, contentType, bytes: Buffer.from(svg) });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toMatch(/(^|; )sandbox($|;)/);
    expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-disposition')).toBe(`${disposition}; filename="${filename}"`);
    expect(await response.text()).toBe(svg);
  });
});
