/**
 * `switchboard ussd try <ref>`: plays a USSD integration's flow in the terminal through the
 * running server's real route, posting what the chosen gateway would post (the USSD
 * simulator's requests), so an operator can walk a new flow before going live. Each screen
 * is printed; each stdin line is the next keypress; it stops at END or when stdin ends.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { getCountryCallingCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js';
import { SwitchboardError } from '../../engine/errors.ts';
import { findIntegration } from '../../engine/integrations.ts';
import { msisdnToE164, parsePhoneFlag } from '../../providers/phone.ts';
import type { UssdHop, UssdSession } from '../../simulators/ussd.ts';
import { GATEWAYS, type GatewayName } from '../../ussd/types.ts';
import { config, withRuntime, writeLine, type CliContext } from '../context.ts';

interface TryOptions {
  gateway?: string;
  msisdn?: string;
  url?: string;
  serviceCode?: string;
}

const isGateway = (name: string): name is GatewayName => (GATEWAYS as readonly string[]).includes(name);

/**
 * The default caller: a number of the region that has the right length but lies in no
 * assigned range (libphonenumber: possible, not valid), so a counsellor's SMS reply to a try
 * cannot reach a real person. It must read back the same when sent without '+'.
 */
export function testCaller(region: string): string {
  if (isSupportedCountry(region)) {
    const code = getCountryCallingCode(region);
    for (const length of [9, 10, 8, 11]) {
      for (const lead of '123456789') {
        const candidate = `+${code}${lead}${'0'.repeat(length - 1)}`;
        const parsed = parsePhoneNumberFromString(candidate);
        if (parsed?.isPossible() && !parsed.isValid() && msisdnToE164(candidate.slice(1), region) === candidate) return candidate;
      }
    }
  }
  throw new SwitchboardError('SB_ERR_USAGE', `no unassigned test number is known for region ${region}; give one with --msisdn`);
}

/** Why the server refused a hop, and what to do about it. */
function refusal(hop: UssdHop, base: string): string {
  let message = hop.body.slice(0, 200);
  try {
    message = (JSON.parse(hop.body) as { error?: { message?: string } }).error?.message ?? message;
  } catch {
    // Not our JSON error: show the start of the body as it came.
  }
  const hints: Record<number, string> = {
    401: "the integration's --ip-allowlist must include this machine's address (127.0.0.1 when the server runs here), and --service-code must match a pinned one",
    404: `is ${base} the server of this database? set PUBLIC_URL or --url`,
    429: 'this caller sent more than --max-hops-per-minute hops; wait a minute or use another --msisdn',
  };
  const hint = hints[hop.status];
  return `the server answered ${hop.status}: ${message}${hint ? `\n  ${hint}` : ''}`;
}

async function play(ctx: CliContext, session: UssdSession, first: UssdHop, base: string): Promise<void> {
  const reader = createInterface({ input: ctx.stdin, terminal: false });
  try {
    await playLines(ctx, session, first, base, reader[Symbol.asyncIterator]());
  } finally {
    // An open reader on a terminal would keep the process alive after END.
    reader.close();
  }
}

async function playLines(ctx: CliContext, session: UssdSession, first: UssdHop, base: string, lines: AsyncIterator<string>): Promise<void> {
  let hop = first;
  for (;;) {
    if (hop.status !== 200) {
      ctx.stderr.write(`error: ${refusal(hop, base)}\n`);
      ctx.exitCode = 1;
      return;
    }
    writeLine(ctx, hop.screen.text);
    if (hop.screen.end) return writeLine(ctx, '[END]');
    if (ctx.stdin.isTTY) ctx.stdout.write('> ');
    const line = await lines.next();
    if (line.done) {
      // A hang-up: gateways that say so get told; for the others the sweeper closes the session.
      const released = await session.release();
      return writeLine(ctx, released ? '[hung up: session released]' : '[hung up: the session closes after SWITCHBOARD_USSD_SESSION_TIMEOUT_S]');
    }
    hop = await session.send(line.value);
  }
}

export function registerUssd(program: Command, ctx: CliContext): void {
  const ussd = program.command('ussd').description('USSD tools');
  ussd
    .command('try <ref>')
    .description("play a USSD integration's flow here through the running server, as a gateway would; stdin lines are the keypresses")
    .option('--gateway <name>', `the request format: ${GATEWAYS.join(', ')} (default: the integration's --gateway, else that of its last hop, else africastalking)`)
    .option('--msisdn <number>', "the caller (default: an unassigned number of the integration's region)")
    .option('--url <base>', "the server's base URL (default PUBLIC_URL, else http://localhost:PORT)")
    .option('--service-code <code>', "the dial string (default: the integration's pinned --service-code, else the gateway's usual one)")
    .action(async (ref: string, options: TryOptions) => {
      if (options.gateway !== undefined && !isGateway(options.gateway)) throw new SwitchboardError('SB_ERR_USAGE', `unknown gateway "${options.gateway}"; one of ${GATEWAYS.join(', ')}`);
      const cfg = config(ctx);
      const { ussdRequestV1 } = await import('../../replicators/ussd-request-v1/index.ts');
      const { integration, lastGateway } = await withRuntime(ctx, async (rt) => {
        const found = await findIntegration(rt.engine.db, ref);
        const service = ussdRequestV1.name;
        if (found.service_name !== service) throw new SwitchboardError('SB_ERR_USAGE', `integration ${found.id} is a ${found.service_name}, not a ${service}`);
        // The gateway this integration really hears from, so a try speaks its format.
        const last = await rt.engine.db.selectFrom('ussd_request_v1').select('gateway').where('integration_id', '=', found.id).orderBy('pk', 'desc').limit(1).executeTakeFirst();
        return { integration: found, lastGateway: last?.gateway };
      });
      const { settings } = integration;
      const known = [settings.gateway, lastGateway].find((name): name is GatewayName => typeof name === 'string' && isGateway(name));
      const gateway = options.gateway ?? known ?? 'africastalking';
      const region = typeof settings.region === 'string' ? settings.region : cfg.defaultPhoneRegion;
      const msisdn = options.msisdn ? parsePhoneFlag(options.msisdn, region) : testCaller(region);
      const pinned = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
      const base = (options.url ?? cfg.publicUrl).replace(/\/+$/, '');
      const url = `${base}/v1/ussd/${gateway}/${integration.opaque_id}`;
      writeLine(ctx, `[${gateway} → ${base}, caller ${msisdn}; a line per keypress, end of input hangs up]`);
      try {
        // The gateway requests come from the USSD simulator, loaded only here: --help stays light.
        const { dial } = await import('../../simulators/ussd.ts');
        const { session, first } = await dial(url, { gateway, msisdn, serviceCode: options.serviceCode ?? pinned(settings.service_code), userId: pinned(settings.gateway_user_id) });
        await play(ctx, session, first, base);
      } catch (error) {
        // undici's connection errors carry a code; anything else is an answer the gateway would not read.
        const unreachable = typeof (error as { code?: unknown }).code === 'string';
        ctx.stderr.write(`error: ${unreachable ? `cannot reach ${base}: is the server running? set PUBLIC_URL or --url` : (error as Error).message}\n`);
        ctx.exitCode = 1;
      }
    });
}
