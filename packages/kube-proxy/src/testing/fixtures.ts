// Builders for Services and EndpointSlices in tests (DESIGN §6.8), shaped like the objects
// upstream's proxier_test.go makes with makeTestService / makeTestEndpointSlice.
import type { Endpoint, EndpointPort, EndpointSlice, Service } from '../types.js';
import { LABEL_SERVICE_NAME } from '../types.js';

export function makeService(
  namespace: string,
  name: string,
  mutate: (svc: Service & { spec: NonNullable<Service['spec']> }) => void,
): Service {
  const svc: Service & { spec: NonNullable<Service['spec']> } = {
    metadata: { namespace, name, annotations: {}, labels: {} },
    spec: {},
    status: {},
  };
  mutate(svc);
  return svc;
}

export function makeSlice(
  namespace: string,
  service: string,
  index: number,
  endpoints: Endpoint[],
  ports: EndpointPort[],
  annotations: Record<string, string> = {},
): EndpointSlice {
  return {
    metadata: { namespace, name: `${service}-${index}`, labels: { [LABEL_SERVICE_NAME]: service }, annotations },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}

/** A TCP endpoint port named `name`. */
export function tcpPort(name: string, port: number): EndpointPort {
  return { name, port, protocol: 'TCP' };
}

export function udpPort(name: string, port: number): EndpointPort {
  return { name, port, protocol: 'UDP' };
}
