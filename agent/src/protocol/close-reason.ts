// Websocket close frames, within RFC 6455's limits (which `ws` enforces by throwing from close()).
// Every close with a reason goes through here: reasons often quote what a peer sent (a zod
// message names the offending key), so their length and characters are the peer's choice. Pure.

/** Most bytes of UTF-8 a close reason may carry (125-byte control payload minus the 2-byte code). */
export const MAX_CLOSE_REASON_BYTES = 123;

const ELLIPSIS = '…';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `reason` cut to MAX_CLOSE_REASON_BYTES of UTF-8 on a character boundary, ending in "…" when
 * cut. Cutting bytes mid-character would decode to U+FFFD (3 bytes) and grow back past the limit.
 */
export function closeReason(reason: string): string {
  // Lone surrogates encode as U+FFFD: measuring the encoded form measures what ws will send.
  // (TextEncoder rather than Buffer: src/protocol is shared with the browser.)
  const bytes = encoder.encode(reason);
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return decoder.decode(bytes);
  let end = MAX_CLOSE_REASON_BYTES - encoder.encode(ELLIPSIS).length;
  // Back off continuation bytes (10xxxxxx) to the lead byte of the character that was split.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end)) + ELLIPSIS;
}

/** Close codes a peer may be sent (RFC 6455 7.4, as ws checks them). */
export function isValidCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999));
}

/** The part of a websocket closing needs. */
export interface ClosableSocket {
  close(code: number, reason: string): void;
  terminate?(): void;
}

/**
 * Close `sock` with `code` and `reason` (cut to fit). Never throws: a close that fails anyway
 * (the socket broke under us) terminates the connection instead, so one peer cannot take the
 * process down through its own close.
 */
export function closeWith(sock: ClosableSocket, code: number, reason: string): void {
  try {
    sock.close(code, closeReason(reason));
  } catch {
    sock.terminate?.();
  }
}
