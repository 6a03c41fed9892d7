// Types for two-process-vxlan.mjs (plain JavaScript, shared with the benchmark).
export interface PeerReport {
  event: string;
  bytes: number;
  sha256?: string;
  ms: number;
  synMss?: number;
  info?: { mss: number; peerMss: number; advertisedMss: number } & Record<string, unknown>;
  counters?: Record<string, number>;
}
export interface Peer {
  readonly index: number;
  readonly errors: string[];
  request(msg: object | undefined, event: string, timeoutMs?: number): Promise<PeerReport>;
  wait(event: string, timeoutMs?: number): Promise<PeerReport>;
  close(): Promise<void>;
}
export interface TwoNodes {
  n1: Peer;
  n2: Peer;
  rawPorts: [number, number];
  close(): Promise<unknown>;
}
export function startTwoNodes(options?: { faults?: Record<string, number>; tcp?: Record<string, unknown> }): Promise<TwoNodes>;
export function tcpTransfer(
  nodes: TwoNodes,
  options: { bytes: number; port?: number; timeoutMs?: number; verify?: boolean },
): Promise<{ received: PeerReport; sent: PeerReport }>;
export function rawTransfer(
  nodes: TwoNodes,
  options: { bytes: number; size: number; timeoutMs?: number },
): Promise<{ received: PeerReport; sent: PeerReport }>;
