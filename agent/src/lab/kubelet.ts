// What kubelet and containerd make of a lab pod: container ids, the QoS class and the cgroup each
// container process lives in, in the exact shapes of both cgroup drivers. Pure: the lab's cgroup
// I/O (cgroups.ts) and the API's pod objects (k8s-objects.ts) both take their facts from here, so
// what /proc/<pid>/cgroup shows and what the API reports agree.
import { createHash } from 'node:crypto';

/** Which kubelet cgroup driver the lab imitates; `none` puts no process in a pod cgroup. */
export const cgroupDrivers = ['cgroupfs', 'systemd', 'none'] as const;
export type CgroupDriver = (typeof cgroupDrivers)[number];

/** A pod's QoS class, as kubelet derives it from requests and limits. */
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The runtime prefix of `status.containerStatuses[].containerID`. */
export const CONTAINER_RUNTIME = 'containerd';

function hex64(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** containerd's id of a container of a pod (64 hex digits, unique because pod uids are). */
export function containerId(podUid: string, container: string): string {
  return hex64(`container/${podUid}/${container}`);
}

/** The pod sandbox's id (the pause container holding the pod's network namespace). */
export function sandboxId(podUid: string): string {
  return hex64(`sandbox/${podUid}`);
}

/**
 * QoS class of a lab pod. Lab containers set no requests or limits, which kubelet classes as
 * BestEffort; the function is here so the cgroup path and `status.qosClass` share one answer.
 */
export function labPodQos(): QosClass {
  return 'BestEffort';
}

/** A pod's cgroup below the kubelet's cgroup root, as kubelet names it. */
export function podCgroupPath(driver: Exclude<CgroupDriver, 'none'>, qos: QosClass, podUid: string): string {
  const q = qos === 'Guaranteed' ? undefined : qos.toLowerCase();
  switch (driver) {
    case 'cgroupfs':
      // kubepods/besteffort/pod<uid>; Guaranteed pods sit directly under kubepods.
      return ['kubepods', ...(q ? [q] : []), `pod${podUid}`].join('/');
    case 'systemd': {
      // Each slice repeats its parents' names; dashes in the uid become underscores, as
      // systemd reserves "-" for nesting.
      const u = podUid.replace(/-/g, '_');
      return (q ? ['kubepods.slice', `kubepods-${q}.slice`, `kubepods-${q}-pod${u}.slice`] : ['kubepods.slice', `kubepods-pod${u}.slice`]).join('/');
    }
    default: {
      const never: never = driver;
      throw new Error(`unknown cgroup driver ${String(never)}`);
    }
  }
}

/** A container's cgroup (the pod's, then containerd's group for the container id). */
export function containerCgroupPath(driver: Exclude<CgroupDriver, 'none'>, qos: QosClass, podUid: string, id: string): string {
  return `${podCgroupPath(driver, qos, podUid)}/${driver === 'systemd' ? `cri-containerd-${id}.scope` : id}`;
}
