import { describe, expect, it } from 'vitest';
import { hostAllowed } from './auth.ts';

describe('hostAllowed', () => {
  it('on a loopback bind, answers only loopback names', () => {
    for (const bind of ['127.0.0.1', 'localhost', '::1']) {
      expect(hostAllowed('127.0.0.1:7070', bind)).toBe(true);
      expect(hostAllowed('localhost:7070', bind)).toBe(true);
      expect(hostAllowed('[::1]:7070', bind)).toBe(true);
      expect(hostAllowed('LocalHost', bind)).toBe(true);
      expect(hostAllowed('evil.example:7070', bind)).toBe(false);
      expect(hostAllowed('127.0.0.1.nip.io:7070', bind)).toBe(false);
      expect(hostAllowed('localhost.evil.example', bind)).toBe(false);
    }
  });
  it('does not judge Host on a bind chosen to expose the server', () => {
    expect(hostAllowed('hopscope.example:7070', '0.0.0.0')).toBe(true);
    expect(hostAllowed('10.0.0.5:7070', '10.0.0.5')).toBe(true);
  });
});
