// A kubelet stand-in for tests: translates a workload manifest's pod template (as written in
// manifests/) into `podman run` arguments for one lab node, the way kubelet + containerd would
// start it on a real node. Pure: data in (the parsed manifest and what the node provides), data
// out (argv, the environment podman needs, probes, and every setting that is only approximated).
//
// It lives in test/ and not in agent/src: users run the manifests under a real kubelet, never
// through this; it exists so a test runs the real image with the manifest's own settings.
//
// Every field of the pod template is either translated, listed as approximated (with why), or
// refused: an unknown field throws, so a manifest change cannot be silently ignored here.

/** What the lab node provides in place of a real node, kubelet and API server. */
export interface NodeContext {
  /** Node name (spec.nodeName). */
  nodeName: string;
  /** The node's underlay address (status.hostIP; also status.podIP under hostNetwork). */
  hostIP: string;
  /** Network namespace file of the node: hostNetwork joins it. */
  netnsPath: string;
  /**
   * For a pod that is not hostNetwork: the pod's own network namespace (a lab pod's, standing in
   * for the sandbox the CNI makes) and its address, and the pod's name (its hostname).
   */
  pod?: { name: string; netnsPath: string; ip: string };
  /** Image that stands in for the manifest's (no registry is reachable). */
  image: string;
  /** Name of the podman container. */
  containerName: string;
  /** Secrets of the pod's namespace: name → key → value. */
  secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * Host folders holding the files of the Secrets a `secret` volume mounts, laid out as kubelet
   * lays them out (`..data` → a timestamped folder, each key a symlink through `..data`, so an
   * update swaps one symlink): secret name → folder. See lab-node.ts `writeSecretVolume`.
   */
  secretDirs?: Readonly<Record<string, string>>;
  /** Host folder holding the pod's service-account files (token, ca.crt, namespace). */
  serviceAccountDir: string;
  /** In-cluster address of the API server (KUBERNETES_SERVICE_HOST / _PORT). */
  apiHost: string;
  apiPort: number;
  /** The cluster DNS service's address and the cluster domain (dnsPolicy ClusterFirst*). */
  clusterDns: string;
  clusterDomain: string;
  /**
   * Capabilities this machine's container runtime can grant (the bounding set of the process
   * that starts podman). A capability the manifest adds but the machine lacks is left out and
   * reported as approximated: runc fails to start a container asked for one it cannot give.
   */
  grantableCapabilities: ReadonlySet<string>;
  /**
   * hostPath sources missing on this machine. containerd creates a missing hostPath (type "")
   * as an empty directory on the node; here an empty tmpfs stands in, so nothing is created in
   * this shared machine's root filesystem.
   */
  missingHostPaths: ReadonlySet<string>;
}

/** An exec probe as kubelet runs it. */
export interface ExecProbe {
  command: string[];
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  successThreshold: number;
}

/** An httpGet probe as kubelet runs it (from the node, to the pod's address). */
export interface HttpProbe {
  path: string;
  port: number;
  scheme: 'HTTP' | 'HTTPS';
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  successThreshold: number;
}

/** A probe of the manifest. */
export type Probe = ({ kind: 'exec' } & ExecProbe) | ({ kind: 'http' } & HttpProbe);

/** A setting the translation reproduces only in part, and why. */
export interface Approximation {
  field: string;
  why: string;
}

/** The translated container. */
export interface PodmanRun {
  /** Arguments after `podman`: `run --detach ... <image> <args...>`. */
  argv: string[];
  /**
   * Environment for the podman process: secret values travel as `--env NAME` (podman copies
   * the value from its own environment) so a token never shows in a process list.
   */
  podmanEnv: Record<string, string>;
  /** The container's environment as kubelet computes it (secrets included). */
  containerEnv: Record<string, string>;
  /** The container's command (the image's entrypoint when absent) after $(VAR) expansion. */
  command?: string[];
  /** The container's args after $(VAR) expansion. */
  args: string[];
  liveness?: Probe;
  readiness?: Probe;
  /** The pod's address (the node's under hostNetwork): where httpGet probes and peers reach it. */
  podIP: string;
  /** Container ports (under hostNetwork they are the node's ports: nothing to publish). */
  ports: { name?: string; containerPort: number; protocol: string }[];
  approximations: Approximation[];
}

type Obj = Record<string, unknown>;

/** Thrown for a manifest field this translation does not know or cannot honour. */
export class UnsupportedField extends Error {
  constructor(path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = 'UnsupportedField';
  }
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new UnsupportedField(path, `expected an object, got ${JSON.stringify(v)}`);
  return v;
}

function arr(v: unknown, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new UnsupportedField(path, `expected a list, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new UnsupportedField(path, `expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function optStr(v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : str(v, path);
}

function optBool(v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new UnsupportedField(path, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function optInt(v: unknown, path: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new UnsupportedField(path, `expected an integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Refuse any key of `o` not in `known`: a new manifest field must be translated or listed here. */
function onlyKeys(o: Obj, known: readonly string[], path: string): void {
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw new UnsupportedField(`${path}.${k}`, 'not translated to podman (translate it or list it as approximated)');
}

/**
 * kubelet's $(VAR) expansion (k8s.io/kubernetes third_party/forked/golang/expansion): `$$` is a
 * literal `$`, `$(NAME)` is NAME's value when NAME is defined and stays as written when not,
 * any other `$` is kept.
 */
export function expandVars(input: string, vars: Readonly<Record<string, string>>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        // An unclosed reference is kept as written, like kubelet.
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      out += Object.hasOwn(vars, name) ? vars[name] : input.slice(i, close + 1);
      i = close;
    } else out += c;
  }
  return out;
}

/** Kubernetes quantity → bytes (memory) or CPUs; refuses units it does not know. */
export function parseQuantity(q: unknown, path: string): number {
  const s = typeof q === 'number' ? String(q) : str(q, path);
  const m = /^(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(s);
  if (!m) throw new UnsupportedField(path, `unsupported quantity ${JSON.stringify(s)}`);
  const scale: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, Ki: 1024, M: 1e6, Mi: 1024 ** 2, G: 1e9, Gi: 1024 ** 3, T: 1e12, Ti: 1024 ** 4 };
  return Number(m[1]) * scale[m[2] ?? '']!;
}

const POD_KEYS = [
  'serviceAccountName',
  'automountServiceAccountToken',
  'hostNetwork',
  'hostPID',
  'dnsPolicy',
  'priorityClassName',
  'tolerations',
  'nodeSelector',
  'terminationGracePeriodSeconds',
  'securityContext',
  'containers',
  'volumes',
] as const;
const CONTAINER_KEYS = [
  'name',
  'image',
  'imagePullPolicy',
  'command',
  'args',
  'env',
  'ports',
  'securityContext',
  'resources',
  'livenessProbe',
  'readinessProbe',
  'volumeMounts',
] as const;
const SECURITY_KEYS = [
  'runAsUser',
  'runAsGroup',
  'runAsNonRoot',
  'privileged',
  'allowPrivilegeEscalation',
  'readOnlyRootFilesystem',
  'capabilities',
  'seccompProfile',
] as const;
const POD_SECURITY_KEYS = ['runAsUser', 'runAsGroup', 'runAsNonRoot', 'seccompProfile'] as const;
const PROBE_KEYS = ['exec', 'httpGet', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'failureThreshold', 'successThreshold'] as const;

/** Where kubelet mounts the service-account token volume it adds to every pod. */
export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod template of a DaemonSet or Deployment document, with its namespace. */
export function podTemplateOf(doc: unknown): { namespace: string; name: string; labels: Record<string, string>; spec: Obj } {
  const d = obj(doc, '(document)');
  const kind = str(d.kind, 'kind');
  if (kind !== 'DaemonSet' && kind !== 'Deployment') throw new UnsupportedField('kind', `${kind} has no pod template to run`);
  const meta = obj(d.metadata, 'metadata');
  const spec = obj(d.spec, 'spec');
  // The controller's own fields (selector, rollout, replicas) decide how many pods and when:
  // one pod on one node here, so none of them changes how the container runs.
  onlyKeys(spec, ['selector', 'updateStrategy', 'strategy', 'replicas', 'template'], 'spec');
  const template = obj(spec.template, 'spec.template');
  onlyKeys(template, ['metadata', 'spec'], 'spec.template');
  const tmeta = obj(template.metadata ?? {}, 'spec.template.metadata');
  onlyKeys(tmeta, ['labels', 'annotations'], 'spec.template.metadata');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(tmeta.labels ?? {}, 'spec.template.metadata.labels'))) labels[k] = str(v, `spec.template.metadata.labels.${k}`);
  return { namespace: str(meta.namespace ?? 'default', 'metadata.namespace'), name: str(meta.name, 'metadata.name'), labels, spec: obj(template.spec, 'spec.template.spec') };
}

/**
 * Translate the one container `containerName` of a DaemonSet/Deployment document into a podman
 * run for the lab node `node`.
 */
export function podToPodman(doc: unknown, containerName: string, node: NodeContext): PodmanRun {
  const { namespace, labels, spec } = podTemplateOf(doc);
  const P = 'spec.template.spec';
  onlyKeys(spec, POD_KEYS, P);
  const approximations: Approximation[] = [];
  const approx = (field: string, why: string): void => void approximations.push({ field, why });
  const argv = ['run', '--detach', '--name', node.containerName, '--pull', 'never'];

  const containers = arr(spec.containers, `${P}.containers`);
  const ci = containers.findIndex((c) => isObj(c) && c.name === containerName);
  if (ci < 0) throw new UnsupportedField(`${P}.containers`, `no container named ${containerName}`);
  if (containers.length > 1) approx(`${P}.containers`, `only ${containerName} runs: each container is a separate podman run here`);
  const C = `${P}.containers[${ci}]`;
  const c = obj(containers[ci], C);
  onlyKeys(c, CONTAINER_KEYS, C);

  // --- placement: not applicable to one pod on one chosen node.
  if (spec.priorityClassName !== undefined) approx(`${P}.priorityClassName`, 'scheduling/eviction order between pods: one pod here, nothing to order');
  if (spec.tolerations !== undefined) approx(`${P}.tolerations`, 'scheduling onto tainted nodes: the node is chosen by the test');
  if (spec.nodeSelector !== undefined) approx(`${P}.nodeSelector`, 'scheduling: the node is chosen by the test');
  for (const [k, v] of Object.entries(labels)) argv.push('--label', `${k}=${v}`);

  // --- namespaces: hostNetwork joins the lab node's netns, hostPID the (shared) host PID namespace.
  const hostNetwork = optBool(spec.hostNetwork, `${P}.hostNetwork`) ?? false;
  if (!hostNetwork && !node.pod) throw new UnsupportedField(`${P}.hostNetwork`, 'a pod-network pod needs a pod network namespace from the lab (none given)');
  const podIP = hostNetwork ? node.hostIP : node.pod!.ip;
  argv.push('--network', `ns:${hostNetwork ? node.netnsPath : node.pod!.netnsPath}`);
  if (optBool(spec.hostPID, `${P}.hostPID`)) {
    argv.push('--pid', 'host');
    approx(`${P}.hostPID`, "the lab's nodes share this machine's PID namespace: the container sees every process of the machine, the lab's pods among them, not one node's only");
  }

  // --- DNS.
  const dnsPolicy = optStr(spec.dnsPolicy, `${P}.dnsPolicy`) ?? 'ClusterFirst';
  switch (dnsPolicy) {
    case 'ClusterFirstWithHostNet':
    case 'ClusterFirst':
      // kubelet gives a hostNetwork pod with ClusterFirst the node's resolv.conf.
      if (dnsPolicy === 'ClusterFirst' && hostNetwork) break;
      argv.push('--dns', node.clusterDns, '--dns-option', 'ndots:5');
      for (const d of [`${namespace}.svc.${node.clusterDomain}`, `svc.${node.clusterDomain}`, node.clusterDomain]) argv.push('--dns-search', d);
      break;
    default:
      throw new UnsupportedField(`${P}.dnsPolicy`, `dnsPolicy ${dnsPolicy} is not translated`);
  }

  // --- security context: the container's fields override the pod's.
  const podSec = obj(spec.securityContext ?? {}, `${P}.securityContext`);
  onlyKeys(podSec, POD_SECURITY_KEYS, `${P}.securityContext`);
  const sec = obj(c.securityContext ?? {}, `${C}.securityContext`);
  onlyKeys(sec, SECURITY_KEYS, `${C}.securityContext`);
  const pick = (k: (typeof POD_SECURITY_KEYS)[number]): unknown => (sec[k] !== undefined ? sec[k] : podSec[k]);
  const runAsUser = optInt(pick('runAsUser'), `${C}.securityContext.runAsUser`);
  const runAsGroup = optInt(pick('runAsGroup'), `${C}.securityContext.runAsGroup`);
  const runAsNonRoot = optBool(pick('runAsNonRoot'), `${C}.securityContext.runAsNonRoot`) ?? false;
  // kubelet refuses to start a runAsNonRoot container that would run as uid 0; without a
  // runAsUser it checks the image's USER, which this translation cannot see: refuse that too.
  if (runAsNonRoot && (runAsUser === undefined || runAsUser === 0))
    throw new UnsupportedField(`${C}.securityContext.runAsNonRoot`, runAsUser === 0 ? 'runAsNonRoot with runAsUser 0: kubelet refuses to start it' : 'runAsNonRoot without runAsUser: the image user cannot be checked here');
  if (runAsUser !== undefined) argv.push('--user', runAsGroup !== undefined ? `${runAsUser}:${runAsGroup}` : String(runAsUser));
  else if (runAsGroup !== undefined) throw new UnsupportedField(`${C}.securityContext.runAsGroup`, 'runAsGroup without runAsUser is not translated');

  const privileged = optBool(sec.privileged, `${C}.securityContext.privileged`) ?? false;
  if (privileged) argv.push('--privileged');
  // kubelet's default is to allow escalation; false sets no_new_privs.
  if (optBool(sec.allowPrivilegeEscalation, `${C}.securityContext.allowPrivilegeEscalation`) === false) argv.push('--security-opt', 'no-new-privileges');
  if (optBool(sec.readOnlyRootFilesystem, `${C}.securityContext.readOnlyRootFilesystem`)) {
    // NOTE: podman's --read-only also mounts tmpfs on /tmp, /var/tmp and /run by default;
    // containerd does not, so the manifest's own volumes must be all that is writable.
    argv.push('--read-only', '--read-only-tmpfs=false');
  }
  if (sec.capabilities !== undefined) {
    const caps = obj(sec.capabilities, `${C}.securityContext.capabilities`);
    onlyKeys(caps, ['drop', 'add'], `${C}.securityContext.capabilities`);
    for (const d of arr(caps.drop, `${C}.securityContext.capabilities.drop`)) argv.push('--cap-drop', capName(str(d, `${C}.securityContext.capabilities.drop`)));
    const missing: string[] = [];
    for (const a of arr(caps.add, `${C}.securityContext.capabilities.add`)) {
      const cap = capName(str(a, `${C}.securityContext.capabilities.add`));
      if (node.grantableCapabilities.has(cap)) argv.push('--cap-add', cap);
      else missing.push(cap);
    }
    if (missing.length)
      approx(`${C}.securityContext.capabilities.add`, `${missing.join(', ')} not granted: this machine's root lacks it (not in its bounding set), so no container here can have it`);
  }
  const seccomp = pick('seccompProfile');
  if (seccomp !== undefined) {
    const s = obj(seccomp, `${C}.securityContext.seccompProfile`);
    onlyKeys(s, ['type'], `${C}.securityContext.seccompProfile`);
    const type = str(s.type, `${C}.securityContext.seccompProfile.type`);
    if (type === 'Unconfined') argv.push('--security-opt', 'seccomp=unconfined');
    else if (type === 'RuntimeDefault') approx(`${C}.securityContext.seccompProfile`, "RuntimeDefault is podman's default profile here, not containerd's (both block bpf() and perf_event_open() for unprivileged use)");
    else throw new UnsupportedField(`${C}.securityContext.seccompProfile.type`, `seccomp profile ${type} is not translated`);
  } else if (!privileged) {
    // Without a profile in the manifest kubelet runs the container Unconfined (SeccompDefault off).
    argv.push('--security-opt', 'seccomp=unconfined');
  }

  // --- resources: limits are cgroup limits; requests are for the scheduler, except CPU shares.
  if (c.resources !== undefined) {
    const r = obj(c.resources, `${C}.resources`);
    onlyKeys(r, ['requests', 'limits'], `${C}.resources`);
    const limits = obj(r.limits ?? {}, `${C}.resources.limits`);
    onlyKeys(limits, ['cpu', 'memory'], `${C}.resources.limits`);
    if (limits.memory !== undefined) argv.push('--memory', String(Math.round(parseQuantity(limits.memory, `${C}.resources.limits.memory`))));
    if (limits.cpu !== undefined) argv.push('--cpus', String(parseQuantity(limits.cpu, `${C}.resources.limits.cpu`)));
    const requests = obj(r.requests ?? {}, `${C}.resources.requests`);
    onlyKeys(requests, ['cpu', 'memory'], `${C}.resources.requests`);
    // kubelet: cpu.shares = milliCPU * 1024 / 1000, at least 2.
    if (requests.cpu !== undefined) argv.push('--cpu-shares', String(Math.max(2, Math.floor(parseQuantity(requests.cpu, `${C}.resources.requests.cpu`) * 1024))));
    if (requests.memory !== undefined) approx(`${C}.resources.requests.memory`, 'a scheduling figure: kubelet sets no cgroup limit from it on cgroup v1 either');
  }

  // --- environment, in order, each value able to use the ones before it ($(VAR)).
  const env: Record<string, string> = {};
  const secretNames = new Set<string>();
  const saName = optStr(spec.serviceAccountName, `${P}.serviceAccountName`) ?? 'default';
  const field = (fp: string, path: string): string => {
    switch (fp) {
      case 'spec.nodeName':
        return node.nodeName;
      case 'status.hostIP':
        return node.hostIP;
      case 'status.podIP':
        return podIP;
      case 'metadata.namespace':
        return namespace;
      case 'spec.serviceAccountName':
        return saName;
      default:
        throw new UnsupportedField(path, `fieldRef ${fp} is not translated`);
    }
  };
  for (const [i, e] of arr(c.env, `${C}.env`).entries()) {
    const E = `${C}.env[${i}]`;
    const ev = obj(e, E);
    onlyKeys(ev, ['name', 'value', 'valueFrom'], E);
    const name = str(ev.name, `${E}.name`);
    if (ev.value !== undefined) env[name] = expandVars(str(ev.value, `${E}.value`), env);
    else {
      const from = obj(ev.valueFrom, `${E}.valueFrom`);
      onlyKeys(from, ['fieldRef', 'secretKeyRef'], `${E}.valueFrom`);
      if (from.fieldRef !== undefined) {
        const fr = obj(from.fieldRef, `${E}.valueFrom.fieldRef`);
        onlyKeys(fr, ['fieldPath', 'apiVersion'], `${E}.valueFrom.fieldRef`);
        env[name] = field(str(fr.fieldPath, `${E}.valueFrom.fieldRef.fieldPath`), `${E}.valueFrom.fieldRef.fieldPath`);
      } else if (from.secretKeyRef !== undefined) {
        const sr = obj(from.secretKeyRef, `${E}.valueFrom.secretKeyRef`);
        onlyKeys(sr, ['name', 'key', 'optional'], `${E}.valueFrom.secretKeyRef`);
        const sn = str(sr.name, `${E}.valueFrom.secretKeyRef.name`);
        const key = str(sr.key, `${E}.valueFrom.secretKeyRef.key`);
        const value = node.secrets[sn]?.[key];
        if (value === undefined) {
          if (optBool(sr.optional, `${E}.valueFrom.secretKeyRef.optional`)) continue;
          // kubelet keeps such a pod in CreateContainerConfigError: so does this.
          throw new UnsupportedField(`${E}.valueFrom.secretKeyRef`, `secret ${namespace}/${sn} has no key ${key}`);
        }
        env[name] = value;
        secretNames.add(name);
      } else throw new UnsupportedField(`${E}.valueFrom`, 'empty valueFrom');
    }
  }
  // kubelet adds the API server's service to every pod's environment (service links of the
  // pod's other services too: those are left out, hopscope reads none of them).
  const apiEnv: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: node.apiHost,
    KUBERNETES_SERVICE_PORT: String(node.apiPort),
    KUBERNETES_SERVICE_PORT_HTTPS: String(node.apiPort),
    KUBERNETES_PORT: `tcp://${node.apiHost}:${node.apiPort}`,
  };
  approx(`${P}.enableServiceLinks`, "only the kubernetes service's variables are set; the other services of the namespace are not injected (hopscope reads none)");
  const containerEnv = { ...apiEnv, ...env };
  const podmanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(containerEnv)) {
    if (secretNames.has(k)) {
      argv.push('--env', k);
      podmanEnv[k] = v;
    } else argv.push('--env', `${k}=${v}`);
  }

  // --- volumes and mounts.
  const volumes = new Map<string, Obj>();
  for (const [i, v] of arr(spec.volumes, `${P}.volumes`).entries()) {
    const vo = obj(v, `${P}.volumes[${i}]`);
    volumes.set(str(vo.name, `${P}.volumes[${i}].name`), vo);
  }
  const used = new Set<string>();
  for (const [i, m] of arr(c.volumeMounts, `${C}.volumeMounts`).entries()) {
    const M = `${C}.volumeMounts[${i}]`;
    const mo = obj(m, M);
    onlyKeys(mo, ['name', 'mountPath', 'readOnly'], M);
    const vname = str(mo.name, `${M}.name`);
    const target = str(mo.mountPath, `${M}.mountPath`);
    const ro = optBool(mo.readOnly, `${M}.readOnly`) ?? false;
    const vol = volumes.get(vname);
    if (!vol) throw new UnsupportedField(`${M}.name`, `no volume named ${vname}`);
    used.add(vname);
    const V = `${P}.volumes[${[...volumes.keys()].indexOf(vname)}]`;
    const kinds = Object.keys(vol).filter((k) => k !== 'name');
    if (kinds.length !== 1) throw new UnsupportedField(V, `a volume has exactly one source, got ${kinds.join(', ') || 'none'}`);
    const kind = kinds[0]!;
    switch (kind) {
      case 'hostPath': {
        const hp = obj(vol.hostPath, `${V}.hostPath`);
        onlyKeys(hp, ['path', 'type'], `${V}.hostPath`);
        const type = optStr(hp.type, `${V}.hostPath.type`) ?? '';
        if (type !== '' && type !== 'Directory') throw new UnsupportedField(`${V}.hostPath.type`, `hostPath type ${type} is not translated`);
        const source = str(hp.path, `${V}.hostPath.path`);
        if (node.missingHostPaths.has(source)) {
          if (type === 'Directory') throw new UnsupportedField(`${V}.hostPath`, `${source} does not exist (type Directory: kubelet would not start the pod)`);
          approx(`${V}.hostPath`, `${source} does not exist on this machine: containerd would create it empty, an empty tmpfs stands in`);
          argv.push('--mount', `type=tmpfs,target=${target},tmpfs-size=1m`);
          break;
        }
        // rbind, as kubelet's bind mounts: submounts (e.g. tracefs under debugfs) come along.
        argv.push('--mount', `type=bind,source=${source},target=${target},${ro ? 'ro=true,' : ''}bind-propagation=rprivate`);
        break;
      }
      case 'emptyDir': {
        const ed = obj(vol.emptyDir, `${V}.emptyDir`);
        onlyKeys(ed, ['medium', 'sizeLimit'], `${V}.emptyDir`);
        const medium = optStr(ed.medium, `${V}.emptyDir.medium`) ?? '';
        if (medium !== 'Memory') approx(`${V}.emptyDir`, 'a disk-backed emptyDir is a tmpfs here (only the container sees it either way)');
        const size = ed.sizeLimit !== undefined ? `,tmpfs-size=${Math.round(parseQuantity(ed.sizeLimit, `${V}.emptyDir.sizeLimit`))}` : '';
        if (ro) throw new UnsupportedField(`${M}.readOnly`, 'a read-only emptyDir is not translated');
        argv.push('--mount', `type=tmpfs,target=${target}${size}`);
        break;
      }
      case 'secret': {
        const sv = obj(vol.secret, `${V}.secret`);
        onlyKeys(sv, ['secretName', 'defaultMode'], `${V}.secret`);
        const sn = str(sv.secretName, `${V}.secret.secretName`);
        const dir = node.secretDirs?.[sn];
        // kubelet keeps such a pod in ContainerCreating (the volume cannot be set up): refused here.
        if (!dir || !node.secrets[sn]) throw new UnsupportedField(`${V}.secret`, `secret ${namespace}/${sn} does not exist on this node`);
        // Kubernetes mounts secret volumes read-only whatever the mount says.
        argv.push('--mount', `type=bind,source=${dir},target=${target},ro=true`);
        break;
      }
      default:
        throw new UnsupportedField(`${V}.${kind}`, `${kind} volumes are not translated`);
    }
  }
  for (const v of volumes.keys()) if (!used.has(v)) approx(`${P}.volumes.${v}`, 'declared but mounted by no container');
  // kubelet's admission adds the service-account token volume (kube-api-access-*: token, ca.crt,
  // namespace) to every pod unless automountServiceAccountToken is false.
  if (optBool(spec.automountServiceAccountToken, `${P}.automountServiceAccountToken`) !== false) {
    argv.push('--mount', `type=bind,source=${node.serviceAccountDir},target=${SERVICE_ACCOUNT_MOUNT},ro=true`);
    approx(`${P}.serviceAccountName`, `the lab's files for ${namespace}/${saName} stand in for the projected token volume: a fixed token, not one kubelet rotates`);
  }

  // --- ports: under hostNetwork a containerPort is the node's port; nothing to publish.
  const ports = arr(c.ports, `${C}.ports`).map((p, i) => {
    const po = obj(p, `${C}.ports[${i}]`);
    onlyKeys(po, ['name', 'containerPort', 'protocol'], `${C}.ports[${i}]`);
    const containerPort = optInt(po.containerPort, `${C}.ports[${i}].containerPort`);
    if (containerPort === undefined) throw new UnsupportedField(`${C}.ports[${i}].containerPort`, 'missing');
    const name = optStr(po.name, `${C}.ports[${i}].name`);
    return { ...(name !== undefined ? { name } : {}), containerPort, protocol: optStr(po.protocol, `${C}.ports[${i}].protocol`) ?? 'TCP' };
  });

  // --- probes ($(VAR) expands in exec commands too; named ports resolve to the container's).
  const probe = (key: 'livenessProbe' | 'readinessProbe'): Probe | undefined => {
    if (c[key] === undefined) return undefined;
    const PR = `${C}.${key}`;
    const p = obj(c[key], PR);
    onlyKeys(p, PROBE_KEYS, PR);
    const timing = {
      initialDelaySeconds: optInt(p.initialDelaySeconds, `${PR}.initialDelaySeconds`) ?? 0,
      periodSeconds: optInt(p.periodSeconds, `${PR}.periodSeconds`) ?? 10,
      timeoutSeconds: optInt(p.timeoutSeconds, `${PR}.timeoutSeconds`) ?? 1,
      failureThreshold: optInt(p.failureThreshold, `${PR}.failureThreshold`) ?? 3,
      successThreshold: optInt(p.successThreshold, `${PR}.successThreshold`) ?? 1,
    };
    if (p.exec !== undefined && p.httpGet === undefined) {
      const ex = obj(p.exec, `${PR}.exec`);
      onlyKeys(ex, ['command'], `${PR}.exec`);
      return { kind: 'exec', command: arr(ex.command, `${PR}.exec.command`).map((s) => expandVars(str(s, `${PR}.exec.command`), containerEnv)), ...timing };
    }
    if (p.httpGet !== undefined && p.exec === undefined) {
      const hg = obj(p.httpGet, `${PR}.httpGet`);
      onlyKeys(hg, ['path', 'port', 'scheme'], `${PR}.httpGet`);
      const port = typeof hg.port === 'number' ? hg.port : ports.find((x) => x.name === hg.port)?.containerPort;
      if (port === undefined) throw new UnsupportedField(`${PR}.httpGet.port`, `no container port named ${JSON.stringify(hg.port)}`);
      const scheme = optStr(hg.scheme, `${PR}.httpGet.scheme`) ?? 'HTTP';
      if (scheme !== 'HTTP' && scheme !== 'HTTPS') throw new UnsupportedField(`${PR}.httpGet.scheme`, `scheme ${scheme}`);
      return { kind: 'http', path: optStr(hg.path, `${PR}.httpGet.path`) ?? '/', port, scheme, ...timing };
    }
    throw new UnsupportedField(PR, 'a probe needs exactly one of exec or httpGet');
  };
  const liveness = probe('livenessProbe');
  const readiness = probe('readinessProbe');
  if (liveness) approx(`${C}.livenessProbe`, 'run by the test, which reports a failure instead of restarting the container as kubelet would');

  const grace = optInt(spec.terminationGracePeriodSeconds, `${P}.terminationGracePeriodSeconds`) ?? 30;
  argv.push('--stop-timeout', String(grace));

  // --- image and command.
  const image = str(c.image, `${C}.image`);
  approx(`${C}.image`, `${image} is not reachable (no registry): ${node.image}, built from this repository's Dockerfile, stands in`);
  const pull = optStr(c.imagePullPolicy, `${C}.imagePullPolicy`);
  if (pull !== undefined && pull !== 'IfNotPresent' && pull !== 'Never') approx(`${C}.imagePullPolicy`, `${pull}: nothing is pulled here (--pull never)`);
  const args = arr(c.args, `${C}.args`).map((a, i) => expandVars(str(a, `${C}.args[${i}]`), containerEnv));
  // command replaces the image's entrypoint and, as in Kubernetes, its CMD too: podman given
  // --entrypoint drops the image's CMD (checked with podman 4.3).
  const command = c.command === undefined ? undefined : arr(c.command, `${C}.command`).map((a, i) => expandVars(str(a, `${C}.command[${i}]`), containerEnv));
  if (command !== undefined) {
    if (command.length === 0) throw new UnsupportedField(`${C}.command`, 'an empty command is not translated');
    argv.push('--entrypoint', JSON.stringify(command));
  }
  // A hostNetwork pod has the node's hostname (the host UTS namespace), any other pod its name.
  argv.push('--hostname', hostNetwork ? node.nodeName : node.pod!.name, node.image, ...args);

  return {
    argv,
    podmanEnv,
    containerEnv,
    ...(command ? { command } : {}),
    args,
    podIP,
    ...(liveness ? { liveness } : {}),
    ...(readiness ? { readiness } : {}),
    ports,
    approximations,
  };
}

/** "BPF" or "CAP_BPF" → "CAP_BPF"; "ALL" stays "ALL". */
function capName(c: string): string {
  if (c.toUpperCase() === 'ALL') return 'ALL';
  if (!/^[A-Z_]+$/.test(c)) throw new UnsupportedField('capabilities', `not a capability name: ${JSON.stringify(c)}`);
  return c.startsWith('CAP_') ? c : `CAP_${c}`;
}
