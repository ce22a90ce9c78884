// Seeded generators for the fuzz tests of inputs that cross a trust boundary (websocket frames
// to the agent and to the hub, requests to the lab API). Everything comes from seededRandom, so
// a failure is reproduced by its seed. The shapes lean towards what breaks parsers and the code
// that quotes their errors: multi-byte and astral characters, lone surrogates, deep nesting,
// numbers JSON cannot hold, very long strings, keys like __proto__, and near-valid messages with
// one thing wrong.
import v8 from 'node:v8';
import vm from 'node:vm';
import { seededRandom } from '../agent/src/tracer/__tests__/seeded-random.ts';

/** A seeded source: `int(n)` in [0, n), plus the helpers built on it. */
export interface Rng {
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

export function rng(seed: number): Rng {
  const next = seededRandom(seed);
  // Two draws per number: single draws of this generator modulo small n are visibly correlated.
  const int = (n: number): number => (next(32768) * 32768 + next(32768)) % n;
  return { int, pick: (xs) => xs[int(xs.length)]!, chance: (p) => int(10_000) < p * 10_000 };
}

/** Characters by UTF-8 width, plus what is not a character at all. */
const CHARS = [
  'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', '\u007f', // 1 byte, incl. controls and JSON escapes
  'é', 'ß', 'Ω', '\u0085', // 2 bytes
  '中', '€', '\u200b', '\u202e', '\ufeff', '\uffff', // 3 bytes: CJK, zero-width, RTL override, BOM, non-character
  '🦆', '😀', '\u{10ffff}', '\u{1d11e}', // 4 bytes: astral plane
  '\ud800', '\udfff', // lone surrogates (not representable in UTF-8)
] as const;

const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'type', 'filter', 'version', 'token', 'id', 'action', 'kind', 'spec', 'replicas', 'op', 'path', 'value', ''] as const;

/** A string of `n` characters drawn from one or a few widths. */
export function fuzzString(r: Rng, maxLen = 300): string {
  const len = r.chance(0.05) ? r.int(maxLen * 20) : r.int(maxLen);
  // One repeated character is the shape that split a character at the byte limit.
  if (r.chance(0.3)) return r.pick(CHARS).repeat(len);
  let s = '';
  for (let i = 0; i < len; i++) s += r.pick(CHARS);
  return s;
}

/** A key: a special name, a short word, or a long multi-byte run. */
export function fuzzKey(r: Rng): string {
  const k = r.int(4);
  return k === 0 ? r.pick(KEYS) : k === 1 ? fuzzString(r, 12) : k === 2 ? r.pick(CHARS).repeat(20 + r.int(120)) : `k${r.int(1000)}`;
}

/** A number JSON can hold, and some it cannot (as raw JSON text). */
export function fuzzNumberText(r: Rng): string {
  return r.pick([
    () => String(r.int(70000)),
    () => String(-r.int(1_000_000)),
    () => '-0',
    () => '1e308',
    () => '-1e309',
    () => `1${'0'.repeat(400)}`,
    () => '9007199254740993',
    () => '4.9e-325',
    () => `0.${'1'.repeat(500)}`,
    () => String(2 ** 31),
    () => String(r.int(1000) / 7),
  ])();
}

/** JSON text of a random value, nested up to `depth` (more as bare brackets). */
export function fuzzJsonText(r: Rng, depth = 4): string {
  const k = r.int(depth > 0 ? 9 : 5);
  switch (k) {
    case 0:
      return 'null';
    case 1:
      return r.chance(0.5) ? 'true' : 'false';
    case 2:
      return fuzzNumberText(r);
    case 3:
    case 4:
      return JSON.stringify(fuzzString(r));
    case 5: {
      // Deep nesting as bare brackets: cheap to build, deep enough for any recursive walker.
      // Within the agent's 16 KiB frame limit, so the parser (not the size check) meets it.
      const d = 1 + r.int(2500);
      return r.chance(0.5) ? '['.repeat(d * 2) + ']'.repeat(d * 2) : '{"a":'.repeat(d) + '1' + '}'.repeat(d);
    }
    case 6:
    case 7: {
      const n = r.int(6);
      const fields: string[] = [];
      for (let i = 0; i < n; i++) fields.push(`${JSON.stringify(fuzzKey(r))}:${fuzzJsonText(r, depth - 1)}`);
      return `{${fields.join(',')}}`;
    }
    default: {
      const n = r.int(6);
      return `[${Array.from({ length: n }, () => fuzzJsonText(r, depth - 1)).join(',')}]`;
    }
  }
}

const HOLE = '@@fuzz-value@@';

/**
 * JSON text of `valid` with one thing wrong (or, sometimes, nothing): an extra key, a field
 * replaced, removed or re-typed, at any depth. Values go in as raw JSON text, so
 * they can be what JSON.stringify cannot write (numbers past double range, nesting deeper than
 * its stack, a "__proto__" key).
 */
export function mutateJson(r: Rng, valid: Record<string, unknown>): string {
  const o: Record<string, unknown> = structuredClone(valid);
  // Walk down a random path (objects and arrays alike) and break something there.
  let target: Record<string, unknown> = o;
  for (;;) {
    const inner = Object.values(target).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null);
    if (inner.length === 0 || r.chance(0.4)) break;
    target = r.pick(inner);
  }
  const keys = Object.keys(target);
  let hole: string | undefined;
  switch (r.int(5)) {
    case 0: {
      const key = fuzzKey(r);
      // An own "__proto__" key only exists in JSON text: as a property here it would set the prototype.
      if (key === '__proto__') return `{"__proto__":${fuzzJsonText(r, 2)},${JSON.stringify(o).slice(1)}`;
      target[key] = HOLE;
      hole = fuzzJsonText(r, 2);
      break;
    }
    case 1:
      if (keys.length) {
        target[r.pick(keys)] = HOLE;
        hole = fuzzJsonText(r, 2);
      }
      break;
    case 2:
      if (keys.length) delete target[r.pick(keys)];
      break;
    case 3:
      if (keys.length) target[r.pick(keys)] = fuzzString(r);
      break;
    default:
      break; // unchanged: valid frames must keep working between the broken ones
  }
  const text = JSON.stringify(o);
  return hole === undefined ? text : text.replace(JSON.stringify(HOLE), () => hole);
}

/** Bytes that are not UTF-8: stray continuation bytes, overlongs, surrogates, truncated sequences. */
export function invalidUtf8(r: Rng): Buffer {
  const bad = [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xff], [0xf0, 0x9f, 0xa6]];
  const prefix = Buffer.from(`{"type":"subscribe","filter":{"namespace":"`);
  return Buffer.concat([prefix, Buffer.from(r.pick(bad)), Buffer.from('"}}')]);
}

/** Random bytes. */
export function randomBytes(r: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
}

/** A full collection, then the heap in use (bytes). */
export function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * The longest stretch (ms) of [start, end] with none of `times` in it: how long a well-behaved
 * client went without what it should keep getting while the fuzzers ran.
 */
export function longestGap(times: readonly number[], start: number, end: number): number {
  let last = start;
  let longest = 0;
  for (const t of [...times].sort((a, b) => a - b)) {
    if (t < start || t > end) continue;
    longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.max(longest, end - last);
}

/** Longest gap a well-behaved client may see: its stream runs every 50-100 ms; this is slack for a loaded machine. */
export const MAX_GAP_MS = 2000;
