/**
 * The ingest floor: a bare node:http server that does what any webhook receiver must —
 * read the body, find the message id, one `INSERT ... ON CONFLICT` into Postgres — and
 * nothing else (no signature check, no routing framework, no transaction). Same Postgres
 * and pool size as the server it is compared with; its table is made by ingest.ts.
 * Prints its port on stdout.
 *
 *   DATABASE_URL=... POOL_SIZE=12 node --import tsx scripts/bench/baseline-server.ts
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 12) });

interface JsonBody {
  /** Front's channel `message`. */
  payload?: { id?: string };
  /** Meta's WhatsApp webhook. */
  entry?: { changes?: { value?: { messages?: { id?: string }[] } }[] }[];
}

/** The message id and the payload as jsonb text: form bodies (SignalWire) or JSON (Front, WhatsApp). */
function parse(contentType: string, raw: string): [string, string] {
  if (contentType.startsWith('application/json')) {
    const body = JSON.parse(raw) as JsonBody;
    return [String(body.payload?.id ?? body.entry?.[0]?.changes?.[0]?.value?.messages?.[0]?.id), raw];
  }
  const form = Object.fromEntries(new URLSearchParams(raw));
  return [String(form.MessageSid), JSON.stringify(form)];
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const [key, data] = parse(req.headers['content-type'] ?? '', Buffer.concat(chunks).toString('utf8'));
    pool
      .query('INSERT INTO bench_baseline (key, data) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data', [key, data])
      .then(() => {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end('<Response></Response>');
      })
      .catch((error: Error) => {
        res.writeHead(500);
        res.end(error.message);
      });
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => void pool.end()));
