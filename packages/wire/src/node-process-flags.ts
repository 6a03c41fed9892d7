// The V8 flags every podnet node process (node-agent, cni-agent, kube-proxy) runs with, put on its
// command line by whatever starts it (`podnet up`, the node-agent's supervisor, the container's
// entrypoint), so that a node's processes are alike however the cluster was started.
//
// --max-semi-space-size=8 (MiB): V8 grows the young generation up to 16 MiB per semi-space (32 MiB
// of new space) under allocation pressure and keeps it. A cni-agent of a 20-node cluster grew that
// way in the minute after 200 pods were created (89 → 110 MiB RSS: kube-proxy's restores, the
// endpoint and policy churn), which put nodes at 253 MiB against the 256 MiB budget (issue 9).
// Capped at 8 MiB its RSS stayed at 88-94 MiB (nodes ≤ 244 MiB), and the pod path's bulk TCP rate
// was unchanged (990-1330 Mbit/s against 900-1300 with the default, bench pod pair); at 4 MiB it
// fell 10-15%, as scavenges come twice as often.
export const NODE_PROCESS_V8_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8']);
