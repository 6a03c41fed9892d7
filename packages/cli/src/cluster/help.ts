// Help texts of the cluster commands (kept beside them; usage.ts lists them in MAIN_HELP).
export const CLUSTER_COMMANDS_SUMMARY = `  up [--nodes N] [--backend vxlan|host-gw] [--name NAME] [--demo]
                            start a local cluster (control plane + N nodes) in the background
  down [--name NAME] [--purge]
                            stop everything \`up\` started (--purge also deletes its state)
  status [--name NAME]      nodes (IP, transport address) and each component's health
  exec POD [-n NS] [-c CONTAINER] -- CMD ...
                            run a toolbox command in a pod (curl, ping, nc, ip, ss, ...)
  node exec NODE -- CMD ... run iptables-save, iptables, conntrack, ip route|neigh, bridge fdb on a node
  kill pod NAME [-n NS] | kill node NAME
                            kill a pod's containers (as SIGKILL) or every process of a node
  trace --from POD --to IP:PORT [--proto tcp|udp|sctp|icmp]
                            send one packet from a pod and print its path hop by hop
  capture NODE [--iface NAME] -w FILE.pcap [--duration S]
                            write a pcap of a node's interface (default flannel.1's underlay)`;

export const UP_HELP = `Usage: podnet up [--nodes N] [--backend vxlan|host-gw] [--name NAME] [--demo] [--state-dir DIR]
                 [--api-port 6443] [--transport-prefix 127.0.1] [--timeout S]
                 [--node-monitor-grace-period S] [--pod-eviction-timeout S]
                 [--netpol-min-sync-period DURATION] [--netpol-sync-period DURATION] [--runtime process|compose]

Starts a cluster of local processes: the control plane (API server + controllers) on
127.0.0.1:6443, and N nodes (default 3). Node N is a node-agent (the kubelet) that runs its
cni-agent (the node's kernel) and kube-proxy; its emulated node IP is 172.18.0.N+1 and its real
sockets (NodePorts, VXLAN, metrics) listen on its transport address 127.0.1.N.
Credentials, kubeconfigs, data and logs go to the state directory (default ~/.podnet/NAME,
NAME defaults to podnet; $PODNET_HOME replaces ~/.podnet). ~/.kube/config is never touched.
Waits until every node is Ready (--timeout, default 120 s), prints how to use the cluster and
returns; the cluster keeps running until \`podnet down\`.
--demo also deploys a 3-replica agnhost web Deployment, its NodePort Service and a load
generator calling it.
--api-port and --transport-prefix (node N on PREFIX.N) let a second cluster run beside the first;
--node-monitor-grace-period (default 10 s) and --pod-eviction-timeout (default 30 s) tune how fast
a dead node goes NotReady and loses its pods.
--netpol-min-sync-period (default 100ms; 0 to 30s, as kube-proxy's --min-sync-period: 0, 10ms,
1s) is the least time between two NetworkPolicy syncs of each node's cni-agent after a burst of
changes: lower lands a policy change sooner, at more CPU under churn (process runtime only).
--netpol-sync-period (default 30s; 100ms to 24h, as kube-proxy's --sync-period) is how often each
cni-agent rewrites every NetworkPolicy chain, putting back rules changed by hand (process runtime only).
--runtime compose runs the cluster as containers instead (deploy/docker-compose.yml through
docker compose or docker-compose: node N at 172.30.0.(10+N), API server, live page and the
NodePorts 30080-30089 published on 127.0.0.1); stop it with \`podnet down --runtime compose\`.`;

export const DOWN_HELP = `Usage: podnet down [--name NAME] [--state-dir DIR] [--purge] [--runtime process|compose]

Stops every process \`podnet up\` started for the cluster (SIGTERM, then SIGKILL after 10 s).
Keeps the state directory (logs, credentials, the API server's data) unless --purge.
--runtime compose removes a \`podnet up --runtime compose\` cluster's containers and network.`;

export const STATUS_HELP = `Usage: podnet status [--name NAME] [--state-dir DIR]

Prints the nodes (Ready, node IP, transport address, pod CIDR) and the health of every
component. Exit status 1 when anything is unhealthy.`;

export const EXEC_HELP = `Usage: podnet exec POD [-n NAMESPACE] [-c CONTAINER] [--name NAME] -- CMD [ARG...]

Runs CMD in the pod's network namespace through the API server's pods/exec (as kubectl exec):
curl (-s -o -w -m -v -d), ping (-c -s -M do), nc (-u -z -l -w), traceroute, ip addr|route|neigh,
ss, and the other toolbox commands. Exits with the command's exit status.

Usage: podnet node exec NODE [--name NAME] -- CMD [ARG...]

Runs CMD in the node's host namespace (the cni-agent): iptables-save [-t TABLE] [-c],
iptables [-t TABLE] -L -n -v | -S | -A | -I | -D, iptables-restore (stdin), conntrack -L|-D,
ip route, ip neigh, bridge fdb [show|del].`;

export const KILL_HELP = `Usage: podnet kill pod NAME [-n NAMESPACE] [--name NAME]
       podnet kill node NODE [--name NAME]

kill pod: the pod's containers die at once, as on SIGKILL (no grace period); the kubelet
restarts them according to the pod's restartPolicy.
kill node: every process of the node (node-agent, cni-agent, kube-proxy) dies at once; the
Node goes NotReady after the node monitor grace period and its pods are replaced elsewhere.`;

export const TRACE_HELP = `Usage: podnet trace --from POD [-n NAMESPACE] --to IP:PORT [--proto tcp|udp|sctp|icmp] [--json] [--name NAME]

Arms a trace on every node, sends one packet from the pod (nc -z, nc -u, nc --sctp -z or ping -c 1 through
its own stack) and prints, node by node, where it entered, every netfilter rule it hit (as
iptables TRACE lines), the DNAT/SNAT applied, the interface it left by (flannel.1: VXLAN to the
peer node; cni0: a local pod) and whether it was delivered, dropped or rejected.`;

export const CAPTURE_HELP = `Usage: podnet capture NODE [--iface NAME] [--inner] -w FILE.pcap [--duration S] [--name NAME]

Captures a node's interface for S seconds (default 10) into FILE.pcap, which Wireshark and
tshark open. Default: the tunnel's underlay — with vxlan, flannel.1's VXLAN datagrams with their
outer Ethernet/IPv4/UDP 4789 headers, as \`tcpdump -i eth0 udp port 4789\` shows them on a flannel
node (--inner: the decapsulated frames of flannel.1 instead); with host-gw, eth0's frames. --iface
NAME captures that interface of the host namespace as it is: cni0, eth0, flannel.1, vethXXXX, any.`;
