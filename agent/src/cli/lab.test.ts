import { describe, expect, it } from 'vitest';
import { splitKubectlArgs } from './lab.ts';

describe('splitKubectlArgs (hopscope lab kubectl)', () => {
  it("takes only a leading --name and an optional -- as hopscope's; the rest is kubectl's as given", () => {
    expect(splitKubectlArgs(['get', 'pods', '-o', 'wide'])).toEqual({ own: [], kubectl: ['get', 'pods', '-o', 'wide'] });
    expect(splitKubectlArgs(['--name', 'demo', 'get', 'pods'])).toEqual({ own: ['--name', 'demo'], kubectl: ['get', 'pods'] });
    expect(splitKubectlArgs(['--name=demo', '--', 'get', 'pods'])).toEqual({ own: ['--name=demo'], kubectl: ['get', 'pods'] });
    expect(splitKubectlArgs(['--', '--name', 'x'])).toEqual({ own: [], kubectl: ['--name', 'x'] });
    // kubectl's own "--" (exec, run) and its --help stay kubectl's.
    expect(splitKubectlArgs(['exec', 'client', '--', 'ip', 'route'])).toEqual({ own: [], kubectl: ['exec', 'client', '--', 'ip', 'route'] });
    expect(splitKubectlArgs(['--name', 'demo', 'get', '--help'])).toEqual({ own: ['--name', 'demo'], kubectl: ['get', '--help'] });
    // A --name after kubectl's first word is kubectl's.
    expect(splitKubectlArgs(['get', 'pods', '--name', 'x'])).toEqual({ own: [], kubectl: ['get', 'pods', '--name', 'x'] });
    // "--name" with nothing after it is left to the flag parser to refuse.
    expect(splitKubectlArgs(['--name'])).toEqual({ own: ['--name'], kubectl: [] });
  });
});
