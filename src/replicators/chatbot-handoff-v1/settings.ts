/**
 * A chatbot handoff integration's settings: the CLI fields that set them, the bot's
 * credentials (a password given or issued is stored only as a salted scrypt hash), and
 * the settings read back with their defaults. api_url holds the RapidPro base URL and
 * backfill_secret its API token.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { ServiceIntegration } from '../../db/schema.ts';
import type { FieldSpec } from '../../engine/replicator.ts';

const positiveInteger = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new Error('a positive whole number');
  return value;
};

const httpUrl = (value: string) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('a URL such as https://rapidpro.example.org');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('an http(s) URL');
  return value.replace(/\/+$/, '');
};

const uuid = (value: string) => {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) throw new Error('a RapidPro UUID');
  return value.toLowerCase();
};

/** `scrypt$<salt>$<hash>`, base64url: slow to guess even if the settings leak. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64url')}$${scryptSync(password, salt, 32).toString('base64url')}`;
}

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** Checked on the threadpool: anyone may call `token/`, and a synchronous scrypt would stall every other request meanwhile. */
export async function passwordMatches(password: string, stored: string | undefined): Promise<boolean> {
  const [scheme, salt, hash] = (stored ?? '').split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length);
  return timingSafeEqual(actual, expected);
}

export const CHATBOT_FIELDS: readonly FieldSpec[] = [
  { flag: 'rapidpro-url', target: { column: 'api_url' }, description: 'the RapidPro (or Weni Flows) base URL, e.g. https://rapidpro.example.org', required: true, parse: httpUrl },
  { flag: 'rapidpro-token', target: { column: 'backfill_secret' }, description: 'a RapidPro API token of the workspace', required: true, secret: true },
  { flag: 'username', target: { setting: 'username' }, description: "the bot's username for POST token/ (issued when not given)" },
  {
    flag: 'password',
    target: { setting: 'password_hash' },
    description: "the bot's password (issued when not given; stored hashed)",
    secret: true,
    parse: (value) => {
      if (value.length < 12) throw new Error('at least 12 characters');
      return hashPassword(value);
    },
  },
  { flag: 'token-ttl', target: { setting: 'token_ttl' }, description: 'seconds a token from POST token/ lasts (default 3600)', parse: positiveInteger },
  { flag: 'session-timeout', target: { setting: 'session_timeout' }, description: 'minutes without a message after which a handoff is closed (default 1440)', parse: positiveInteger },
  { flag: 'unattended-after', target: { setting: 'unattended_after' }, description: 'minutes a client may wait unanswered before Front is alerted (default 15)', parse: positiveInteger },
  { flag: 'ack-url', target: { setting: 'ack_url' }, description: "the bot platform's URL for Switchboard's acknowledgements", parse: httpUrl },
  { flag: 'ack-token', target: { setting: 'ack_token' }, description: 'the token sent with acknowledgements (Authorization: Token <t>)', secret: true },
  { flag: 'close-flow', target: { setting: 'close_flow' }, description: 'a flow started for the contact when a counsellor ends the handoff (else their runs are interrupted)', parse: uuid },
  { flag: 'handoff-group', target: { setting: 'handoff_group' }, description: 'a contact group the contact is in while handed off', parse: uuid },
  { flag: 'rapidpro-budget-per-hour', target: { setting: 'rapidpro_budget_per_hour' }, description: 'RapidPro API calls allowed per hour (default 2500)', parse: positiveInteger },
];

const number = (fallback: number) => z.coerce.number().int().positive().catch(fallback);

const SETTINGS = z.object({
  username: z.string().optional().catch(undefined),
  password_hash: z.string().optional().catch(undefined),
  token_ttl: number(3600),
  session_timeout: number(1440),
  unattended_after: number(15),
  ack_url: z.string().optional().catch(undefined),
  ack_token: z.string().optional().catch(undefined),
  close_flow: z.string().optional().catch(undefined),
  handoff_group: z.string().optional().catch(undefined),
  rapidpro_budget_per_hour: number(2500),
});

export type ChatbotSettings = z.infer<typeof SETTINGS>;

/** The settings with defaults filled in; a stored value that no longer passes falls back to its default. */
export const chatbotSettings = (integration: ServiceIntegration): ChatbotSettings => SETTINGS.parse(integration.settings ?? {});

/**
 * At create: the credentials not given are issued (a username from the opaque-looking
 * random, a 24-character password), returned to print once.
 */
export function issueCredentials(settings: Record<string, string>): { settings: Record<string, string>; issued: Record<string, string> } {
  const issued: Record<string, string> = {};
  const added: Record<string, string> = {};
  if (!settings.username) added.username = issued.username = `bot_${randomBytes(6).toString('hex')}`;
  if (!settings.password_hash) {
    issued.password = randomBytes(18).toString('base64url');
    added.password_hash = hashPassword(issued.password);
  }
  return { settings: added, issued };
}
