// Token authentication and same-origin checks for the HTTP API and the websocket upgrade.
// Pure functions over header values so they are tested without a server.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';

/** Name of the cookie set after the first page load with `?token=`. */
export const TOKEN_COOKIE = 'hopscope_token';

/** A fresh random token (URL-safe, 192 bits). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Tokens given by the user must be long enough to resist guessing and URL-safe. */
export function validateToken(t: string): string {
  if (!/^[A-Za-z0-9_-]{16,256}$/.test(t)) throw new Error('token must be 16-256 characters of A-Z a-z 0-9 _ -');
  return t;
}

/** Constant-time comparison; hashing first makes the lengths equal so length does not leak either. */
export function tokenEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Where a request's token came from, if it carried one. */
export type PresentedToken = { token: string; via: 'bearer' | 'cookie' | 'query' } | undefined;

/** The token a request presents: Authorization: Bearer, then the cookie, then `?token=`. */
export function presentedToken(headers: { authorization?: string; cookie?: string }, url: URL): PresentedToken {
  const auth = headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth)) return { token: auth.replace(/^Bearer\s+/i, '').trim(), via: 'bearer' };
  const c = cookieValue(headers.cookie, TOKEN_COOKIE);
  if (c) return { token: c, via: 'cookie' };
  const q = url.searchParams.get('token');
  if (q) return { token: q, via: 'query' };
  return undefined;
}

/** Set-Cookie value carrying the token: HttpOnly (no script access), SameSite=Strict (no CSRF). */
export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

const LOOPBACK_BINDS = new Set(['127.0.0.1', 'localhost', '::1']);
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A server bound to loopback answers only requests addressed to a loopback name: a page whose
 * DNS name was rebound to 127.0.0.1 sends its own name as Host (and as Origin, which would then
 * match), and is refused here. A server bound elsewhere was exposed on purpose; Host is not judged.
 */
export function hostAllowed(host: string | undefined, bindHost: string): boolean {
  if (!LOOPBACK_BINDS.has(bindHost) || host === undefined) return true;
  const name = host.toLowerCase().replace(/:\d{1,5}$/, '');
  return LOOPBACK_NAMES.has(name);
}

/**
 * Browsers send Origin on websocket upgrades and cross-site requests; it must name the host the
 * request was sent to. Clients that send no Origin (CLI tools, tests) are judged by the token alone.
 */
export function originAllowed(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (!host) return false;
  try {
    const o = new URL(origin);
    return (o.protocol === 'http:' || o.protocol === 'https:') && o.host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}
