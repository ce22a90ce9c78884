// The --write options of trace, serve and start: where a recording goes and its bounds. Pure.
import { int, value, type Values } from './flags.ts';

/** --write and its bounds, shared by every command that records. */
export const RECORD_FLAGS = {
  write: value(),
  'write-max-mb': int(1, 1_000_000, 'megabytes, 1-1000000'),
  'write-max-minutes': int(1, 100_000, 'minutes, 1-100000'),
  'write-keep': int(0, 1000, 'a count of files, 0-1000'),
};

/** The help lines of RECORD_FLAGS. */
export const RECORD_FLAGS_HELP = `  --write <file>           also record to FILE (gzip'd JSON lines, mode 0600; "hopscope open FILE" replays it)
  --write-max-mb <n>       start a new file past n MB (default 256); the old one becomes FILE.1, FILE.1 FILE.2, ...
  --write-max-minutes <n>  start a new file after n minutes (default: no time bound)
  --write-keep <n>         rotated files kept (default 3; 0 keeps none)`;

/** Where and how a recording is written. */
export interface RecordOptions {
  path: string;
  maxBytes: number;
  maxSeconds?: number;
  keep: number;
}

/** RECORD_FLAGS values → options (undefined without --write). */
export function recordOptionsOf(v: Values<typeof RECORD_FLAGS>): RecordOptions | undefined {
  if (!v.write) return undefined;
  return {
    path: v.write,
    maxBytes: (v['write-max-mb'] ?? 256) * 1024 * 1024,
    ...(v['write-max-minutes'] !== undefined ? { maxSeconds: v['write-max-minutes'] * 60 } : {}),
    keep: v['write-keep'] ?? 3,
  };
}
