import { describe, expect, it } from 'vitest';
import { createLineSplitter } from './line-splitter.ts';

const text = (b: Uint8Array, s: number, e: number): string => Buffer.from(b.subarray(s, e)).toString('utf8');

function split(chunks: string[], maxLine?: number): string[] {
  const out: string[] = [];
  const sp = createLineSplitter((b, s, e) => out.push(text(b, s, e)), maxLine);
  for (const c of chunks) sp.push(Buffer.from(c));
  sp.end();
  return out;
}

describe('line splitter', () => {
  it('gives every line of a chunk, in order', () => {
    expect(split(['a b\nc\n\nd\n'])).toEqual(['a b', 'c', '', 'd']);
  });

  it('joins a line cut across chunks, however it is cut', () => {
    const whole = 'H 1 2 3\nD 4 5 veth0\nF 9 ffff\n';
    for (let cut = 0; cut <= whole.length; cut++) {
      for (let cut2 = cut; cut2 <= whole.length; cut2 += 3) {
        expect(split([whole.slice(0, cut), whole.slice(cut, cut2), whole.slice(cut2)])).toEqual(['H 1 2 3', 'D 4 5 veth0', 'F 9 ffff']);
      }
    }
  });

  it('keeps its own copy of a partial line when the producer reuses the chunk', () => {
    const out: string[] = [];
    const sp = createLineSplitter((b, s, e) => out.push(text(b, s, e)));
    const chunk = Buffer.from('one\ntw');
    sp.push(chunk);
    chunk.fill(0x7a); // the stream's buffer is recycled
    sp.push(Buffer.from('o\n'));
    expect(out).toEqual(['one', 'two']);
  });

  it('hands over an unterminated last line at the end, and strips CR', () => {
    expect(split(['x\r\ny'])).toEqual(['x', 'y']);
  });

  it('does not grow without bound on a stream with no newline', () => {
    const out = split(['a'.repeat(40), 'b'.repeat(40), 'c\n'], 64);
    expect(out).toEqual(['a'.repeat(40) + 'b'.repeat(40), 'c']);
  });

  it('keeps multi-byte characters whole across a cut', () => {
    const bytes = Buffer.from('D 1 0 0 0 vé\n');
    const out: string[] = [];
    const sp = createLineSplitter((b, s, e) => out.push(text(b, s, e)));
    sp.push(bytes.subarray(0, bytes.length - 2));
    sp.push(bytes.subarray(bytes.length - 2));
    expect(out).toEqual(['D 1 0 0 0 vé']);
  });
});
