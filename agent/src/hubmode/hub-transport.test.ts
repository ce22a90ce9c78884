import { describe, expect, it } from 'vitest';
import { hubTransport, linkRefusal } from './hub-source.ts';

const ep = (url: string) => ({ name: 'node-1', url });

describe('which agents the hub connects to, and how it says so', () => {
  it('refuses plain HTTP beyond loopback without --insecure, and https without certificates', () => {
    expect(linkRefusal(ep('http://127.0.0.1:4781/'), { tls: false, insecure: false })).toBeUndefined();
    expect(linkRefusal(ep('http://[::1]:4781/'), { tls: false, insecure: false })).toBeUndefined();
    expect(linkRefusal(ep('http://10.0.0.1:4780/'), { tls: false, insecure: false })).toMatch(/^plain http:\/\/ to an agent beyond loopback would carry the token/);
    expect(linkRefusal(ep('http://10.0.0.1:4780/'), { tls: true, insecure: false })).toMatch(/--insecure$/);
    expect(linkRefusal(ep('http://10.0.0.1:4780/'), { tls: false, insecure: true })).toBeUndefined();
    expect(linkRefusal(ep('https://10.0.0.1:4780/'), { tls: false, insecure: true })).toMatch(/needs the hub's certificates: give --tls-dir/);
    expect(linkRefusal(ep('https://10.0.0.1:4780/'), { tls: true, insecure: false })).toBeUndefined();
  });

  it('reports insecure links by name, else loopback', () => {
    expect(hubTransport([ep('http://10.0.0.1:4780/'), { name: 'node-2', url: 'https://10.0.0.2:4780/' }], undefined, 0, 0)).toEqual({
      mode: 'insecure',
      detail: 'INSECURE: plain HTTP to node-1 (--insecure): the token and every journey cross the network in clear',
    });
    expect(hubTransport([ep('http://127.0.0.1:4781/'), { name: 'node-2', url: 'http://[::1]:4782/' }], undefined, 0, 0)).toEqual({ mode: 'loopback', detail: 'plain HTTP to agents on loopback' });
  });
});
