/**
 * `switchboard admin-token`: issue a token for the web dashboard (printed once, stored
 * hashed), or `--revoke-all` to shut out every issued token.
 */
import type { Command } from 'commander';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';

export function registerAdminToken(program: Command, ctx: CliContext): void {
  program
    .command('admin-token')
    .description('issue a token that opens the web dashboard (shown once), or revoke them all')
    .option('--label <text>', 'a note to tell tokens apart (who or what it is for)')
    .option('--revoke-all', 'revoke every issued token (SWITCHBOARD_ADMIN_TOKEN is unaffected)')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { label?: string; revokeAll?: boolean; json?: boolean }) => {
      const { issueAdminToken, revokeAdminTokens } = await import('../../web/admin-token.ts');
      await withRuntime(ctx, async (rt) => {
        if (options.revokeAll) {
          const revoked = await revokeAdminTokens(rt.engine.db);
          if (options.json) return writeJson(ctx, { revoked });
          return writeLine(ctx, `Revoked ${revoked} admin token${revoked === 1 ? '' : 's'}.`);
        }
        const token = await issueAdminToken(rt.engine.db, options.label ?? null);
        const dashboard = `${rt.config.publicUrl}/#token=${token}`;
        if (options.json) return writeJson(ctx, { token, dashboard });
        writeLine(ctx, token);
        writeLine(ctx, `\nKeep it secret: it opens the dashboard. Sign in at ${rt.config.publicUrl}/ with it,`);
        writeLine(ctx, `or open ${dashboard} (the part after # never leaves your browser).`);
      });
    });
}
