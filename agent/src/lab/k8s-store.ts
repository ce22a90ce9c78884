// The lab API's object store: rendered objects with resourceVersions from one global counter
// (like etcd), model diffs turned into watch events, and a bounded event history. No I/O.
import type { ClusterModel } from './model.ts';
import { RESOURCE_NAMES, objectKey, renderCluster, type K8sObject, type RenderOptions, type ResourceName } from './k8s-objects.ts';

/** A change to one object, numbered by the global resourceVersion. */
export interface StoreEvent {
  rv: number;
  resource: ResourceName;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: K8sObject;
  /** The object before a MODIFIED (so a selector watch can turn it into ADDED/DELETED). */
  previous?: K8sObject;
}

interface Entry {
  object: K8sObject;
  /** The rendered object without resourceVersion/creationTimestamp, to detect real changes. */
  content: string;
}

/** Options of the object store. */
export interface StoreOptions extends RenderOptions {
  /** First resourceVersion; a restarted server starts above the old one so old versions expire. */
  rvBase: number;
  /** Events kept for watches resuming from an older resourceVersion. */
  historyLimit: number;
}

export class ObjectStore {
  private objects = new Map<ResourceName, Map<string, Entry>>();
  private history: StoreEvent[] = [];
  private current: number;
  /** Watches may resume from any resourceVersion >= this. */
  private oldest: number;

  constructor(
    model: ClusterModel,
    private readonly opts: StoreOptions,
  ) {
    this.current = opts.rvBase;
    for (const r of RESOURCE_NAMES) this.objects.set(r, new Map());
    this.apply(model);
    // The initial objects are not events: a watch from before them cannot be served.
    this.history = [];
    this.oldest = this.current;
  }

  /** The newest resourceVersion (what a list returns). */
  get resourceVersion(): number {
    return this.current;
  }

  /** The oldest resourceVersion a watch can resume from. */
  get oldestResumable(): number {
    return this.oldest;
  }

  list(resource: ResourceName): K8sObject[] {
    return [...this.objects.get(resource)!.values()].map((e) => e.object);
  }

  get(resource: ResourceName, key: string): K8sObject | undefined {
    return this.objects.get(resource)!.get(key)?.object;
  }

  /** Replace the model; returns the events, in resourceVersion order. */
  setModel(model: ClusterModel, time: string): StoreEvent[] {
    return this.apply(model, time);
  }

  /** Events after `rv`, or 'expired' if some of them have left the history (or rv is unknown). */
  eventsSince(rv: number): StoreEvent[] | 'expired' {
    if (!Number.isSafeInteger(rv) || rv < this.oldest || rv > this.current) return 'expired';
    // History is sorted by rv; events newer than rv are at the end.
    let i = this.history.length;
    while (i > 0 && this.history[i - 1]!.rv > rv) i--;
    return this.history.slice(i);
  }

  private apply(model: ClusterModel, time?: string): StoreEvent[] {
    const rendered = renderCluster(model, this.opts);
    const events: StoreEvent[] = [];
    for (const resource of RESOURCE_NAMES) {
      const have = this.objects.get(resource)!;
      const seen = new Set<string>();
      for (const obj of rendered[resource]) {
        const key = objectKey(obj);
        seen.add(key);
        const content = JSON.stringify(obj);
        const old = have.get(key);
        if (old && old.content === content) continue;
        const rv = ++this.current;
        const object: K8sObject = {
          ...obj,
          metadata: {
            ...obj.metadata,
            resourceVersion: String(rv),
            creationTimestamp: old?.object.metadata.creationTimestamp ?? time ?? this.opts.time,
          },
        };
        have.set(key, { object, content });
        events.push(old ? { rv, resource, type: 'MODIFIED', object, previous: old.object } : { rv, resource, type: 'ADDED', object });
      }
      for (const [key, old] of have) {
        if (seen.has(key)) continue;
        have.delete(key);
        let last = old.object;
        if (resource === 'pods') {
          // A pod is deleted gracefully: first marked (deletionTimestamp, what `kubectl get -w`
          // shows as Terminating), then removed, as the API server and kubelet do it.
          const rv = ++this.current;
          const marked: K8sObject = {
            ...old.object,
            metadata: { ...old.object.metadata, resourceVersion: String(rv), deletionTimestamp: time ?? this.opts.time, deletionGracePeriodSeconds: 30 },
          };
          events.push({ rv, resource, type: 'MODIFIED', object: marked, previous: old.object });
          last = marked;
        }
        const rv = ++this.current;
        const object: K8sObject = { ...last, metadata: { ...last.metadata, resourceVersion: String(rv) } };
        events.push({ rv, resource, type: 'DELETED', object });
      }
    }
    this.history.push(...events);
    if (this.history.length > this.opts.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.opts.historyLimit);
      this.oldest = dropped[dropped.length - 1]!.rv;
    }
    return events;
  }
}
