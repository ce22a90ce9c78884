import { describe, expect, it } from 'vitest';
import { openUrl, parseServerArgs, serverWarnings, tokenWarning } from './config.ts';

const d = { uiDir: '/ui', port: 7070 };

describe('parseServerArgs', () => {
  it('binds loopback with a generated token by default', () => {
    const c = parseServerArgs([], {}, d, 'start');
    expect(c).toMatchObject({ host: '127.0.0.1', port: 7070, tokenGenerated: true, uiDir: '/ui', help: false });
    expect(c.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
  it('takes the token from --token or HOPSCOPE_TOKEN, flag first', () => {
    expect(parseServerArgs([], { HOPSCOPE_TOKEN: 'env-token-0123456789' }, d, 'start')).toMatchObject({ token: 'env-token-0123456789', tokenGenerated: false });
    expect(parseServerArgs(['--token=flag-token-0123456789'], { HOPSCOPE_TOKEN: 'env-token-0123456789' }, d, 'start').token).toBe('flag-token-0123456789');
    // Generated tokens are base64url: one in 64 starts with "-".
    expect(parseServerArgs(['--token', '-k2H_generated-token'], {}, d, 'serve').token).toBe('-k2H_generated-token');
  });
  it('takes the token from --token-file before the environment, and says where it came from', () => {
    const files: Record<string, string> = { '/t': 'file-token-0123456789\n', '/bad': 'not a token\n' };
    const read = (p: string) => {
      const t = files[p];
      if (t === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return t;
    };
    const c = parseServerArgs(['--token-file', '/t'], { HOPSCOPE_TOKEN: 'env-token-0123456789' }, d, 'serve', read);
    expect(c).toMatchObject({ token: 'file-token-0123456789', tokenFrom: 'file', tokenGenerated: false });
    expect(parseServerArgs([], { HOPSCOPE_TOKEN: 'env-token-0123456789' }, d, 'serve', read).tokenFrom).toBe('env');
    expect(parseServerArgs(['--token', 'flag-token-0123456789'], {}, d, 'serve', read).tokenFrom).toBe('flag');
    expect(parseServerArgs([], {}, d, 'serve', read).tokenFrom).toBe('generated');
    expect(() => parseServerArgs(['--token-file', '/nope'], {}, d, 'serve', read)).toThrow(/^--token-file: cannot read \/nope: ENOENT$/);
    expect(() => parseServerArgs(['--token-file', '/bad'], {}, d, 'serve', read)).toThrow(/^--token-file: token must be/);
    expect(() => parseServerArgs(['--token-file', '/t', '--token', 'flag-token-0123456789'], {}, d, 'serve', read)).toThrow(/choose one/);
    expect(tokenWarning('flag')).toMatch(/every local user/);
    expect(tokenWarning('file')).toBeUndefined();
    expect(tokenWarning('env')).toBeUndefined();
  });
  it('warns of a token in argv and of a bind beyond loopback, for every serving command alike', () => {
    expect(serverWarnings({ tokenFrom: 'env', host: '127.0.0.1' })).toEqual([]);
    expect(serverWarnings({ tokenFrom: 'file', host: '::1' })).toEqual([]);
    expect(serverWarnings({ tokenFrom: 'generated', host: 'localhost' })).toEqual([]);
    expect(serverWarnings({ tokenFrom: 'env', host: '0.0.0.0' })).toEqual(['listening on 0.0.0.0: anyone who can reach it and has the token can see the traffic']);
    const both = serverWarnings({ tokenFrom: 'flag', host: '10.0.0.5' });
    expect(both).toHaveLength(2);
    expect(both[0]).toBe(tokenWarning('flag'));
    expect(both[1]).toMatch(/^listening on 10\.0\.0\.5: /);
  });
  it('parses host, port, name and topology', () => {
    expect(parseServerArgs(['--host', '0.0.0.0', '--port', '0', '--name', 'demo-1', '--topology', 'x.yaml'], {}, d, 'start')).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      labName: 'demo-1',
      topology: 'x.yaml',
    });
    expect(parseServerArgs(['--kubeconfig', '/k'], {}, d, 'serve').kubeconfig).toBe('/k');
  });
  it('refuses bad values with the flag named', () => {
    expect(() => parseServerArgs(['--port', '99999'], {}, d, 'start')).toThrow(/--port/);
    expect(() => parseServerArgs(['--host', 'evil;rm'], {}, d, 'start')).toThrow(/--host/);
    expect(() => parseServerArgs(['--token', 'short'], {}, d, 'start')).toThrow(/token/);
    expect(() => parseServerArgs([], { HOPSCOPE_TOKEN: 'has space in the token' }, d, 'start')).toThrow(/token/);
    expect(() => parseServerArgs(['--name', 'Bad_Name'], {}, d, 'start')).toThrow(/--name/);
    expect(() => parseServerArgs(['--kubeconfig', '/k'], {}, d, 'start')).toThrow(/serve/);
    expect(() => parseServerArgs(['--name', 'Bad_Name'], {}, d, 'serve')).toThrow(/^--name is for `hopscope start`$/);
    expect(() => parseServerArgs(['--token', 'short'], {}, d, 'start')).toThrow(/^--token: token must be/);
    expect(() => parseServerArgs(['--ui', '--port', '1'], {}, d, 'start')).toThrow(/^--ui needs a value$/);
    expect(() => parseServerArgs(['extra'], {}, d, 'start')).toThrow(/unexpected argument "extra"/);
    expect(() => parseServerArgs(['--port'], {}, d, 'start')).toThrow(/needs a value/);
    expect(() => parseServerArgs(['--bogus'], {}, d, 'start')).toThrow(/unknown option "--bogus"/);
  });
  it('builds the URL with the token encoded', () => {
    expect(openUrl('http://127.0.0.1:7070/', 'a_b-c')).toBe('http://127.0.0.1:7070/?token=a_b-c');
  });
});
