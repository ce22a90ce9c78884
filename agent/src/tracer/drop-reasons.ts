// Drop reason names as this kernel defines them: the `__print_symbolic` table in the
// skb:kfree_skb tracepoint's format file. Names differ between kernel versions, so they are
// read at start rather than compiled in.
import { readFile } from 'node:fs/promises';

/** Where tracefs may be mounted, in order of preference. */
export const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** Parses `{ 2, "NOT_SPECIFIED" }` pairs of the reason's __print_symbolic. Pure. */
export function parseDropReasons(format: string): Map<number, string> {
  const out = new Map<number, string>();
  const at = format.indexOf('__print_symbolic(REC->reason');
  if (at < 0) return out;
  // The table ends at the parenthesis closing __print_symbolic (names are quoted, so skip quotes).
  let depth = 0;
  let end = format.length;
  for (let i = at + '__print_symbolic'.length, quoted = false; i < format.length; i++) {
    const c = format[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')' && --depth === 0) { end = i; break; }
  }
  const pair = /\{\s*(\d+)\s*,\s*"([A-Za-z0-9_]+)"\s*\}/g;
  for (const m of format.slice(at, end).matchAll(pair)) out.set(Number(m[1]), m[2]!);
  return out;
}

/** Reads and parses the table; an empty map (numbers only) when tracefs is unreadable. */
export async function readDropReasons(dirs: string[] = TRACEFS_DIRS): Promise<Map<number, string>> {
  for (const dir of dirs) {
    try {
      return parseDropReasons(await readFile(`${dir}/events/skb/kfree_skb/format`, 'utf8'));
    } catch {
      // try the next mount point
    }
  }
  return new Map();
}
