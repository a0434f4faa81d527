/**
 * Routes graphile-worker's log lines into our pino logger, keeping its scope
 * (worker id, task, job id) as fields. Its info chatter goes to debug.
 */
import { Logger as GraphileLogger } from 'graphile-worker';
import type { Logger } from '../log.ts';

export function graphileLogger(log: Logger): GraphileLogger {
  const child = log.child({ component: 'graphile-worker' });
  return new GraphileLogger((scope) => (level, message, meta) => {
    const fields = { ...scope, ...(meta ?? {}) };
    if (level === 'error') child.error(fields, message);
    else if (level === 'warning') child.warn(fields, message);
    else child.debug(fields, message);
  });
}
