/**
 * `switchboard services`: the services this build can replicate, and each one's fields
 * (the `--<field>` flags of `integrations create|update|reset`), so an operator need not
 * read the sources to create an integration. `integrations create --help` shows the same.
 */
import type { Command } from 'commander';
import type { Registry } from '../../engine/registry.ts';
import type { FieldSpec, Replicator } from '../../engine/replicator.ts';
import { writeJson, writeLine, type CliContext } from '../context.ts';

const fieldJson = (f: FieldSpec) => ({ flag: `--${f.flag}`, description: f.description, required: f.required ?? false, secret: f.secret ?? false });

function describeService(r: Replicator) {
  return {
    name: r.name,
    description: r.description,
    depends_on: r.dependsOn ?? null,
    issues_api_key: r.issuesApiKey ?? false,
    fields: (r.fields ?? []).map(fieldJson),
  };
}

/** Every service and its fields, as text: for `services` and `integrations create --help`. */
export function servicesText(registry: Registry): string {
  const lines: string[] = [];
  for (const r of registry.list()) {
    const notes = [r.dependsOn ? `depends on ${r.dependsOn}` : null, r.issuesApiKey ? 'issues an API key' : null].filter(Boolean);
    lines.push(`${r.name} — ${r.description}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`);
    const fields = r.fields ?? [];
    const width = Math.max(0, ...fields.map((f) => f.flag.length + 2));
    for (const f of fields) lines.push(`  ${`--${f.flag}`.padEnd(width)}  ${f.description}${f.required ? ' (required)' : ''}`);
    if (fields.length === 0) lines.push('  (no fields of its own)');
  }
  lines.push('', 'Every service also takes --api-url, --backfill-key, --backfill-secret and --webhook-secret.');
  return lines.join('\n');
}

export function registerServices(program: Command, ctx: CliContext): void {
  program
    .command('services')
    .description('list the services this build replicates, with the fields each takes')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      const registry = await ctx.loadRegistry();
      if (options.json) return writeJson(ctx, registry.list().map(describeService));
      writeLine(ctx, servicesText(registry));
    });
}
