// Desired state apart from rendering (DESIGN §6.5, kube-proxy's change trackers): the agent's
// caches of policies, pods and namespaces, each change kept as {previous, current} until the next
// sync, and a change that leaves what the renderer reads unchanged (a pod's status conditions, a
// resourceVersion bump, a namespace annotation) dropped, so it never causes a sync.
import { type NamespaceInfo, namespaceInfo, type PodInfo, podInfo, policyKey } from './semantics.js';
import type { Namespace, NetworkPolicy, Pod } from './types.js';

export type Kind = 'policy' | 'pod' | 'namespace';

export type TrackedObject = NetworkPolicy | Pod | Namespace;

export interface Change<T> {
  previous: T | undefined;
  current: T | undefined;
}

/** What the renderer reads of each object, as a comparable string. */
function fingerprint(kind: Kind, obj: unknown): string {
  if (obj === undefined) return '';
  if (kind === 'policy') {
    const p = obj as NetworkPolicy;
    return JSON.stringify(p.spec ?? null);
  }
  if (kind === 'pod') {
    const info: PodInfo | undefined = podInfo(obj as Pod);
    return info ? JSON.stringify([info.ip, info.nodeName, sorted(info.labels), [...info.namedPorts].sort()]) : '';
  }
  const ns: NamespaceInfo = namespaceInfo(obj as Namespace);
  return JSON.stringify(sorted(ns.labels));
}

const sorted = (r: Record<string, string>) => Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const keyOf = (kind: Kind, obj: { metadata: { namespace?: string; name: string } }) =>
  kind === 'namespace' ? obj.metadata.name : policyKey(obj);

export class PolicyChangeTracker {
  readonly policies = new Map<string, NetworkPolicy>();
  readonly pods = new Map<string, Pod>();
  readonly namespaces = new Map<string, Namespace>();
  readonly #pending = new Map<string, Change<unknown> & { kind: Kind }>();

  #map(kind: Kind): Map<string, unknown> {
    return kind === 'policy' ? this.policies : kind === 'pod' ? this.pods : this.namespaces;
  }

  /**
   * Records an add (previous undefined), update, or delete (current undefined). Returns whether
   * the change is one the renderer can see (false: dropped as a no-op).
   */
  update(kind: Kind, previous: TrackedObject | undefined, current: TrackedObject | undefined): boolean {
    const obj = current ?? previous;
    if (!obj) return false;
    const key = keyOf(kind, obj);
    const map = this.#map(kind);
    const before = map.get(key);
    if (current) map.set(key, current);
    else map.delete(key);
    const id = `${kind}:${key}`;
    const earlier = this.#pending.get(id);
    const change = { kind, previous: earlier ? earlier.previous : before, current };
    if (fingerprint(kind, change.previous) === fingerprint(kind, change.current)) {
      this.#pending.delete(id);
      return earlier !== undefined && fingerprint(kind, earlier.current) !== fingerprint(kind, current);
    }
    this.#pending.set(id, change);
    return true;
  }

  /** Changes since the last drain (after coalescing; no-ops gone). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Takes the pending changes (the sync that renders them calls it). */
  drain(): Array<Change<unknown> & { kind: Kind; key: string }> {
    const out = [...this.#pending].map(([id, c]) => ({ ...c, key: id.slice(id.indexOf(':') + 1) }));
    this.#pending.clear();
    return out;
  }
}
