// The kubelet stand-in's translation, on the repository's own manifests and on edited copies.
// Expected values come from the parsed manifest, never from a copy of it here.
import { describe, expect, it } from 'vitest';
import { expandVars, parseQuantity, podToPodman, SERVICE_ACCOUNT_MOUNT, UnsupportedField, type NodeContext } from './pod-to-podman.ts';
import { loadManifest } from './manifests.ts';

const node: NodeContext = {
  nodeName: 'node-1',
  hostIP: '10.0.0.1',
  netnsPath: '/run/netns/ds-x-node-1',
  image: 'localhost/hopscope:test',
  containerName: 'hs-ds-test',
  secrets: { 'hopscope-token': { token: 's3cret-token' }, 'hopscope-agent-tls': { 'ca.crt': 'x' }, 'hopscope-hub-tls': { 'ca.crt': 'x' } },
  secretDirs: { 'hopscope-agent-tls': '/tmp/hs-secret-agent', 'hopscope-hub-tls': '/tmp/hs-secret-hub' },
  serviceAccountDir: '/run/hopscope/labs/x/sa/hopscope/hopscope',
  apiHost: '10.0.0.250',
  apiPort: 6443,
  clusterDns: '10.96.0.10',
  clusterDomain: 'cluster.local',
  grantableCapabilities: new Set(['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_SYSLOG']),
  missingHostPaths: new Set(),
};

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const agentDoc = (): AnyObj => structuredClone(loadManifest('agent-daemonset.yaml', 'DaemonSet')) as AnyObj;
const hubDoc = (): AnyObj => structuredClone(loadManifest('hub.yaml', 'Deployment')) as AnyObj;
const agentOf = (d: AnyObj): AnyObj => d.spec.template.spec.containers[0];

/** Values following each occurrence of `flag` in argv. */
const flagValues = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

describe('pod-to-podman: the agent DaemonSet', () => {
  const doc = agentDoc();
  const c = agentOf(doc);
  const spec = doc.spec.template.spec;
  const run = podToPodman(doc, 'agent', node);

  it('joins the node netns (hostNetwork) and the host PID namespace (hostPID)', () => {
    expect(spec.hostNetwork && spec.hostPID).toBe(true);
    expect(flagValues(run.argv, '--network')).toEqual([`ns:${node.netnsPath}`]);
    expect(flagValues(run.argv, '--pid')).toEqual(['host']);
  });

  it('carries the security context: drops, adds the capabilities, reports those this machine cannot grant', () => {
    const sc = c.securityContext;
    const wanted = (sc.capabilities.add as string[]).map((x) => `CAP_${x}`);
    expect(flagValues(run.argv, '--cap-drop')).toEqual(sc.capabilities.drop);
    expect(flagValues(run.argv, '--cap-add')).toEqual(wanted);
    expect(run.approximations.some((a) => a.field.endsWith('capabilities.add'))).toBe(false);
    // A machine whose bounding set lacks one of them (this one lacks SYS_RESOURCE).
    const lacking = wanted.at(-1)!;
    const partial = podToPodman(doc, 'agent', { ...node, grantableCapabilities: new Set(wanted.slice(0, -1)) });
    expect(flagValues(partial.argv, '--cap-add')).toEqual(wanted.slice(0, -1));
    expect(partial.approximations.find((a) => a.field.endsWith('capabilities.add'))?.why).toContain(`${lacking} not granted`);
    expect(flagValues(run.argv, '--user')).toEqual([String(sc.runAsUser)]);
    expect(run.argv.includes('--privileged')).toBe(sc.privileged);
    expect(flagValues(run.argv, '--security-opt')).toEqual(['no-new-privileges', 'seccomp=unconfined']);
    expect(run.argv).toContain('--read-only');
    // podman's own tmpfs mounts would make /tmp writable without the manifest's emptyDir.
    expect(run.argv).toContain('--read-only-tmpfs=false');
  });

  it('mounts every hostPath, the emptyDir as a sized tmpfs, the Secret read-only, and the service-account folder', () => {
    const mounts = flagValues(run.argv, '--mount');
    for (const m of c.volumeMounts) {
      const vol = spec.volumes.find((v: AnyObj) => v.name === m.name);
      const hit = mounts.find((x) => x.includes(`target=${m.mountPath},`) || x.endsWith(`target=${m.mountPath}`));
      expect(hit, m.name).toBeDefined();
      if (vol.hostPath) {
        expect(hit).toContain(`type=bind,source=${vol.hostPath.path},`);
        expect(hit!.includes('ro=true')).toBe(m.readOnly === true);
      } else if (vol.secret) {
        expect(hit).toBe(`type=bind,source=${node.secretDirs![vol.secret.secretName]},target=${m.mountPath},ro=true`);
      } else {
        expect(hit).toContain('type=tmpfs');
        expect(hit).toContain(`tmpfs-size=${parseQuantity(vol.emptyDir.sizeLimit, 'x')}`);
      }
    }
    expect(mounts).toContain(`type=bind,source=${node.serviceAccountDir},target=${SERVICE_ACCOUNT_MOUNT},ro=true`);
    expect(mounts).toHaveLength(c.volumeMounts.length + 1);
  });

  it('fills the downward API and the secret, keeps the token out of argv, expands $(VAR) in args', () => {
    expect(run.containerEnv.NODE_NAME).toBe(node.nodeName);
    expect(run.containerEnv.HOST_IP).toBe(node.hostIP);
    expect(run.containerEnv.HOPSCOPE_TOKEN).toBe('s3cret-token');
    expect(run.containerEnv.KUBERNETES_SERVICE_HOST).toBe(node.apiHost);
    expect(run.podmanEnv).toEqual({ HOPSCOPE_TOKEN: 's3cret-token' });
    expect(run.argv.join(' ')).not.toContain('s3cret-token');
    expect(flagValues(run.argv, '--env')).toContain('HOPSCOPE_TOKEN');
    expect(run.args).toEqual((c.args as string[]).map((a) => a.replace('$(HOST_IP)', node.hostIP).replace('$(NODE_NAME)', node.nodeName)));
    expect(run.args.join(' ')).not.toContain('$(');
    expect(run.argv.slice(-run.args.length - 1)).toEqual([node.image, ...run.args]);
  });

  it('gives resources as cgroup limits, ClusterFirstWithHostNet as the cluster DNS, probes as exec probes', () => {
    expect(flagValues(run.argv, '--memory')).toEqual([String(parseQuantity(c.resources.limits.memory, 'x'))]);
    expect(flagValues(run.argv, '--cpus')).toEqual([String(parseQuantity(c.resources.limits.cpu, 'x'))]);
    expect(flagValues(run.argv, '--dns')).toEqual([node.clusterDns]);
    expect(flagValues(run.argv, '--dns-search')[0]).toBe(`${doc.metadata.namespace}.svc.cluster.local`);
    expect(run.readiness).toMatchObject({ kind: 'exec', command: c.readinessProbe.exec.command, periodSeconds: c.readinessProbe.periodSeconds });
    expect(run.liveness).toMatchObject({ kind: 'exec', timeoutSeconds: c.livenessProbe.timeoutSeconds, failureThreshold: 3 });
    expect(run.ports.map((p) => p.containerPort)).toEqual(c.ports.map((p: AnyObj) => p.containerPort));
  });

  it('runs a command in place of the image\'s entrypoint, $(VAR) expanded', () => {
    expect(flagValues(run.argv, '--entrypoint')).toEqual([]);
    const d = agentDoc();
    agentOf(d).command = ['sh', '-c', 'echo $(NODE_NAME)'];
    agentOf(d).args = ['$(HOST_IP)'];
    const withCommand = podToPodman(d, 'agent', node);
    expect(withCommand.command).toEqual(['sh', '-c', `echo ${node.nodeName}`]);
    expect(flagValues(withCommand.argv, '--entrypoint').map((e) => JSON.parse(e) as unknown)).toEqual([withCommand.command]);
    expect(withCommand.argv.slice(-2)).toEqual([node.image, node.hostIP]);
    agentOf(d).command = [];
    expect(() => podToPodman(d, 'agent', node)).toThrow(/empty command/);
  });

  it('says what it approximates', () => {
    const fields = run.approximations.map((a) => a.field);
    for (const f of ['hostPID', 'tolerations', 'priorityClassName', 'image', 'livenessProbe', 'serviceAccountName']) expect(fields.some((x) => x.endsWith(f)), f).toBe(true);
  });
});

describe('pod-to-podman: a hostPath missing on this machine', () => {
  it('is an empty tmpfs, said as approximated; with type Directory it is refused', () => {
    const d = agentDoc();
    const vol = d.spec.template.spec.volumes.find((v: AnyObj) => v.hostPath);
    const mount = agentOf(d).volumeMounts.find((m: AnyObj) => m.name === vol.name);
    const run = podToPodman(d, 'agent', { ...node, missingHostPaths: new Set([vol.hostPath.path]) });
    expect(flagValues(run.argv, '--mount')).toContain(`type=tmpfs,target=${mount.mountPath},tmpfs-size=1m`);
    expect(run.approximations.some((a) => a.why.startsWith(`${vol.hostPath.path} does not exist`))).toBe(true);
    vol.hostPath.type = 'Directory';
    expect(() => podToPodman(d, 'agent', { ...node, missingHostPaths: new Set([vol.hostPath.path]) })).toThrow(/kubelet would not start/);
  });
});

describe('pod-to-podman: refuses what it cannot honour', () => {
  const cases: [string, (d: AnyObj) => void, RegExp][] = [
    ['an unknown pod field', (d) => (d.spec.template.spec.hostIPC = true), /spec\.template\.spec\.hostIPC: not translated/],
    ['an unknown container field', (d) => (agentOf(d).lifecycle = { preStop: {} }), /containers\[0\]\.lifecycle: not translated/],
    ['an unknown securityContext field', (d) => (agentOf(d).securityContext.procMount = 'Unmasked'), /securityContext\.procMount/],
    ['an unknown volume kind', (d) => (d.spec.template.spec.volumes[0] = { name: 'tracefs', configMap: { name: 'x' } }), /configMap volumes are not translated/],
    ['an unknown hostPath type', (d) => (d.spec.template.spec.volumes[0].hostPath.type = 'Socket'), /hostPath type Socket/],
    ['a missing secret key', (d) => (agentOf(d).env[2].valueFrom.secretKeyRef.key = 'nope'), /has no key nope/],
    ['an unknown fieldRef', (d) => (agentOf(d).env[0].valueFrom.fieldRef.fieldPath = 'metadata.uid'), /fieldRef metadata\.uid/],
    ['a Localhost seccomp profile', (d) => (agentOf(d).securityContext.seccompProfile = { type: 'Localhost' }), /seccomp profile Localhost/],
    ['pod networking without a pod namespace', (d) => (d.spec.template.spec.hostNetwork = false), /needs a pod network namespace/],
    ['a mount of no volume', (d) => (agentOf(d).volumeMounts[0].name = 'nosuch'), /no volume named nosuch/],
    ['a Secret the node does not have', (d) => (d.spec.template.spec.volumes.find((v: AnyObj) => v.secret).secret.secretName = 'nosuch'), /secret hopscope\/nosuch does not exist on this node/],
    ['an unknown quantity', (d) => (agentOf(d).resources.limits.memory = '300MB'), /unsupported quantity/],
  ];
  it.each(cases)('%s', (_n, edit, message) => {
    const d = agentDoc();
    edit(d);
    expect(() => podToPodman(d, 'agent', node)).toThrow(UnsupportedField);
    expect(() => podToPodman(d, 'agent', node)).toThrow(message);
  });
});

describe('pod-to-podman: the hub Deployment (pod-level securityContext)', () => {
  const hubPod = { name: 'hopscope-hub-x', netnsPath: '/run/netns/ds-x-p-hub', ip: '10.244.2.9' };
  it('runs as the pod securityContext user, unprivileged, with the runtime default seccomp, in its pod netns', () => {
    const d = hubDoc();
    const run = podToPodman(d, 'hub', { ...node, pod: hubPod });
    expect(flagValues(run.argv, '--network')).toEqual([`ns:${hubPod.netnsPath}`]);
    expect(flagValues(run.argv, '--hostname')).toEqual([hubPod.name]);
    expect(flagValues(run.argv, '--dns')).toEqual([node.clusterDns]);
    expect(run.podIP).toBe(hubPod.ip);
    const psc = d.spec.template.spec.securityContext;
    expect(flagValues(run.argv, '--user')).toEqual([`${psc.runAsUser}:${psc.runAsGroup}`]);
    expect(flagValues(run.argv, '--cap-drop')).toEqual(['ALL']);
    expect(flagValues(run.argv, '--cap-add')).toEqual([]);
    expect(flagValues(run.argv, '--security-opt')).toEqual(['no-new-privileges']);
    expect(run.liveness).toMatchObject({ kind: 'http', port: d.spec.template.spec.containers[0].ports[0].containerPort, path: '/healthz' });
  });

  it('refuses runAsNonRoot with uid 0 (kubelet would not start it)', () => {
    const d = hubDoc();
    d.spec.template.spec.securityContext.runAsUser = 0;
    expect(() => podToPodman(d, 'hub', { ...node, pod: hubPod })).toThrow(/kubelet refuses/);
  });

  it('refuses a pod-network pod when the lab gives it no pod namespace', () => {
    expect(() => podToPodman(hubDoc(), 'hub', node)).toThrow(/needs a pod network namespace/);
  });
});

describe('expandVars (kubelet semantics)', () => {
  it.each([
    ['$(A)-$(B)', 'a-b'],
    ['$$(A)', '$(A)'],
    ['$(MISSING)', '$(MISSING)'],
    ['$A $', '$A $'],
    ['x$(A', 'x$(A'],
    ['$$$(A)', '$a'],
  ])('%s → %s', (input, out) => {
    expect(expandVars(input, { A: 'a', B: 'b' })).toBe(out);
  });
});
