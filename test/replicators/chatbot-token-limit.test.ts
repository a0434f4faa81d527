/**
 * The password-guessing defence of the chatbot's `POST token/`, over real HTTP and Postgres:
 * per address, ten wrong tries a window, then 429 with Retry-After without the password
 * being checked, while the bot's own address signs in; per integration, a hundred from all
 * addresses, which spares an address that signed in before; the window's end lifts a
 * lockout; quiet addresses are forgotten; the lockout is logged once, with neither username
 * nor password.
 * Client addresses come from X-Forwarded-For, this machine being the trusted proxy.
 */
import { sql } from 'kysely';
import pino from 'pino';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FAILURES_PER_ADDRESS, FAILURES_PER_INTEGRATION } from '../../src/replicators/chatbot-handoff-v1/login-limit.ts';
import { setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => setup?.close());

/** The test's window: short enough that Retry-After shows it is the configured one. */
const WINDOW_S = 60;
const BOT = '10.0.0.1';
const STRANGER = '203.0.113.7';

async function start() {
  setup = await setUpChatbot(database(), [], { env: { SWITCHBOARD_TRUST_PROXY: '127.0.0.1', SWITCHBOARD_CHATBOT_LOGIN_WINDOW_S: String(WINDOW_S) } });
  return setup;
}

async function login(s: ChatbotSetup, address: string, credentials: { username: string; password: string }) {
  const response = await fetch(`${s.created.api_base_url}token/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify(credentials),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any };
}

const right = (s: ChatbotSetup) => ({ username: s.created.username as string, password: s.created.password as string });
const wrong = (s: ChatbotSetup, n: number) => ({ username: s.created.username as string, password: `guess number ${n}` });

/** The engine's log lines from here on. */
function captureLog(s: ChatbotSetup): string[] {
  const lines: string[] = [];
  s.engine.log = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) }));
  return lines;
}

describe('POST token/ against password guessing', () => {
  it('after ten wrong tries an address gets 429 with Retry-After, even with the right password; the bot at its own address still signs in', async () => {
    const s = await start();
    const log = captureLog(s);
    for (let n = 0; n < FAILURES_PER_ADDRESS; n++) expect((await login(s, STRANGER, wrong(s, n))).status).toBe(401);

    const locked = await login(s, STRANGER, wrong(s, 99));
    expect(locked.status).toBe(429);
    expect(locked.body.error).toEqual({ code: 'SB_ERR_RATE_LIMITED', message: expect.stringContaining('from this address') });
    expect(Number(locked.retryAfter)).toBeGreaterThan(0);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(WINDOW_S);
    // Not checked at all: the right password is refused alike.
    expect((await login(s, STRANGER, right(s))).status).toBe(429);

    const bot = await login(s, BOT, right(s));
    expect(bot.status).toBe(200);
    expect(bot.body.token).toEqual(expect.any(String));

    const lockouts = log.filter((line) => line.includes('locked out'));
    expect(lockouts).toHaveLength(1);
    expect(JSON.parse(lockouts[0]!)).toMatchObject({ integration_id: s.handoff.id, address: STRANGER, limit: 'address', window_s: WINDOW_S });
    for (const line of log) {
      expect(line).not.toContain(s.created.username);
      expect(line).not.toContain('guess number');
      expect(line).not.toContain(s.created.password);
    }
  });

  it('a lockout ends with its window: the address is heard again, and a right password signs in', async () => {
    const s = await start();
    for (let n = 0; n <= FAILURES_PER_ADDRESS; n++) await login(s, STRANGER, wrong(s, n));
    expect((await login(s, STRANGER, right(s))).status).toBe(429);

    // The window passes (moved back rather than waited out).
    await sql`UPDATE chatbot_token_attempts SET window_start = window_start - make_interval(secs => ${WINDOW_S + 1})`.execute(s.engine.db);
    expect((await login(s, STRANGER, wrong(s, 100))).status).toBe(401);
    expect((await login(s, STRANGER, right(s))).status).toBe(200);
    // A sign-in clears the address's count: ten more tries before the next lockout.
    for (let n = 0; n < FAILURES_PER_ADDRESS; n++) expect((await login(s, STRANGER, wrong(s, n))).status).toBe(401);
    expect((await login(s, STRANGER, wrong(s, 0))).status).toBe(429);
  });

  it('a hundred wrong tries from many addresses lock the integration for new addresses, but not for the address the bot signed in from', async () => {
    const s = await start();
    expect((await login(s, BOT, right(s))).status).toBe(200);
    const guessers = Array.from({ length: FAILURES_PER_INTEGRATION / FAILURES_PER_ADDRESS }, (_, i) => `198.51.100.${i + 1}`);
    for (const address of guessers) {
      const answers = await Promise.all(Array.from({ length: FAILURES_PER_ADDRESS }, (_, n) => login(s, address, wrong(s, n))));
      expect(answers.map((a) => a.status)).toEqual(Array(FAILURES_PER_ADDRESS).fill(401));
    }

    const newcomer = await login(s, '192.0.2.50', right(s));
    expect(newcomer.status).toBe(429);
    expect(newcomer.body.error.message).toContain('for this integration');
    expect(Number(newcomer.retryAfter)).toBeLessThanOrEqual(WINDOW_S);

    expect((await login(s, BOT, right(s))).status).toBe(200);
  });

  it('forgets an address gone quiet for a window, but keeps the one the bot signs in from', async () => {
    const s = await start();
    expect((await login(s, BOT, right(s))).status).toBe(200);
    expect((await login(s, STRANGER, wrong(s, 1))).status).toBe(401);
    await sql`UPDATE chatbot_token_attempts SET window_start = window_start - make_interval(secs => ${WINDOW_S + 1})`.execute(s.engine.db);
    expect((await login(s, '192.0.2.9', wrong(s, 2))).status).toBe(401);
    const { rows } = await sql<{ address: string }>`SELECT address FROM chatbot_token_attempts ORDER BY address`.execute(s.engine.db);
    expect(rows.map((r) => r.address)).toEqual(['*', BOT, '192.0.2.9'].sort());
  });

  it('counts per integration: guesses at one leave another alone', async () => {
    const s = await start();
    for (let n = 0; n <= FAILURES_PER_ADDRESS; n++) await login(s, STRANGER, wrong(s, n));
    const other = await s.cli('integrations', 'create', 'chatbot_handoff_v1', '--rapidpro-url', s.rapidpro.url, '--rapidpro-token', s.rapidpro.token, '--json');
    const created = other.json<{ api_base_url: string; username: string; password: string }>();
    const response = await fetch(`${created.api_base_url}token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': STRANGER },
      body: JSON.stringify({ username: created.username, password: created.password }),
    });
    expect(response.status).toBe(200);
  });
});
