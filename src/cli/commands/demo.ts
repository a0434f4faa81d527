/**
 * `switchboard demo`: Switchboard on simulated Front, SignalWire and USSD gateways, with a
 * scripted conversation converging step by step. Its own database (embedded, under the data
 * dir), so nothing of yours is touched. `--keep` leaves it running for exploring.
 */
import type { Command } from 'commander';
import { cliLogger, config, writeLine, type CliContext } from '../context.ts';

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('run Switchboard against simulated providers and play a short conversation')
    .option('--keep', 'keep everything running after the script, until Ctrl-C')
    .option('--port <port>', 'HTTP port of the demo server (default: any free port)')
    .action(async (options: { keep?: boolean; port?: string }) => {
      const cfg = config(ctx);
      const log = await cliLogger(ctx, cfg, true);
      writeLine(ctx, 'Starting Switchboard with simulated Front, SignalWire, WhatsApp and USSD gateways…');
      // Loaded here, not at the top: every other command (and --help) runs without the simulators.
      const [{ startDemoEnvironment }, { playDemo }] = await Promise.all([import('../../demo/environment.ts'), import('../../demo/script.ts')]);
      const env = await startDemoEnvironment({ name: 'demo', dataDir: cfg.dataDir, log, whatsapp: true, chatbot: true, ...(options.port ? { port: Number(options.port) } : {}) });
      try {
        writeLine(ctx, `Dashboard: ${env.publicUrl}/#token=${env.adminToken}`);
        writeLine(ctx, `Server: ${env.publicUrl}  (metrics: ${env.publicUrl}/metrics)\n`);
        const steps = await playDemo(env, (line) => writeLine(ctx, line));
        const total = steps.reduce((sum, s) => sum + s.ms, 0);
        writeLine(ctx, `\nConverged: ${steps.length} steps in ${total.toFixed(0)} ms; ${env.front.inbox.length} messages in Front, ${env.signalwire.sent().length} SMS sent, ${env.whatsapp.sent().length} WhatsApp message(s) sent.`);
        if (options.keep) {
          writeLine(ctx, `Still running. Open the dashboard (phone and Front inbox pages included):\n  ${env.publicUrl}/#token=${env.adminToken}\nor query it:\n  DATABASE_URL='${env.databaseUrl}' npx switchboard status\nCtrl-C stops it.`);
          await ctx.untilStopped();
        }
      } finally {
        await env.close();
      }
    });
}
