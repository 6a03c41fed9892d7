// pino JSON lines with {component, node} (DESIGN §6.10). PODNET_LOG_LEVEL sets the level
// (default "info"); tests may set it to "silent".
import { type Logger, pino } from 'pino';

export type { Logger };

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino({ level: process.env.PODNET_LOG_LEVEL ?? 'info', base: { pid: process.pid } });
  return root;
}

export function componentLogger(component: string, bindings: Record<string, unknown> = {}, parent?: Logger): Logger {
  return (parent ?? rootLogger()).child({ component, ...bindings });
}
