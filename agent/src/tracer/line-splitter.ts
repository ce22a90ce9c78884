// Splits bpftrace's stdout into lines as byte ranges, so the decoder can read hop lines in
// place: readline made a string of every line (after decoding each chunk as UTF-8), which was
// most of the agent's per-line cost above the decoder itself.

/** Receives one line: `buf[start..end)`, without its newline (and without a trailing CR). */
export type LineSink = (buf: Uint8Array, start: number, end: number) => void;

export interface LineSplitter {
  /** Feeds a chunk; calls the sink once for each line the chunk completes. */
  push(chunk: Uint8Array): void;
  /** The stream ended: an unterminated last line is still a line. */
  end(): void;
}

/**
 * A splitter that holds at most `maxLine` bytes of an unfinished line: a longer run without a
 * newline is handed on as a line of its own (the decoder rejects it as too long) rather than
 * growing without bound.
 */
export function createLineSplitter(sink: LineSink, maxLine = 1 << 20): LineSplitter {
  let tail: Uint8Array | null = null;

  const emit = (buf: Uint8Array, start: number, end: number): void => {
    sink(buf, start, end > start && buf[end - 1] === 13 ? end - 1 : end);
  };

  return {
    push(chunk: Uint8Array): void {
      let at = 0;
      if (tail !== null) {
        const nl = chunk.indexOf(10);
        if (nl < 0) {
          tail = concat(tail, chunk);
          if (tail.length > maxLine) {
            emit(tail, 0, tail.length);
            tail = null;
          }
          return;
        }
        const line = concat(tail, chunk.subarray(0, nl));
        tail = null;
        emit(line, 0, line.length);
        at = nl + 1;
      }
      for (;;) {
        const nl = chunk.indexOf(10, at);
        if (nl < 0) break;
        emit(chunk, at, nl);
        at = nl + 1;
      }
      if (at < chunk.length) {
        // The chunk may be reused by its producer once we return: keep a copy (a Buffer's
        // slice() is a view, not a copy).
        tail = concat(EMPTY, chunk.subarray(at));
        if (tail.length > maxLine) {
          emit(tail, 0, tail.length);
          tail = null;
        }
      }
    },
    end(): void {
      if (tail !== null && tail.length > 0) emit(tail, 0, tail.length);
      tail = null;
    },
  };
}

const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
