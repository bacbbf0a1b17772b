/**
 * The local runtime's own logger: one JSON object per line on stderr, so it never mixes with what a
 * handler prints on stdout and stays greppable. Handlers keep using Powertools; this is for the
 * machinery around them (emulators, pollers, provisioning).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Defaults to `SWITCHYARD_LOG_LEVEL`, else `info`. */
  level?: LogLevel;
  /** Where lines go (without the trailing newline). Defaults to stderr. */
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function isLogLevel(value: string | undefined): value is LogLevel {
  return value !== undefined && value in RANK;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const envLevel = process.env.SWITCHYARD_LOG_LEVEL?.toLowerCase();
  const level: LogLevel = options.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  return build({ component }, RANK[level], write);
}

/** A logger that drops everything: handy in tests. */
export const silentLogger: Logger = createLogger('silent', { level: 'silent', write: () => {} });

function build(base: LogFields, threshold: number, write: (line: string) => void): Logger {
  const emit = (level: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields) => {
    if (RANK[level] < threshold) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, ...base, msg: message };
    for (const [key, value] of Object.entries(fields ?? {})) line[key] = serialize(value);
    try {
      write(JSON.stringify(line));
    } catch {
      // A logger must never take the runtime down (a closed stderr, a cyclic value).
    }
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => build({ ...base, ...fields }, threshold, write),
  };
}

function serialize(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = serialize(value.cause);
    return out;
  }
  return value;
}
