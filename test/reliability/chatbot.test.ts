/**
 * The chatbot handoff under trouble (issue 17, fast versions): requests repeated three times,
 * RapidPro failing 30% of calls (errors, resets, lost answers, 429s), 30% of the flow's
 * webhooks dropped (recovered by polling), RapidPro's rate limit, and worker processes
 * killed mid-drain. Each drives handoffs both ways until converged (passes run here, or by
 * real workers for the crash); the figures come from what the simulators received: zero
 * duplicates, zero lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../src/simulators/faults.ts';
import { CHATBOT_CHANNEL_ID, setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { chatbotCrashDrain } from '../helpers/chatbot-reliability.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const SESSIONS = 6;
const MESSAGES = 3;

interface Expected {
  inbound: string[];
  outbound: string[];
}

/** Every session's client writes MESSAGES times (the first never dropped: it opens the handoff), and a counsellor answers each once. */
async function traffic(s: ChatbotSetup, options: { dropRate?: number; repeat?: number } = {}): Promise<Expected> {
  const expected: Expected = { inbound: [], outbound: [] };
  const opener = s.bot();
  const flaky = s.bot({ dropRate: options.dropRate ?? 0 });
  const token = await s.token();
  for (let n = 0; n < SESSIONS; n++) {
    const contact = s.rapidpro.addContact({ urn: `telegram:9${n}` }).uuid;
    for (let m = 0; m < MESSAGES; m++) {
      const text = `client ${n}.${m}`;
      expected.inbound.push(text);
      const { call } = await (m === 0 ? opener : flaky).say({ contact, session: `rel-${n}`, text });
      // The flow retrying what it sent: stored and imported once.
      for (let r = 1; r < (options.repeat ?? 1) && call.outcome === 'answered'; r++) await s.call('POST', 'chat/', { json: call.body, token });
    }
    const reply = `answer ${n}`;
    expected.outbound.push(`Ada: ${reply}`);
    for (let r = 0; r < (options.repeat ?? 1); r++) {
      const answer = await s.frontClient.message({ id: `msg_rel${n}`, channelId: CHATBOT_CHANNEL_ID, text: reply, to: [`rel-${n}#1`] });
      expect(answer.status).toBe(200);
    }
  }
  return expected;
}

/**
 * Passes until both sides hold what they should, for at most `withinMs` (a deadline, not a
 * count of rounds: under a rate limit the rounds a loaded machine needs vary); backoffs, poll
 * intervals and Retry-After made due at once.
 */
async function converge(s: ChatbotSetup, expected: Expected, options: { withinMs?: number; pollEveryRound?: boolean } = {}): Promise<{ duplicates: number; lost: number }> {
  const counts = () => {
    const inbox = s.front.inbox.map((m) => m.body).filter((b) => b.startsWith('client '));
    const sent = s.rapidpro.sent().map((m) => m.text);
    const extra = (seen: string[], want: string[]) => seen.length - new Set(seen).size + seen.filter((b) => !want.includes(b)).length;
    return {
      duplicates: extra(inbox, expected.inbound) + extra(sent, expected.outbound),
      lost: expected.inbound.filter((b) => !inbox.includes(b)).length + expected.outbound.filter((b) => !sent.includes(b)).length,
    };
  };
  const deadline = Date.now() + (options.withinMs ?? 20_000);
  for (let round = 0; Date.now() < deadline && counts().lost > 0; round++) {
    await s.pass(s.handoff);
    await s.pass(s.channel);
    await sql`UPDATE front_chatbot_channel_app_v1 SET next_attempt_at = NULL WHERE import_started_at IS NULL`.execute(s.engine.db);
    // Polling's once-a-minute per handoff, made due at once where the scenario needs it.
    if (options.pollEveryRound) await sql`UPDATE chatbot_handoffs SET polled_at = NULL`.execute(s.engine.db);
    await sql`UPDATE chatbot_rapidpro_usage SET blocked_until = NULL`.execute(s.engine.db);
    if (round > 10) await sleep(200);
  }
  return counts();
}

describe('chatbot handoff reliability', () => {
  it('stores, imports and sends once when every request comes three times', async () => {
    setup = await setUpChatbot(database());
    const expected = await traffic(setup, { repeat: 3 });
    expect(await converge(setup, expected)).toEqual({ duplicates: 0, lost: 0 });
    expect(setup.front.inbox.filter((m) => m.body.startsWith('client '))).toHaveLength(SESSIONS * MESSAGES);
  });

  it('converges with 30% of RapidPro calls failing, reset, throttled or losing their answer', async () => {
    setup = await setUpChatbot(database());
    const expected = await traffic(setup);
    const kinds: Fault[] = [{ kind: 'status', status: 500 }, { kind: 'reset' }, { kind: 'lost-response' }, { kind: 'status', status: 429, headers: { 'retry-after': '1' } }];
    Object.assign(setup.rapidpro.faults, { rate: 0.3, kinds });
    expect(await converge(setup, expected)).toEqual({ duplicates: 0, lost: 0 });
    expect(Object.values(setup.rapidpro.faults.injected).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('recovers by polling the 30% of client messages whose webhook the flow dropped', async () => {
    setup = await setUpChatbot(database());
    const expected = await traffic(setup, { dropRate: 0.3 });
    const dropped = setup.rapidpro.messages().filter((m) => m.direction === 'in').length - (await setup.requests()).filter((r) => r.kind === 'chat').length;
    expect(await converge(setup, expected, { pollEveryRound: true })).toEqual({ duplicates: 0, lost: 0 });
    expect((await setup.requests()).filter((r) => r.data.source === 'poll')).toHaveLength(dropped);
  });

  it('converges under RapidPro\'s rate limit (4 requests a second)', async () => {
    setup = await setUpChatbot(database(), [], { rapidpro: { rateLimit: { requests: 4, per: 'second' } } });
    const expected = await traffic(setup);
    expect(await converge(setup, expected, { withinMs: 45_000 })).toEqual({ duplicates: 0, lost: 0 });
    expect(setup.rapidpro.usage.throttled).toBeGreaterThan(0);
  }, 60_000);

  it('sends every reply to RapidPro once and loses no message or acknowledgement when workers are SIGKILLed mid-drain', { timeout: 180_000 }, async () => {
    const figures = await chatbotCrashDrain(database(), { sessions: 16, rounds: 3 });
    expect(figures).toMatchObject({ scenario: 'chatbot-crash', messages: 32, faultsInjected: 3, duplicates: 0, lost: 0 });
  });
});
