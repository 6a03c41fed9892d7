// ServicePortName: the identity of one port of one Service (pkg/proxy/types.go). Its string
// form, "namespace/name:port" ("namespace/name" for an unnamed port), is what kube-proxy hashes
// into chain names and writes into rule comments; the protocol is part of the identity so a
// Service may expose the same port name... once per protocol.
import type { Protocol } from './types.js';

export interface ServicePortName {
  readonly namespace: string;
  readonly name: string;
  /** The ServicePort's name ("" when the Service has a single unnamed port). */
  readonly port: string;
  readonly protocol: Protocol;
}

/** "ns/name:port", as ServicePortName.String() formats it. */
export function servicePortNameString(spn: ServicePortName): string {
  return `${spn.namespace}/${spn.name}${spn.port === '' ? '' : `:${spn.port}`}`;
}

/** A map key that also includes the protocol (two ports may share a name across protocols). */
export function servicePortKey(spn: ServicePortName): string {
  return `${servicePortNameString(spn)}/${spn.protocol}`;
}

/** "ns/name": the key of the Service (or of the EndpointSlices' service) as a whole. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
