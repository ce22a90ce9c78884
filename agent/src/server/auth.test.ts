import { describe, expect, it } from 'vitest';
import { cookieValue, generateToken, originAllowed, presentedToken, tokenEquals, validateToken } from './auth.ts';

describe('auth', () => {
  it('generates distinct URL-safe tokens that validate', () => {
    const a = generateToken();
    expect(a).not.toBe(generateToken());
    expect(validateToken(a)).toBe(a);
    expect(() => validateToken('short')).toThrow(/16-256/);
    expect(() => validateToken('has spaces in it, long enough')).toThrow();
  });
  it('compares tokens of any length', () => {
    expect(tokenEquals('abc', 'abc')).toBe(true);
    expect(tokenEquals('abc', 'abcd')).toBe(false);
    expect(tokenEquals('', 'abc')).toBe(false);
  });
  it('finds the token in bearer, cookie or query, in that order', () => {
    const u = new URL('http://h/?token=q');
    expect(presentedToken({ authorization: 'Bearer b' }, u)).toEqual({ token: 'b', via: 'bearer' });
    expect(presentedToken({ cookie: 'x=1; hopscope_token=c' }, u)).toEqual({ token: 'c', via: 'cookie' });
    expect(presentedToken({}, u)).toEqual({ token: 'q', via: 'query' });
    expect(presentedToken({}, new URL('http://h/'))).toBeUndefined();
    expect(cookieValue('a=1;b=2', 'b')).toBe('2');
  });
  it('allows only same-host origins', () => {
    expect(originAllowed(undefined, '127.0.0.1:8080')).toBe(true);
    expect(originAllowed('http://127.0.0.1:8080', '127.0.0.1:8080')).toBe(true);
    expect(originAllowed('http://evil.example', '127.0.0.1:8080')).toBe(false);
    expect(originAllowed('http://127.0.0.1:9999', '127.0.0.1:8080')).toBe(false);
    expect(originAllowed('null', '127.0.0.1:8080')).toBe(false);
    expect(originAllowed('file://x', undefined)).toBe(false);
  });
});
