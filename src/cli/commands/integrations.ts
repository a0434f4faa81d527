/**
 * `switchboard integrations create|list|info|reset|roll-key|delete`. A `<ref>` is an
 * id, an opaque id (`svi_...`), or a service name when only one integration of that
 * service exists. Secrets are masked in output; an API key is printed only by create
 * and roll-key, once.
 */
import type { Command } from 'commander';
import type { ServiceIntegration } from '../../db/schema.ts';
import { SwitchboardError } from '../../engine/errors.ts';
import {
  createIntegration,
  deleteIntegration,
  findIntegration,
  rollApiKey,
  updateIntegration,
  withDependents,
} from '../../engine/integrations.ts';
import { webhookUrlFor } from '../../engine/replicator.ts';
import type { Runtime } from '../../runtime.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatTable } from '../table.ts';
import { servicesText } from './services.ts';

const mask = (secret: string | null) => (secret ? `****${secret.length > 12 ? secret.slice(-4) : ''}` : null);

/** The `--name value` / `--name=value` pairs commander left unparsed: the service's fields. */
export function fieldFlags(args: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new SwitchboardError('SB_ERR_USAGE', `unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags[arg.slice(2, eq)] = arg.slice(eq + 1);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) throw new SwitchboardError('SB_ERR_USAGE', `${arg} needs a value`);
    flags[arg.slice(2)] = value;
    i++;
  }
  return flags;
}

export function describeIntegration(rt: Runtime, integration: ServiceIntegration) {
  const replicator = rt.engine.registry.has(integration.service_name) ? rt.engine.registry.get(integration.service_name) : null;
  const secretSettings = new Set(
    (replicator?.fields ?? []).filter((f) => f.secret && 'setting' in f.target).map((f) => ('setting' in f.target ? f.target.setting : '')),
  );
  const settings = Object.fromEntries(
    Object.entries(integration.settings).map(([k, v]) => [k, secretSettings.has(k) ? mask(String(v)) : v]),
  );
  return {
    id: integration.id,
    opaque_id: integration.opaque_id,
    service: integration.service_name,
    depends_on: integration.depends_on,
    webhook_url: replicator ? webhookUrlFor(replicator, integration, rt.config.publicUrl) : null,
    api_url: integration.api_url,
    backfill_key: integration.backfill_key,
    backfill_secret: mask(integration.backfill_secret),
    webhook_secret: mask(integration.webhook_secret),
    has_api_key: integration.api_key_hash !== null,
    settings,
    last_backfilled_at: integration.last_backfilled_at,
    last_error: integration.last_error_code
      ? { code: integration.last_error_code, message: integration.last_error_message, at: integration.last_error_at }
      : null,
    created_at: integration.created_at,
    ...replicator?.describe?.(integration, rt.config.publicUrl),
  };
}

function setupText(rt: Runtime, integration: ServiceIntegration): string | null {
  const replicator = rt.engine.registry.has(integration.service_name) ? rt.engine.registry.get(integration.service_name) : null;
  return replicator?.setupInstructions?.(integration, rt.config.publicUrl) ?? null;
}

/** A setting as one readable line: a stored document (a USSD flow) as a summary, not escaped JSON. */
export function settingText(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value);
  let document: unknown;
  try {
    document = value.trimStart().startsWith('{') ? JSON.parse(value) : undefined;
  } catch {
    return value;
  }
  const screens = (document as { screens?: unknown } | undefined)?.screens;
  if (screens && typeof screens === 'object') {
    const start = (document as { start?: unknown }).start;
    return `flow document, ${Object.keys(screens).length} screens, starting at "${String(start)}" (whole: \`integrations info <ref> --json\`)`;
  }
  return document === undefined ? value : `JSON document of ${value.length} characters (\`--json\` shows it)`;
}

function printDescription(ctx: CliContext, rt: Runtime, integration: ServiceIntegration): void {
  for (const [key, value] of Object.entries(describeIntegration(rt, integration))) {
    if (value === null || value === undefined) continue;
    if (key === 'settings') {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > 0) writeLine(ctx, 'settings:');
      for (const [name, setting] of entries) writeLine(ctx, `  ${`${name}:`.padEnd(18)}${settingText(setting)}`);
      continue;
    }
    const shown = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
    writeLine(ctx, `${`${key}:`.padEnd(20)}${shown}`);
  }
  const setup = setupText(rt, integration);
  if (setup) writeLine(ctx, `\n${setup}`);
}

export function registerIntegrations(program: Command, ctx: CliContext): void {
  // `create --help` lists the services, so the registry loads before the subcommand parses.
  let services = '';
  const integrations = program
    .command('integrations')
    .description('create and manage service integrations')
    .hook('preSubcommand', async (_, sub) => {
      if (sub.name() === 'create') services = servicesText(await ctx.loadRegistry());
    });

  integrations
    .command('create')
    .description('create an integration: create <service> [--depends-on <ref>] [--<field> <value> ...]')
    .argument('<service>', 'service name, e.g. signalwire_message_v1')
    .option('--depends-on <ref>', 'the integration this one depends on')
    .option('--json', 'print machine-readable JSON')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', () => `\nServices and their fields:\n${services}`)
    .action(async (service: string, options: { dependsOn?: string; json?: boolean }, command: Command) => {
      const flags = fieldFlags(command.args.slice(1));
      await withRuntime(ctx, async (rt) => {
        const input = { service, flags, ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}) };
        const { integration, apiKey, notes, issued } = await createIntegration(rt.engine.db, rt.engine.registry, rt.config, input);
        if (options.json) {
          writeJson(ctx, { ...describeIntegration(rt, integration), ...(apiKey ? { api_key: apiKey } : {}), ...issued, setup: setupText(rt, integration), notes });
          return;
        }
        writeLine(ctx, `Created ${integration.service_name} integration ${integration.id} (${integration.opaque_id}).`);
        for (const note of notes) writeLine(ctx, `Chosen for you: ${note}.`);
        if (apiKey) writeLine(ctx, `API key (shown once; roll it with \`switchboard integrations roll-key ${integration.id}\`):\n  ${apiKey}`);
        for (const [name, value] of Object.entries(issued)) writeLine(ctx, `${name} (issued for you, shown once): ${value}`);
        writeLine(ctx);
        printDescription(ctx, rt, integration);
      });
    });

  integrations
    .command('list')
    .description('list integrations')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const all = await rt.engine.db.selectFrom('service_integrations').selectAll().orderBy('id').execute();
        if (options.json) return writeJson(ctx, all.map((i) => describeIntegration(rt, i)));
        if (all.length === 0) return writeLine(ctx, 'No integrations yet. Create one with `switchboard integrations create <service>`.');
        writeLine(
          ctx,
          formatTable(
            ['id', 'opaque_id', 'service', 'depends_on', 'last_backfilled_at', 'error'],
            all.map((i) => [i.id, i.opaque_id, i.service_name, i.depends_on, i.last_backfilled_at, i.last_error_code]),
          ),
        );
      }, 'read');
    });

  integrations
    .command('info')
    .description('show an integration and its setup instructions')
    .argument('<ref>', 'id, opaque id, or service name')
    .option('--json', 'print machine-readable JSON')
    .action(async (ref: string, options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const integration = await findIntegration(rt.engine.db, ref);
        if (options.json) return writeJson(ctx, { ...describeIntegration(rt, integration), setup: setupText(rt, integration) });
        printDescription(ctx, rt, integration);
      }, 'read');
    });

  // `reset` and `update` differ only in clearing first.
  for (const [name, reset, description] of [
    ['reset', true, 'clear credentials, error state and the incremental cursor; optionally set new values: reset <ref> [--<field> <value> ...]'],
    ['update', false, 'set fields or settings, keeping the rest: update <ref> --<field> <value> ...'],
  ] as const) {
    integrations
      .command(name)
      .description(description)
      .argument('<ref>', 'id, opaque id, or service name')
      .option('--json', 'print machine-readable JSON')
      .allowUnknownOption()
      .allowExcessArguments()
      .action(async (ref: string, options: { json?: boolean }, command: Command) => {
        const flags = fieldFlags(command.args.slice(1));
        if (!reset && Object.keys(flags).length === 0) throw new SwitchboardError('SB_ERR_USAGE', 'nothing to update: give --<field> <value>');
        await withRuntime(ctx, async (rt) => {
          const integration = await updateIntegration(rt.engine.db, rt.engine.registry, rt.config, await findIntegration(rt.engine.db, ref), flags, { reset });
          if (options.json) return writeJson(ctx, describeIntegration(rt, integration));
          writeLine(ctx, `${reset ? 'Reset' : 'Updated'} integration ${integration.id} (${integration.opaque_id}).`);
          printDescription(ctx, rt, integration);
        });
      });
  }

  integrations
    .command('roll-key')
    .description('replace the API key; the old one stops working at once')
    .argument('<ref>', 'id, opaque id, or service name')
    .option('--json', 'print machine-readable JSON')
    .action(async (ref: string, options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const integration = await findIntegration(rt.engine.db, ref);
        if (!rt.engine.registry.has(integration.service_name) || !rt.engine.registry.get(integration.service_name).issuesApiKey) {
          throw new SwitchboardError('SB_ERR_USAGE', `${integration.service_name} integrations use no API key (nothing would accept one): there is nothing to roll`);
        }
        const apiKey = await rollApiKey(rt.engine.db, integration);
        if (options.json) return writeJson(ctx, { id: integration.id, opaque_id: integration.opaque_id, service: integration.service_name, api_key: apiKey });
        writeLine(ctx, `New API key for integration ${integration.id} (shown once):\n  ${apiKey}`);
      });
    });

  integrations
    .command('delete')
    .description('delete an integration, its rows and its dependents')
    .argument('<ref>', 'id, opaque id, or service name')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print machine-readable JSON')
    .action(async (ref: string, options: { yes?: boolean; json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const integration = await findIntegration(rt.engine.db, ref);
        if (!options.yes) {
          const targets = await withDependents(rt.engine.db, integration);
          const list = targets.map((t) => `${t.id} ${t.service_name}`).join(', ');
          const ok = await ctx.confirm(`Delete ${list} and all their rows? [y/N] `);
          if (!ok) throw new SwitchboardError('SB_ERR_USAGE', 'not deleted: confirm on a terminal or pass --yes');
        }
        const deleted = await deleteIntegration(rt.engine.db, rt.engine.registry, integration);
        if (options.json) return writeJson(ctx, { deleted });
        for (const d of deleted) writeLine(ctx, `Deleted ${d.service} integration ${d.id} (${d.opaque_id}) and ${d.rows_deleted} rows.`);
      });
    });
}
