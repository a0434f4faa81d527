/**
 * `switchboard doctor`: what is wrong and how to fix it — the database and its migrations,
 * PUBLIC_URL, and every integration (its replicator's own checks, e.g. credentials tried
 * against the provider, plus its last error). Exit 1 when anything fails.
 */
import type { Command } from 'commander';
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import type { Finding, Replicator } from '../../engine/replicator.ts';
import { parsePhone } from '../../providers/phone.ts';
import type { Runtime } from '../../runtime.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatTable } from '../table.ts';
import { ADVISORY_LOCK_WARNING } from './db.ts';

interface Row extends Finding {
  subject: string;
}

async function systemChecks(rt: Runtime): Promise<Row[]> {
  const [{ migrationState }, { publicCanTakeAdvisoryLocks }] = await Promise.all([import('../../db/migrate.ts'), import('../../db/reader-roles.ts')]);
  const rows: Row[] = [];
  const { rows: version } = await sql<{ version: string }>`SELECT current_setting('server_version') AS version`.execute(rt.engine.db);
  rows.push({ subject: 'system', check: 'database', status: 'ok', detail: `PostgreSQL ${version[0]?.version} answers` });
  const { applied, total } = await migrationState(rt.engine.db);
  rows.push(
    applied === total
      ? { subject: 'system', check: 'migrations', status: 'ok', detail: `${total} applied` }
      : { subject: 'system', check: 'migrations', status: 'fail', detail: `${applied} of ${total} applied: run \`npx switchboard migrate\`` },
  );
  const metricsOpen = !rt.config.metricsToken && rt.config.metrics.port === undefined && !['127.0.0.1', 'localhost', '::1'].includes(rt.config.host);
  rows.push(
    metricsOpen
      ? { subject: 'system', check: 'metrics', status: 'warn', detail: `/metrics is open to anyone who reaches ${rt.config.host}: set SWITCHBOARD_METRICS_TOKEN or SWITCHBOARD_METRICS_PORT` }
      : { subject: 'system', check: 'metrics', status: 'ok', detail: rt.config.metricsToken ? 'behind a bearer token' : rt.config.metrics.port !== undefined ? `on ${rt.config.metrics.host}:${rt.config.metrics.port}` : 'on a local interface' },
  );
  rows.push(
    (await publicCanTakeAdvisoryLocks(rt.engine.db))
      ? { subject: 'system', check: 'advisory locks', status: 'warn', detail: ADVISORY_LOCK_WARNING }
      : { subject: 'system', check: 'advisory locks', status: 'ok', detail: 'only the application role can take them' },
  );
  const url = new URL(rt.config.publicUrl);
  const local = ['localhost', '127.0.0.1', '::1'].includes(url.hostname);
  rows.push(
    local
      ? { subject: 'system', check: 'PUBLIC_URL', status: 'warn', detail: `${rt.config.publicUrl} is local: providers cannot reach it; set PUBLIC_URL to your public https URL` }
      : url.protocol === 'https:'
        ? { subject: 'system', check: 'PUBLIC_URL', status: 'ok', detail: rt.config.publicUrl }
        : { subject: 'system', check: 'PUBLIC_URL', status: 'warn', detail: `${rt.config.publicUrl} is not https: webhooks would travel in clear text` },
  );
  return rows;
}

/**
 * A channel in another country whose numbers are typed without a country code would have
 * them read as US numbers: when neither DEFAULT_PHONE_REGION nor the channel's --region is
 * set and its own number is not American, say so.
 */
function regionCheck(env: NodeJS.ProcessEnv, integration: ServiceIntegration, replicator: Replicator): Omit<Row, 'subject'> | null {
  if (env.DEFAULT_PHONE_REGION || integration.settings.region || !replicator.fields?.some((f) => f.flag === 'region')) return null;
  const parsed = parsePhone(integration.api_url, 'US');
  if (!('e164' in parsed) || parsed.country === 'US' || !parsed.country) return null;
  return {
    check: 'phone region',
    status: 'warn',
    detail: `the channel's number is in ${parsed.country} but numbers typed without a country code are read as US (DEFAULT_PHONE_REGION is unset): set DEFAULT_PHONE_REGION=${parsed.country}, or \`switchboard integrations update ${integration.id} --region ${parsed.country}\``,
  };
}

async function integrationChecks(rt: Runtime, env: NodeJS.ProcessEnv): Promise<Row[]> {
  const rows: Row[] = [];
  const integrations = await rt.engine.db.selectFrom('service_integrations').selectAll().orderBy('id').execute();
  for (const integration of integrations) {
    const subject = `${integration.id} ${integration.service_name}`;
    if (!rt.engine.registry.has(integration.service_name)) {
      rows.push({ subject, check: 'replicator', status: 'fail', detail: 'no replicator of this service in this build: delete it or upgrade' });
      continue;
    }
    const replicator = rt.engine.registry.get(integration.service_name);
    for (const finding of (await replicator.doctor?.(integration, { db: rt.engine.db, config: rt.config })) ?? []) rows.push({ subject, ...finding });
    const region = regionCheck(env, integration, replicator);
    if (region) rows.push({ subject, ...region });
    if (integration.last_error_code) {
      rows.push({ subject, check: 'last pass', status: 'warn', detail: `${integration.last_error_code}: ${integration.last_error_message} (since ${integration.last_error_at?.toISOString()})` });
    }
  }
  return rows;
}

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('check the database, configuration and every integration, and say how to fix what is wrong')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const system = await systemChecks(rt);
        // Without our tables there are no integrations to check: the migrations finding says what to do.
        const migrated = system.some((f) => f.check === 'migrations' && f.status === 'ok');
        const findings = [...system, ...(migrated ? await integrationChecks(rt, ctx.env) : [])];
        if (options.json) writeJson(ctx, { findings });
        else writeLine(ctx, formatTable(['subject', 'check', 'status', 'detail'], findings.map((f) => [f.subject, f.check, f.status.toUpperCase(), f.detail])));
        if (findings.some((f) => f.status === 'fail')) ctx.exitCode = 1;
      }, 'inspect');
    });
}
