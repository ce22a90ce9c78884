import { describe, expect, it } from 'vitest';
import { int, many, onlyIf, optional, parseFlags, pattern, short, toggle, UsageError, value } from './flags.ts';

const spec = {
  name: pattern(/^[a-z]+$/, 'a lower-case name'),
  count: int(1, 100),
  tag: many(value()),
  verbose: short('v', toggle()),
  namespace: short('n', value()),
};
const server = { port: int(0, 65535), token: value(), help: short('h', toggle()) };

describe('parseFlags', () => {
  it('reads typed values in every spelling parseArgs knows; the last of a value counts, a list keeps them all', () => {
    const { values, rest } = parseFlags(['--name', 'a', '--count=7', '--tag', 'x', '--tag=y', '-v', '-nkube', '--name', 'b'], spec);
    expect(values).toEqual({ name: 'b', count: 7, tag: ['x', 'y'], verbose: true, namespace: 'kube' });
    expect(rest).toEqual([]);
    expect(parseFlags([], spec).values).toEqual({});
  });

  it('refuses unknown options and stray arguments', () => {
    expect(() => parseFlags(['--bogus'], spec)).toThrow('unknown option "--bogus"');
    expect(() => parseFlags(['--bogus=secret-value'], spec)).toThrow(/^unknown option "--bogus"$/);
    expect(() => parseFlags(['-x'], spec)).toThrow('unknown option "-x"');
    expect(() => parseFlags(['extra'], spec)).toThrow('unexpected argument "extra"');
    expect(() => parseFlags(['--', '--name'], spec)).toThrow('unexpected argument "--"');
  });

  it('says which flag needs a value: at the end, empty, or followed by another option', () => {
    expect(() => parseFlags(['--name'], spec)).toThrow(/^--name needs a value$/);
    expect(() => parseFlags(['--name='], spec)).toThrow(/^--name needs a value$/);
    expect(() => parseFlags(['--name', ''], spec)).toThrow(/^--name needs a value$/);
    expect(() => parseFlags(['-n'], spec)).toThrow(/^-n needs a value$/);
    expect(() => parseFlags(['--name', '--count', '3'], spec)).toThrow(/^--name needs a value$/);
    expect(() => parseFlags(['--name', '-v'], spec)).toThrow(/^--name needs a value$/);
    expect(() => parseFlags(['--verbose=yes'], spec)).toThrow(/^--verbose takes no value$/);
  });

  it('a value may start with "-" when it is not an option (a generated token can)', () => {
    expect(parseFlags(['--namespace', '-abc-'], spec).values.namespace).toBe('-abc-');
    expect(parseFlags(['--namespace=--count'], spec).values.namespace).toBe('--count');
  });

  it('bad values name the flag as typed and what was expected', () => {
    expect(() => parseFlags(['--name', 'Bad'], spec)).toThrow('--name: expected a lower-case name, got "Bad"');
    expect(() => parseFlags(['--count', '0'], spec)).toThrow('--count: expected 1-100, got "0"');
    expect(() => parseFlags(['--count', '101'], spec)).toThrow(/--count: expected 1-100/);
    for (const bad of ['1e2', '0x10', '-5', '+5', '5.0', ' 5', '99999999999999999999'])
      expect(() => parseFlags([`--count=${bad}`], spec), bad).toThrow(/--count: expected 1-100/);
    expect(() => parseFlags(['--count', 'x'.repeat(500)], spec)).toThrow(/got "x{20}…"$/);
    expect(() => parseFlags(['--x'], { x: value(() => { throw new Error('no'); }) })).toThrow(/^--x needs a value$/);
    expect(() => parseFlags(['--x=1'], { x: value(() => { throw new Error('not today'); }) })).toThrow(/^--x: not today$/);
  });

  it('a refused option says why before its value is looked at', () => {
    const s = { port: onlyIf(false, 'is for open', int(1, 65535)) };
    expect(() => parseFlags(['--port', 'not-a-number'], s)).toThrow(/^--port is for open$/);
    expect(parseFlags(['--port', '80'], { port: onlyIf(true, 'is for open', int(1, 65535)) }).values.port).toBe(80);
  });

  it('forwards the next parser\'s options as given, values included, in order', () => {
    const argv = ['--port', '4780', '--name', 'a', '--token', '-tok-starting-with-dash', '-h', '--port=1', '--tag', 't'];
    const { values, rest } = parseFlags(argv, spec, { forward: server });
    expect(values).toEqual({ name: 'a', tag: ['t'] });
    expect(rest).toEqual(['--port', '4780', '--token', '-tok-starting-with-dash', '-h', '--port=1']);
    // The forwarded part reads the same in the parser it is meant for.
    expect(parseFlags(rest, server).values).toEqual({ port: 1, token: '-tok-starting-with-dash', help: true });
  });

  it('what is neither its own nor forwarded is still refused; forwarded options still need their value', () => {
    expect(() => parseFlags(['--bogus'], spec, { forward: server })).toThrow('unknown option "--bogus"');
    expect(() => parseFlags(['--token'], spec, { forward: server })).toThrow(/^--token needs a value$/);
    expect(() => parseFlags(['--token', '--name', 'a'], spec, { forward: server })).toThrow(/^--token needs a value$/);
    expect(() => parseFlags(['-vh'], spec, { forward: server })).toThrow('"-vh": give these options one at a time');
  });

  it('its own spec wins over a forwarded option of the same name', () => {
    const { values, rest } = parseFlags(['--port', '7'], { port: int(1, 9) }, { forward: server });
    expect(values).toEqual({ port: 7 });
    expect(rest).toEqual([]);
  });

  it('an optional value is taken only from a word that is not an option', () => {
    const s = { lab: optional(), json: toggle() };
    expect(parseFlags(['--lab', 'demo', '--json'], s).values).toEqual({ lab: 'demo', json: true });
    expect(parseFlags(['--lab', '--json'], s).values).toEqual({ lab: '', json: true });
    expect(parseFlags(['--lab'], s).values).toEqual({ lab: '' });
    expect(parseFlags(['--lab=x'], s).values).toEqual({ lab: 'x' });
    expect(() => parseFlags(['--lab', 'a', 'b'], s)).toThrow('unexpected argument "b"');
    expect(() => parseFlags(['--lab', 'Bad'], { lab: optional(() => { throw new Error('not a lab name'); }) })).toThrow(/^--lab: not a lab name$/);
  });

  it('positionals: as many as the command takes; a negative number is one, not an unknown option', () => {
    expect(parseFlags(['web', '-1', '-v'], spec, { positionals: 2 })).toMatchObject({ positionals: ['web', '-1'], values: { verbose: true } });
    expect(() => parseFlags(['a', 'b', 'c'], spec, { positionals: 2 })).toThrow('unexpected argument "c"');
    expect(() => parseFlags(['-1'], spec)).toThrow('unknown option "-1"');
    expect(() => parseFlags(['--bogus'], spec)).toThrow(UsageError);
  });
});
