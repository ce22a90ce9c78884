// ClusterModel → the Kubernetes objects a real API server would return for that cluster.
// Pure: the lab API server stamps resourceVersion and creationTimestamp on top.
import { createHash } from 'node:crypto';
import type { ClusterModel, ModelPod, ModelService } from './model.ts';
import type { Workload } from './topology.ts';
import { CONTAINER_RUNTIME, containerId, labPodQos } from './kubelet.ts';

/** A rendered Kubernetes object (plain JSON, as on the wire). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** The resources the lab API serves. */
export type ResourceName = 'pods' | 'services' | 'endpoints' | 'endpointslices' | 'nodes' | 'namespaces' | 'deployments' | 'replicasets' | 'events' | 'leases';

/** Discovery facts of one resource. */
export interface ResourceInfo {
  group: '' | 'discovery.k8s.io' | 'apps' | 'coordination.k8s.io';
  version: 'v1';
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  /** Field selector paths the resource accepts besides metadata.name / metadata.namespace. */
  fields: string[];
}

export const RESOURCES: Record<ResourceName, ResourceInfo> = {
  pods: { group: '', version: 'v1', kind: 'Pod', singular: 'pod', namespaced: true, shortNames: ['po'], fields: ['spec.nodeName', 'status.phase', 'status.podIP'] },
  services: { group: '', version: 'v1', kind: 'Service', singular: 'service', namespaced: true, shortNames: ['svc'], fields: ['spec.clusterIP', 'spec.type'] },
  endpoints: { group: '', version: 'v1', kind: 'Endpoints', singular: 'endpoints', namespaced: true, shortNames: ['ep'], fields: [] },
  // NOTE: the lab records no events; the resource exists because `kubectl describe` lists the
  // events of what it describes and treats a 404 there as an error.
  events: {
    group: '',
    version: 'v1',
    kind: 'Event',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  },
  nodes: { group: '', version: 'v1', kind: 'Node', singular: 'node', namespaced: false, shortNames: ['no'], fields: ['spec.unschedulable'] },
  namespaces: { group: '', version: 'v1', kind: 'Namespace', singular: 'namespace', namespaced: false, shortNames: ['ns'], fields: ['status.phase'] },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', singular: 'endpointslice', namespaced: true, shortNames: [], fields: ['addressType'] },
  deployments: { group: 'apps', version: 'v1', kind: 'Deployment', singular: 'deployment', namespaced: true, shortNames: ['deploy'], fields: [] },
  // Each node's heartbeat lease (kube-node-lease), which `kubectl describe node` shows.
  leases: { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', singular: 'lease', namespaced: true, shortNames: [], fields: [] },
  replicasets: { group: 'apps', version: 'v1', kind: 'ReplicaSet', singular: 'replicaset', namespaced: true, shortNames: ['rs'], fields: [] },
};

export const RESOURCE_NAMES = Object.keys(RESOURCES) as ResourceName[];

/**
 * The Kubernetes version the lab API and its kubelets report. NOTE: google-cloud-sdk's kubectl
 * dispatcher picks its kubectl by the server's minor version, so this is also which kubectl runs
 * where that dispatcher is /usr/bin/kubectl.
 */
export const LAB_KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-hopscope-lab' };

/** "apps/v1" or "v1". */
export function apiVersionOf(r: ResourceName): string {
  const i = RESOURCES[r];
  return i.group ? `${i.group}/${i.version}` : i.version;
}

/** Options that are facts of the machine, not of the model (kept out so rendering stays pure). */
export interface RenderOptions {
  /** Timestamp for conditions and start times (RFC 3339). */
  time: string;
  kernelVersion?: string;
}

/** Deterministic RFC 4122-shaped uid from a kind and an identity. */
export function stableUid(kind: string, id: string): string {
  const h = createHash('sha256').update(`${kind}/${id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const KUBE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/**
 * The pod-template-hash model.ts gives a Deployment's pods. NOTE: repeated here because a
 * Deployment scaled to 0 has no pods to read it from; the unit test pins both to agree.
 */
export function podTemplateHash(namespace: string, name: string): string {
  const h = createHash('sha256').update(`${namespace}/${name}/template`).digest();
  let out = '';
  for (let i = 0; i < 10; i++) out += KUBE_ALPHABET[h[i]! % KUBE_ALPHABET.length];
  return out;
}

function containerPorts(run: Workload): { containerPort: number; protocol: 'TCP' | 'UDP'; name?: string }[] {
  switch (run.kind) {
    case 'http':
      return [{ containerPort: run.port, protocol: 'TCP', name: 'http' }];
    case 'dns':
      return [
        { containerPort: run.port, protocol: 'UDP', name: 'dns' },
        { containerPort: run.port, protocol: 'TCP', name: 'dns-tcp' },
      ];
    case 'client':
    case 'idle':
      return [];
    default: {
      const never: never = run;
      throw new Error(`unknown workload ${JSON.stringify(never)}`);
    }
  }
}

function containerSpec(c: { name: string; run: Workload }): Record<string, unknown> {
  const ports = containerPorts(c.run);
  return { name: c.name, image: `hopscope.lab/${c.run.kind}:lab`, imagePullPolicy: 'IfNotPresent', ...(ports.length ? { ports } : {}) };
}

function nodeAddress(model: ClusterModel, node: string): string | undefined {
  return model.nodes.find((n) => n.name === node)?.address;
}

function renderPod(model: ClusterModel, p: ModelPod, o: RenderOptions): K8sObject {
  const hostIP = nodeAddress(model, p.node);
  const metadata: K8sObject['metadata'] = { name: p.name, namespace: p.namespace, uid: p.uid, labels: { ...p.labels } };
  if (p.deployment) {
    metadata.generateName = `${p.deployment.replicaSet}-`;
    metadata.ownerReferences = [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: p.deployment.replicaSet,
        uid: stableUid('replicaset', `${p.namespace}/${p.deployment.replicaSet}`),
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
  }
  const conditions = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
    type,
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: o.time,
  }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      nodeName: p.node,
      containers: p.containers.map(containerSpec),
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      serviceAccountName: 'default',
      terminationGracePeriodSeconds: 30,
    },
    status: {
      phase: 'Running',
      conditions,
      hostIP,
      hostIPs: hostIP ? [{ ip: hostIP }] : [],
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      startTime: o.time,
      qosClass: labPodQos(),
      containerStatuses: p.containers.map((c) => ({
        name: c.name,
        ready: true,
        started: true,
        restartCount: 0,
        image: `hopscope.lab/${c.run.kind}:lab`,
        imageID: `hopscope.lab/${c.run.kind}@sha256:${createHash('sha256').update(c.run.kind).digest('hex')}`,
        // The id the container's cgroup is named by (kubelet.ts): the agent matches the two.
        containerID: `${CONTAINER_RUNTIME}://${containerId(p.uid, c.name)}`,
        state: { running: { startedAt: o.time } },
      })),
    },
  };
}

function renderService(s: ModelService): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, uid: s.uid, labels: {} },
    spec: {
      type: s.type,
      clusterIP: s.clusterIP,
      clusterIPs: [s.clusterIP],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      selector: { ...s.selector },
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ...(s.type === 'NodePort' ? { externalTrafficPolicy: 'Cluster' } : {}),
      ports: s.ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort,
        ...(s.type === 'NodePort' && p.nodePort ? { nodePort: p.nodePort } : {}),
      })),
    },
    status: { loadBalancer: {} },
  };
}

function renderEndpointSlice(model: ClusterModel, s: ModelService): K8sObject {
  // The controller names slices <service>-<random>; a hash keeps the name stable across renders.
  const name = `${s.name}-${createHash('sha256').update(`${s.namespace}/${s.name}/slice`).digest('hex').slice(0, 5)}`;
  const podUid = new Map(model.pods.map((p) => [`${p.namespace}/${p.name}`, p.uid]));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: s.namespace,
      uid: stableUid('endpointslice', `${s.namespace}/${name}`),
      generateName: `${s.name}-`,
      labels: {
        'kubernetes.io/service-name': s.name,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: s.name, uid: s.uid, controller: true, blockOwnerDeletion: true }],
    },
    addressType: 'IPv4',
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: e.node,
      targetRef: { kind: 'Pod', namespace: e.podNamespace, name: e.podName, uid: podUid.get(`${e.podNamespace}/${e.podName}`) },
    })),
    ports: s.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.targetPort })),
  };
}

/** The v1 Endpoints the endpoints controller keeps beside the slice: one subset, every ready pod. */
function renderEndpoints(model: ClusterModel, s: ModelService): K8sObject {
  const podUid = new Map(model.pods.map((p) => [`${p.namespace}/${p.name}`, p.uid]));
  const subsets = s.endpoints.length
    ? [
        {
          addresses: s.endpoints.map((e) => ({
            ip: e.ip,
            nodeName: e.node,
            targetRef: { kind: 'Pod', namespace: e.podNamespace, name: e.podName, uid: podUid.get(`${e.podNamespace}/${e.podName}`) },
          })),
          ports: s.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.targetPort, protocol: p.protocol })),
        },
      ]
    : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: s.name, namespace: s.namespace, uid: stableUid('endpoints', `${s.namespace}/${s.name}`), labels: {} },
    ...(subsets ? { subsets } : {}),
  };
}

function renderNode(n: ClusterModel['nodes'][number], o: RenderOptions): K8sObject {
  const idHex = createHash('sha256').update(`node/${n.name}`).digest('hex');
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      uid: n.uid,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
      },
    },
    spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
    status: {
      addresses: [
        { type: 'InternalIP', address: n.address },
        { type: 'Hostname', address: n.name },
      ],
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'lab node is ready', lastHeartbeatTime: o.time, lastTransitionTime: o.time },
      ],
      nodeInfo: {
        machineID: idHex.slice(0, 32),
        systemUUID: stableUid('node-system', n.name),
        bootID: stableUid('node-boot', n.name),
        kernelVersion: o.kernelVersion ?? '',
        osImage: 'hopscope lab (network namespace)',
        containerRuntimeVersion: `${CONTAINER_RUNTIME}://hopscope-lab`,
        kubeletVersion: LAB_KUBE_VERSION.gitVersion,
        kubeProxyVersion: LAB_KUBE_VERSION.gitVersion,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      allocatable: { cpu: '2', memory: '2Gi', pods: '110' },
      capacity: { cpu: '2', memory: '2Gi', pods: '110' },
    },
  };
}

/** A node's lease in kube-node-lease, held by its kubelet (renewed as the model is rendered). */
function renderLease(n: ClusterModel['nodes'][number], o: RenderOptions): K8sObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: n.name,
      namespace: 'kube-node-lease',
      uid: stableUid('lease', n.name),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n.name, uid: n.uid }],
    },
    // MicroTime: RFC 3339 with microseconds.
    spec: { holderIdentity: n.name, leaseDurationSeconds: 40, renewTime: o.time.replace(/Z$/, '.000000Z') },
  };
}

function renderWorkloads(model: ClusterModel): K8sObject[] {
  const out: K8sObject[] = [];
  for (const d of model.deployments) {
    const pods = model.pods.filter((p) => p.namespace === d.namespace && p.deployment?.name === d.name);
    const hash = pods[0]?.deployment?.podTemplateHash ?? podTemplateHash(d.namespace, d.name);
    const rsName = pods[0]?.deployment?.replicaSet ?? `${d.name}-${hash}`;
    const depUid = stableUid('deployment', `${d.namespace}/${d.name}`);
    const template = { metadata: { labels: { ...d.labels } }, spec: { containers: d.containers.map(containerSpec), restartPolicy: 'Always' } };
    const counts = { replicas: pods.length, readyReplicas: pods.length, availableReplicas: pods.length };
    out.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: d.name, namespace: d.namespace, uid: depUid, labels: { ...d.labels }, generation: 1 },
      spec: { replicas: d.replicas, selector: { matchLabels: { ...d.labels } }, template, strategy: { type: 'RollingUpdate' } },
      status: { observedGeneration: 1, ...counts, updatedReplicas: pods.length },
    });
    const rsLabels = { ...d.labels, 'pod-template-hash': hash };
    out.push({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: rsName,
        namespace: d.namespace,
        uid: stableUid('replicaset', `${d.namespace}/${rsName}`),
        labels: rsLabels,
        generation: 1,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.name, uid: depUid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { replicas: d.replicas, selector: { matchLabels: rsLabels }, template: { ...template, metadata: { labels: rsLabels } } },
      status: { observedGeneration: 1, ...counts, fullyLabeledReplicas: pods.length },
    });
  }
  return out;
}

/** Every object of the model, by resource, in a stable order. */
export function renderCluster(model: ClusterModel, o: RenderOptions): Record<ResourceName, K8sObject[]> {
  const namespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  for (const x of [...model.pods, ...model.services, ...model.deployments]) namespaces.add(x.namespace);
  const workloads = renderWorkloads(model);
  return {
    pods: [...model.pods].sort((a, b) => a.ordinal - b.ordinal).map((p) => renderPod(model, p, o)),
    services: model.services.map(renderService),
    endpoints: model.services.map((s) => renderEndpoints(model, s)),
    endpointslices: model.services.map((s) => renderEndpointSlice(model, s)),
    nodes: model.nodes.map((n) => renderNode(n, o)),
    namespaces: [...namespaces].sort().map((ns) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, uid: stableUid('namespace', ns), labels: { 'kubernetes.io/metadata.name': ns } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    })),
    deployments: workloads.filter((w) => w.kind === 'Deployment'),
    replicasets: workloads.filter((w) => w.kind === 'ReplicaSet'),
    events: [],
    leases: model.nodes.map((n) => renderLease(n, o)),
  };
}

/** "ns/name" (or "name" for cluster-scoped objects): the key objects are diffed by. */
export function objectKey(o: K8sObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}
