// Structured logs: one JSON object per line on stderr, with level, component, cluster and member.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  cluster?: string;
  member?: string;
  component?: string;
  write?: (line: string) => void;
}

/** Values that must never reach a log line, whatever field they hide in. */
const secrets = new Set<string>();
export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= 3) secrets.add(value);
}
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('******');
  return out;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, name: value.name };
  return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = {
    component: options.component ?? 'governor',
    cluster: options.cluster,
    member: options.member,
  };
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < threshold) return;
    const record: Record<string, unknown> = { ts: new Date().toISOString(), level, ...base, msg };
    if (fields) for (const [k, v] of Object.entries(fields)) record[k] = errorFields(v);
    write(redact(JSON.stringify(record)));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (component) => createLogger({ ...options, component }),
  };
}
