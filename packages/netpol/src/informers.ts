// Wiring a PolicyAgent to three informers (NetworkPolicies, Pods and Namespaces of every
// namespace), the way kube-proxy's process wires its Proxier: event handlers first, then the
// "synced" callbacks once each informer has listed, so the agent never enforces a partial view
// (a policy seen before its pods would deny traffic that should pass). Structural types, so this
// package needs no dependency on @podnet/client: its Informer fits.
import type { PolicyAgent } from './agent.js';
import type { Namespace, NetworkPolicy, Pod } from './types.js';

export interface InformerLike<T> {
  addEventHandler(h: { add?(obj: T): void; update?(oldObj: T, newObj: T): void; delete?(obj: T): void }): void;
  waitForSync(timeoutMs?: number): Promise<void>;
}

export interface PolicyInformers {
  policies: InformerLike<NetworkPolicy>;
  pods: InformerLike<Pod>;
  namespaces: InformerLike<Namespace>;
}

/** Registers the agent's handlers; resolves when all three informers have synced (and told the agent). */
export async function connectInformers(agent: PolicyAgent, informers: PolicyInformers, syncTimeoutMs = 60_000): Promise<void> {
  informers.policies.addEventHandler({
    add: (p) => agent.onPolicyAdd(p),
    update: (o, p) => agent.onPolicyUpdate(o, p),
    delete: (p) => agent.onPolicyDelete(p),
  });
  informers.pods.addEventHandler({
    add: (p) => agent.onPodAdd(p),
    update: (o, p) => agent.onPodUpdate(o, p),
    delete: (p) => agent.onPodDelete(p),
  });
  informers.namespaces.addEventHandler({
    add: (n) => agent.onNamespaceAdd(n),
    update: (o, n) => agent.onNamespaceUpdate(o, n),
    delete: (n) => agent.onNamespaceDelete(n),
  });
  await Promise.all([
    informers.policies.waitForSync(syncTimeoutMs).then(() => agent.onPoliciesSynced()),
    informers.pods.waitForSync(syncTimeoutMs).then(() => agent.onPodsSynced()),
    informers.namespaces.waitForSync(syncTimeoutMs).then(() => agent.onNamespacesSynced()),
  ]);
}
