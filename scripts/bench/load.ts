/**
 * The load generator, run as its own process so it does not share a CPU budget with the
 * bench's simulators: autocannon POSTs freshly signed provider requests (a new message
 * each) to one URL for a while, at as many connections as asked, and prints
 * {rps, p50, p99, ok, failed} as JSON on stdout.
 *
 *   node --import tsx scripts/bench/load.ts '<LoadSpec JSON>'
 */
import { createHash } from 'node:crypto';
import autocannon from 'autocannon';
import { frontMessage, signalwireInbound, whatsappInbound, type SignedRequest, type WhatsAppNumber } from './payloads.ts';

export type LoadSpec = {
  /** Where requests go (ours or the baseline server). */
  target: string;
  durationS: number;
  connections: number;
  /** Keeps message ids unique across runs on one database. */
  prefix: string;
} & (
  | { kind: 'signalwire'; signedUrl: string; signingKey: string; accountSid: string; to: string }
  | { kind: 'front'; appSecret: string; apiKey: string; channelId: string }
  | ({ kind: 'whatsapp' } & WhatsAppNumber)
);

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  /** The first non-2xx answer, to say why requests failed. */
  firstFailure: string | null;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
let n = 0;
const next = (): SignedRequest => {
  const id = `${spec.prefix}${(n++).toString(36)}`;
  switch (spec.kind) {
    case 'signalwire':
      return signalwireInbound({ url: spec.signedUrl, signingKey: spec.signingKey, accountSid: spec.accountSid, sid: `SM${createHash('md5').update(id).digest('hex')}`, to: spec.to, body: `load ${id}` });
    case 'whatsapp':
      return whatsappInbound({ ...spec, wamid: `wamid.${createHash('md5').update(id).digest('base64url')}`, body: `load ${id}` });
    case 'front':
      return frontMessage({ appSecret: spec.appSecret, apiKey: spec.apiKey, channelId: spec.channelId, id: `msg_${id}`, text: `load ${id}` });
  }
};

let firstFailure: string | null = null;
const result = await autocannon({
  url: spec.target,
  method: 'POST',
  connections: spec.connections,
  duration: spec.durationS,
  requests: [
    {
      setupRequest: (request) => {
        const { headers, body } = next();
        return { ...request, headers, body };
      },
      onResponse: (status, body) => {
        if (status >= 300) firstFailure ??= `${status} ${body}`;
      },
    },
  ],
});
const ok = result['2xx'];
const output: LoadResult = {
  rps: ok / (result.duration || spec.durationS),
  p50: result.latency.p50,
  p99: result.latency.p99,
  ok,
  failed: result.non2xx + result.errors + result.timeouts,
  firstFailure,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
