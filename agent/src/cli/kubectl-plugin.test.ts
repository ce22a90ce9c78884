import { describe, expect, it } from 'vitest';
import { forwardedPort, imageOverride, parsePluginArgs, plan } from './kubectl-plugin.ts';

describe('kubectl hopscope arguments', () => {
  it('parses commands and kubectl options; the kubectl path comes from --kubectl or $KUBECTL', () => {
    expect(parsePluginArgs(['install', '--context', 'prod', '--image', 'reg.example.com:5000/me/hopscope:dev'], {})).toMatchObject({
      command: 'install', kubectl: 'kubectl', global: ['--context', 'prod'], image: 'reg.example.com:5000/me/hopscope:dev',
    });
    expect(parsePluginArgs(['open', '--port=8080'], { KUBECTL: '/opt/kubectl' })).toMatchObject({ command: 'open', kubectl: '/opt/kubectl', port: 8080 });
    expect(parsePluginArgs(['trace', '--service', 'web', '--json', '--kubeconfig', '/k'], {})).toMatchObject({ command: 'trace', global: ['--kubeconfig', '/k'], rest: ['--service', 'web', '--json'] });
    expect(parsePluginArgs([], {}).command).toBe('help');
    expect(parsePluginArgs(['open', '--context', 'c', '-h'], {}).command).toBe('help');
  });

  it('trace hands its filter on as given, --port included (the filter\'s, not open\'s)', () => {
    expect(parsePluginArgs(['trace', '--port', '80', '-n', 'shop', '--context=c', '--count=3'], {})).toMatchObject({
      command: 'trace', global: ['--context', 'c'], port: 7070, rest: ['--port', '80', '-n', 'shop', '--count=3'],
    });
    expect(() => parsePluginArgs(['trace', '--bogus'], {})).toThrow(/unknown option "--bogus"/);
    expect(() => parsePluginArgs(['trace', '--image', 'me/hs'], {})).toThrow(/--image is for install/);
  });

  it('refuses what kubectl must not receive', () => {
    expect(() => parsePluginArgs(['deploy'], {})).toThrow(/unknown command "deploy"/);
    expect(() => parsePluginArgs(['install', '--context', '--all-namespaces'], {})).toThrow(/looks like a flag/);
    expect(() => parsePluginArgs(['install', '--image', 'Bad Image'], {})).toThrow(/--image: expected an image reference, got "Bad Image"/);
    expect(() => parsePluginArgs(['open', '--port', '99999'], {})).toThrow(/--port/);
    expect(() => parsePluginArgs(['install', '--port', '80'], {})).toThrow(/--port is for open/);
    expect(() => parsePluginArgs(['uninstall', '--force'], {})).toThrow(/unknown option "--force"/);
    expect(() => parsePluginArgs(['install', '--context=-n'], {})).toThrow(/--context: "-n" looks like a flag/);
    expect(() => parsePluginArgs(['open', '--port'], {})).toThrow(/--port needs a value/);
  });

  it('plans the kubectl commands', () => {
    const g = ['--context', 'c'];
    expect(plan.apply(g, '/tmp/x')).toEqual(['--context', 'c', 'apply', '-k', '/tmp/x']);
    expect(plan.getToken([])).toEqual(['get', 'secret', 'hopscope-token', '-n', 'hopscope', '-o', 'jsonpath={.data.token}', '--ignore-not-found']);
    expect(plan.portForward([], 0)).toEqual(['port-forward', '-n', 'hopscope', '--address', '127.0.0.1', 'svc/hopscope-hub', ':7070']);
    expect(plan.portForward([], 7070).at(-1)).toBe('7070:7070');
    expect(plan.uninstall([])).toEqual([
      ['delete', 'namespace', 'hopscope', '--ignore-not-found'],
      ['delete', 'clusterrolebinding,clusterrole', 'hopscope-read', '--ignore-not-found'],
    ]);
  });

  it('image overrides and port-forward output', () => {
    expect(imageOverride('reg:5000/me/hs:1.2')).toBe('images:\n  - name: ghcr.io/hopscope/hopscope\n    newName: reg:5000/me/hs\n    newTag: "1.2"\n');
    expect(imageOverride(`me/hs@sha256:${'a'.repeat(64)}`)).toContain(`digest: sha256:${'a'.repeat(64)}`);
    expect(imageOverride('me/hs')).toBe('images:\n  - name: ghcr.io/hopscope/hopscope\n    newName: me/hs\n');
    expect(forwardedPort('Forwarding from 127.0.0.1:41234 -> 7070\n')).toBe(41234);
    expect(forwardedPort('Forwarding from [::1]:41234 -> 7070')).toBeUndefined();
  });
});
