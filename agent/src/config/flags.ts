// Command-line options of every `hopscope` command and of `kubectl hopscope`: each command
// declares its options (and whether it takes positional arguments) once and gets typed values
// back, and every command words the same mistake the same way, naming the flag as it was typed.
// Pure.
//
// node:util parseArgs splits argv (long and short options, `--flag=value`, `-nVALUE`, short
// groups); the strictness is ours. parseArgs' own strict mode also refuses every value that
// starts with "-" unless written `--flag=value`, and a generated token (base64url) starts with
// "-" one time in 64: `--token $T` as the README shows it must keep working. So options and
// positionals parseArgs does not know are refused here, and a value is refused only when it is
// missing, empty or is itself one of the command's options (`--node --port 4780`).
import { parseArgs } from 'node:util';

/** The command line was wrong (as opposed to the work failing): the message names the flag. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** How one option reads; made by the functions below. */
export interface Flag<T> {
  /**
   * value: takes a value, the last one given counts; list: repeatable; switch: no value;
   * optional: a value if the next word is not an option (`--lab` or `--lab demo`), else "".
   */
  readonly kind: 'value' | 'list' | 'switch' | 'optional';
  readonly short?: string;
  /** Why this command refuses it (e.g. "is for open"); said before its value is looked at. */
  readonly refused?: string;
  /** The text given → the value; throws Error saying what was expected (the flag is put in front). */
  readonly read: (text: string) => unknown;
  /** Carries the value type only; never set. */
  readonly __value?: T;
}

/** A command's options by long name (without the dashes). */
export type Spec = Readonly<Record<string, Flag<unknown>>>;

/** The values given, by long name; absent when not given. */
export type Values<S extends Spec> = { -readonly [K in keyof S]?: S[K] extends Flag<infer T> ? T : never };

export interface Parsed<S extends Spec> {
  values: Values<S>;
  /** The forwarded options as they were given (value included), in order. */
  rest: string[];
  /** Arguments that are not options, in order (only when `positionals` allows them). */
  positionals: string[];
}

/** What else a command line may hold besides the spec's options. */
export interface ParseOptions {
  /** Options of a parser that runs next: recognised and handed back in `rest` as given. */
  forward?: Spec;
  /** How many arguments that are not options the command takes (default 0). */
  positionals?: number;
}

/** What a message shows of a value the user typed: enough to recognise it, not a whole paste. */
export function clip(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** An option with a value, read by `read` (default: the text as given). */
export function value(): Flag<string>;
export function value<T>(read: (text: string) => T): Flag<T>;
export function value(read: (text: string) => unknown = (t) => t): Flag<unknown> {
  return { kind: 'value', read };
}

/** An option whose value must match `re`; `what` names what it expects ("a node name"). */
export function pattern(re: RegExp, what: string): Flag<string> {
  return value((t) => {
    if (!re.test(t)) throw new Error(`expected ${what}, got "${clip(t)}"`);
    return t;
  });
}

/** A whole number min..max (decimal digits only: no sign, no exponent, no hex). */
export function int(min: number, max: number, what = `${min}-${max}`): Flag<number> {
  return value((t) => {
    const n = Number(t);
    if (!/^\d{1,15}$/.test(t) || n < min || n > max) throw new Error(`expected ${what}, got "${clip(t, 20)}"`);
    return n;
  });
}

/** An option whose value may be left out (`--lab` alone reads as ""); never takes an option as its value. */
export function optional(): Flag<string>;
export function optional<T>(read: (text: string) => T): Flag<T>;
export function optional(read: (text: string) => unknown = (t) => t): Flag<unknown> {
  return { kind: 'optional', read };
}

/** An option without a value. */
export function toggle(): Flag<true> {
  return { kind: 'switch', read: () => true };
}

/** The option may be given more than once; the values in the order given. */
export function many<T>(f: Flag<T>): Flag<T[]> {
  if (f.kind !== 'value') throw new Error('many() takes an option with a value');
  return { ...f, kind: 'list' } as Flag<unknown> as Flag<T[]>;
}

/** The option also has a one-letter form, e.g. -n for --namespace. */
export function short<T>(letter: string, f: Flag<T>): Flag<T> {
  return { ...f, short: letter };
}

/** The option as it is where `applies`; elsewhere it is refused with `why` ("is for open"). */
export function onlyIf<T>(applies: boolean, why: string, f: Flag<T>): Flag<T> {
  return applies ? f : { ...f, refused: why };
}

/**
 * Read argv against `spec`. Options in `forward` belong to another parser that runs next (e.g.
 * the server's after the agent's): they are recognised (so their values are not mistaken for
 * options) and handed back in `rest` as given. Up to `positionals` other arguments are handed
 * back in `positionals` (a word like "-1" is one of them when it is no option: `scale web -1`
 * then says what is wrong with -1). Anything else is an error. Throws UsageError.
 */
export function parseFlags<S extends Spec>(argv: readonly string[], spec: S, opts: ParseOptions = {}): Parsed<S> {
  const known = new Map<string, { flag: Flag<unknown>; own: boolean }>();
  for (const [name, flag] of Object.entries(opts.forward ?? {})) known.set(name, { flag, own: false });
  for (const [name, flag] of Object.entries(spec)) known.set(name, { flag, own: true });
  const maxPositionals = opts.positionals ?? 0;
  const shorts = new Set<string>();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, { flag }] of known) {
    // An optional value is read by hand below: parseArgs would take the next option as it.
    const type = flag.kind === 'switch' || flag.kind === 'optional' ? 'boolean' : 'string';
    options[name] = { type, ...(flag.short ? { short: flag.short } : {}) };
    if (flag.short) shorts.add(flag.short);
  }
  const isOption = (v: string): boolean =>
    v.startsWith('--') ? known.has(v.slice(2).split('=')[0]!) : v.length === 2 && v[0] === '-' && shorts.has(v[1]!);

  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  const forwarded = new Set<number>();
  const ownAt = new Set<number>();
  const positionals: string[] = [];
  const taken = new Set<number>();
  for (const [at, t] of tokens.entries()) {
    if (t.kind !== 'option') {
      if (t.kind === 'positional' && taken.has(t.index)) continue;
      if (t.kind === 'positional' && positionals.length < maxPositionals) {
        positionals.push(t.value);
        continue;
      }
      throw new UsageError(`unexpected argument "${clip(argv[t.index]!)}"`);
    }
    const k = known.get(t.name);
    if (!k) {
      if (/^-\d/.test(argv[t.index]!) && positionals.length < maxPositionals) {
        positionals.push(argv[t.index]!);
        continue;
      }
      throw new UsageError(`unknown option "${clip(t.rawName)}"`);
    }
    const { flag } = k;
    if (flag.refused) throw new UsageError(`${t.rawName} ${flag.refused}`);
    let text = t.value;
    if (flag.kind === 'optional') {
      const next = tokens[at + 1];
      if (text === undefined && next?.kind === 'positional' && next.index === t.index + 1) {
        text = next.value;
        taken.add(next.index);
      }
      text ??= '';
    } else if (flag.kind === 'switch') {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value`);
    } else if (text === undefined || text === '' || (!t.inlineValue && isOption(text))) {
      throw new UsageError(`${t.rawName} needs a value`);
    }
    if (!k.own) {
      forwarded.add(t.index);
      if (t.inlineValue === false || taken.has(t.index + 1)) forwarded.add(t.index + 1);
      continue;
    }
    ownAt.add(t.index);
    let v: unknown;
    try {
      v = flag.kind === 'optional' && text === '' ? '' : flag.read(text ?? '');
    } catch (e) {
      throw new UsageError(`${t.rawName}: ${(e as Error).message}`);
    }
    if (flag.kind === 'list') ((values[t.name] ??= []) as unknown[]).push(v);
    else values[t.name] = v;
  }
  // Only a group of one-letter options can mix the two (`-hn`); there is no good way to split it.
  for (const i of forwarded) if (ownAt.has(i)) throw new UsageError(`"${clip(argv[i]!)}": give these options one at a time`);
  return { values: values as Values<S>, rest: [...forwarded].sort((a, b) => a - b).map((i) => argv[i]!), positionals };
}
