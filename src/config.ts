/**
 * Process configuration, read once from the environment and validated.
 * Every setting has a default so `npm start` works with nothing set; the README's
 * configuration table must list exactly these variables.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';

const int = (min: number) => z.coerce.number().int().min(min);

/** An IPv4 or IPv6 address, or a CIDR range of either. */
function isAddressOrRange(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = net.isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/**
 * SWITCHBOARD_TRUST_PROXY as Fastify takes it: how many proxies stand in front of us, or
 * their addresses. `true` would trust every hop of X-Forwarded-For, which the client
 * writes itself, so a caller could pick the address an IP allowlist checks.
 */
function trustProxy(value: string, ctx: z.core.$RefinementCtx<string>): false | number | string[] {
  const text = value.trim();
  if (text === '' || text === 'false' || text === '0') return false;
  if (text === 'true') {
    ctx.addIssue({
      code: 'custom',
      message: '`true` would let any client choose its address with X-Forwarded-For; set the number of proxies in front of Switchboard (e.g. 1) or their addresses or CIDR ranges (e.g. 10.0.0.0/8,127.0.0.1)',
    });
    return z.NEVER;
  }
  if (/^\d+$/.test(text)) return Number(text);
  const entries = text.split(/[\s,]+/).filter(Boolean);
  const bad = entries.filter((entry) => !isAddressOrRange(entry));
  if (bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `not a hop count, address or CIDR range: ${bad.join(', ')} (e.g. 1, or 10.0.0.0/8,127.0.0.1)` });
    return z.NEVER;
  }
  return entries;
}

const schema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  SWITCHBOARD_DATA_DIR: z.string().min(1).optional(),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0).max(65535).default(8080),
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  SWITCHBOARD_PG_POOL_SIZE: int(2).default(10),
  SWITCHBOARD_WORKER_CONCURRENCY: int(1).default(4),
  SWITCHBOARD_DELIVERY_CONCURRENCY: int(1).default(4),
  SWITCHBOARD_POLL_CRON: z.string().min(1).default('* * * * *'),
  SWITCHBOARD_BODY_LIMIT: int(1024).default(1024 * 1024),
  SWITCHBOARD_BODY_TIMEOUT_MS: int(100).default(10_000),
  SWITCHBOARD_MAX_CONNECTIONS: int(1).default(1000),
  SWITCHBOARD_WEBHOOK_LOG_RETENTION_DAYS: int(1).default(7),
  SWITCHBOARD_WEBHOOK_LOG_MAX_MB: int(1).default(1024),
  SWITCHBOARD_SQL_TIMEOUT_MS: int(1).default(15_000),
  SWITCHBOARD_SQL_MAX_ROWS: int(1).default(1000),
  FRONT_API_URL: z.url().default('https://api2.frontapp.com'),
  FRONT_CHANNEL_APP_UID: z.string().default(''),
  FRONT_CHANNEL_APP_SECRET: z.string().default(''),
  SWITCHBOARD_FRONT_IMPORT_HOLD_S: int(1).default(120),
  SWITCHBOARD_WHATSAPP_SEND_HOLD_S: int(1).default(600),
  SIGNALWIRE_SMS_ALLOWLIST: z.string().default('*'),
  SWITCHBOARD_ADMIN_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  SWITCHBOARD_METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  SWITCHBOARD_METRICS_PORT: int(0).max(65535).optional(),
  SWITCHBOARD_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  SWITCHBOARD_TRUST_PROXY: z.string().default('false').transform(trustProxy),
  SWITCHBOARD_USSD_BUDGET_MS: int(100).default(3000),
  SWITCHBOARD_USSD_SESSION_TIMEOUT_S: int(10).default(180),
  SWITCHBOARD_CHATBOT_LOGIN_WINDOW_S: int(1).default(900),
  DEFAULT_PHONE_REGION: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'a two-letter country code such as US or KE')
    .default('US')
    .transform((r) => r.toUpperCase()),
});

export interface Config {
  /** Postgres to use; unset means the embedded server under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  host: string;
  port: number;
  /** Base URL the providers reach us on; webhook URLs printed by the CLI start with it. */
  publicUrl: string;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  /** Unset: human lines when stderr is a terminal, JSON otherwise. */
  logFormat: 'pretty' | 'json' | undefined;
  poolSize: number;
  workerConcurrency: number;
  /** Conversations a delivery pass sends to at once (each conversation stays in order). */
  deliveryConcurrency: number;
  pollCron: string;
  bodyLimit: number;
  /** A request body still arriving this long after the request began is cut off (408, connection closed). */
  bodyTimeoutMs: number;
  /** Open connections the HTTP server accepts at once; more are closed at once. */
  maxConnections: number;
  webhookLogRetentionDays: number;
  /** The webhook log's size cap on disk; past it the oldest requests go. */
  webhookLogMaxMb: number;
  sqlTimeoutMs: number;
  sqlMaxRows: number;
  /**
   * Front application channel: API base, app UID (JWT iss) and app secret (signatures, JWT
   * key); how long an import whose answer was lost waits for Front's `message_imported`
   * notice before it is imported again.
   */
  front: { apiUrl: string; appUid: string; appSecret: string; importHoldMs: number };
  /** How long a WhatsApp send whose answer was lost waits for Meta's receipt before it is sent again. */
  whatsappSendHoldMs: number;
  /** Glob patterns a recipient must match for an SMS to be sent (space-separated in the env). */
  smsAllowlist: string[];
  /** Region for phone numbers typed without a country code. */
  defaultPhoneRegion: string;
  /** Opens the dashboard besides tokens from `switchboard admin-token`; unset means only those. */
  adminToken: string | undefined;
  /** /metrics wants `Authorization: Bearer <this>` when set. */
  metricsToken: string | undefined;
  /** When set, /metrics is served only by a listener of its own on metricsHost:metricsPort, not the public one. */
  metrics: { port: number | undefined; host: string };
  /**
   * Behind reverse proxies: how many (hop count) or which addresses/CIDRs to trust, so the
   * client address (USSD IP allowlists) comes from X-Forwarded-For; false: the peer's address.
   */
  trustProxy: false | number | string[];
  /** The window in which a chatbot integration's `token/` counts wrong credentials (chatbot-handoff-v1/login-limit.ts). */
  chatbotLoginWindowSeconds: number;
  /** USSD: answer within this many ms (or END with a "received" screen), and close sessions idle this long. */
  ussd: { budgetMs: number; sessionTimeoutSeconds: number };
}

export class ConfigError extends Error {}

/**
 * The project a command runs in: the nearest directory at or above `cwd` holding a
 * package.json (else `cwd` itself), so the default data dir does not depend on which of
 * the project's folders you stand in.
 */
export function projectRoot(cwd: string): string {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(cwd);
  }
}

/**
 * The environment a command sees: the project's `.env` file (in the project root, see
 * projectRoot), under the process environment — a variable set in both keeps the
 * environment's value, so a deployment can always override the file.
 */
export function withDotEnv(env: NodeJS.ProcessEnv, cwd: string): NodeJS.ProcessEnv {
  const file = path.join(projectRoot(cwd), '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return env;
  }
  return { ...parseEnv(text), ...env };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: e.SWITCHBOARD_DATA_DIR ? path.resolve(cwd, e.SWITCHBOARD_DATA_DIR) : path.join(projectRoot(cwd), '.switchboard'),
    host: e.HOST,
    port: e.PORT,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    poolSize: e.SWITCHBOARD_PG_POOL_SIZE,
    workerConcurrency: e.SWITCHBOARD_WORKER_CONCURRENCY,
    deliveryConcurrency: e.SWITCHBOARD_DELIVERY_CONCURRENCY,
    pollCron: e.SWITCHBOARD_POLL_CRON,
    bodyLimit: e.SWITCHBOARD_BODY_LIMIT,
    bodyTimeoutMs: e.SWITCHBOARD_BODY_TIMEOUT_MS,
    maxConnections: e.SWITCHBOARD_MAX_CONNECTIONS,
    webhookLogRetentionDays: e.SWITCHBOARD_WEBHOOK_LOG_RETENTION_DAYS,
    webhookLogMaxMb: e.SWITCHBOARD_WEBHOOK_LOG_MAX_MB,
    sqlTimeoutMs: e.SWITCHBOARD_SQL_TIMEOUT_MS,
    sqlMaxRows: e.SWITCHBOARD_SQL_MAX_ROWS,
    front: { apiUrl: e.FRONT_API_URL.replace(/\/+$/, ''), appUid: e.FRONT_CHANNEL_APP_UID, appSecret: e.FRONT_CHANNEL_APP_SECRET, importHoldMs: e.SWITCHBOARD_FRONT_IMPORT_HOLD_S * 1000 },
    whatsappSendHoldMs: e.SWITCHBOARD_WHATSAPP_SEND_HOLD_S * 1000,
    smsAllowlist: e.SIGNALWIRE_SMS_ALLOWLIST.split(/\s+/).filter(Boolean),
    defaultPhoneRegion: e.DEFAULT_PHONE_REGION,
    adminToken: e.SWITCHBOARD_ADMIN_TOKEN,
    metricsToken: e.SWITCHBOARD_METRICS_TOKEN,
    metrics: { port: e.SWITCHBOARD_METRICS_PORT, host: e.SWITCHBOARD_METRICS_HOST },
    trustProxy: e.SWITCHBOARD_TRUST_PROXY,
    chatbotLoginWindowSeconds: e.SWITCHBOARD_CHATBOT_LOGIN_WINDOW_S,
    ussd: { budgetMs: e.SWITCHBOARD_USSD_BUDGET_MS, sessionTimeoutSeconds: e.SWITCHBOARD_USSD_SESSION_TIMEOUT_S },
  };
}
