// One structured logger for the process, with klog's verbosity levels: V(0) is always shown (what an
// operator needs), V(2) is useful steady-state detail, V(4)+ is debugging. Two formats: klog-like
// text (`I1203 12:42:15.123456 12345] msg key="value"`) and JSON lines (kube's --logging-format=json:
// {"ts":..,"v":0,"msg":..,...}). Modules log through `log` (configured once by the CLI, as klog is);
// servers also take a Logger in their options so an embedding program can hand in its own.

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  /** An error: always shown, with the error's message under "err". */
  error(msg: string, err?: unknown, fields?: LogFields): void;
  /** A logger that writes only when the configured verbosity is at least `level` (klog.V(level)). */
  v(level: number): Logger;
  enabled(level: number): boolean;
}

export type LogFormat = 'text' | 'json';

export interface LogOptions {
  format?: LogFormat;
  /** klog's -v: messages above this level are dropped (default 0). */
  verbosity?: number;
  /** Where lines go (default stderr, as klog). */
  write?: (line: string) => void;
}

const NOOP: Logger = { info() {}, error() {}, v: () => NOOP, enabled: () => false };

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v) ?? 'undefined';
}

/** A new logger writing `format` lines at `verbosity`. */
export function createLogger(o: LogOptions = {}): Logger {
  const format = o.format ?? 'text';
  const verbosity = o.verbosity ?? 0;
  const write = o.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (severity: 'I' | 'E', level: number, msg: string, fields: LogFields | undefined) => {
    const now = new Date();
    if (format === 'json') {
      const rec: LogFields = { ts: now.getTime() / 1000, v: level, msg };
      if (severity === 'E') rec.level = 'error';
      for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) rec[k] = v;
      write(JSON.stringify(rec));
      return;
    }
    const head = `${severity}${pad(now.getMonth() + 1)}${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds(), 3)}000 ${process.pid}]`;
    const kv = Object.entries(fields ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${textValue(v)}`)
      .join('');
    write(`${head} ${JSON.stringify(msg)}${kv}`);
  };
  const at = (level: number): Logger => {
    if (level > verbosity) return NOOP;
    return {
      info: (msg, fields) => emit('I', level, msg, fields),
      error: (msg, err, fields) => emit('E', level, msg, err === undefined ? fields : { ...fields, err: errText(err) }),
      v: (l) => at(l),
      enabled: (l) => l <= verbosity,
    };
  };
  return at(0);
}

let current: Logger = createLogger();

/** The process logger: every call goes to the one configured last (configureLogging / setLogger). */
export const log: Logger = {
  info: (msg, fields) => current.info(msg, fields),
  error: (msg, err, fields) => current.error(msg, err, fields),
  v: (level) => current.v(level),
  enabled: (level) => current.enabled(level),
};

export function setLogger(l: Logger): void {
  current = l;
}

export function configureLogging(o: LogOptions): Logger {
  setLogger(createLogger(o));
  return log;
}
