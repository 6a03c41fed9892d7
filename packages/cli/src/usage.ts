// Usage errors: a clear message, a hint, exit status 2 (the convention of most CLIs).
import { ErrorCodes, PodnetError } from '@podnet/wire';
import { CLUSTER_COMMANDS_SUMMARY } from './cluster/help.js';

export class UsageError extends PodnetError {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(ErrorCodes.USAGE, message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

export const MAIN_HELP = `podnet — the Kubernetes network model, emulated by real processes

Usage: podnet <command> [options]

Commands:
${CLUSTER_COMMANDS_SUMMARY}
  pcap read FILE [--json]   print a capture like \`tcpdump -nr FILE\` (VXLAN decoded down to the
                            inner TCP/UDP/ICMP), or one JSON object per frame with --json
  demo [--out FILE]         build a flannel-style VXLAN-encapsulated TCP session between two pods,
                            write it as a pcap (default ./podnet-demo.pcap) and print it
  iptables trace --rules FILE --src IP --dst IP --dport N
                            follow one new packet through an iptables-save file, every
                            statistic branch with its probability, NAT and the rules hit
  netpol probe [--expect F]  the NetworkPolicy reachability matrix (real connects between pods)
  prometheus-config [-o F]  a Prometheus scrape configuration for the running cluster
  help [COMMAND]            show help

Run \`podnet help COMMAND\` for a command's options.`;

export const PCAP_HELP = `Usage: podnet pcap read FILE [--json]

Prints every frame of a pcap file (libpcap format, microsecond or nanosecond, either byte
order) the way \`tcpdump -n -r FILE\` does, in UTC. VXLAN (UDP 4789) is decoded down to the
inner frame. With --json, prints one JSON object per line per frame with every decoded field.

A truncated or corrupt file prints every frame that could be read, then names the frame and
byte offset where reading stopped, and exits with status 1.`;

export const DEMO_HELP = `Usage: podnet demo [--out FILE] [--json]

Builds the frames of one HTTP exchange between pod 10.244.1.2 on node-1 (node IP 172.18.0.2)
and pod 10.244.2.3:8080 on node-2 (node IP 172.18.0.3), encapsulated in VXLAN (VNI 1, UDP
4789) the way flannel's vxlan backend sends them, writes them to FILE (default
./podnet-demo.pcap) and prints them like tcpdump (or as JSON lines with --json).`;

export const IPTABLES_HELP = `Usage: podnet iptables trace --rules FILE --src IP --dst IP --dport N [--sport N]
                             [--proto tcp|udp|sctp|icmp] [--local-ip IP ...] [--json]

Loads FILE (iptables-restore input, such as a node's iptables-save output or what kube-proxy
writes) and sends one NEW packet from --src to --dst:--dport (--proto, default tcp; --sport,
default 40000) through it, the way the node's kernel would: a packet from a local address
(--local-ip, repeatable; 127.0.0.0/8 is always local) starts at OUTPUT, any other at PREROUTING;
after DNAT it is delivered locally (INPUT) when its destination is local, and forwarded
(FORWARD, POSTROUTING) otherwise. Interfaces are eth0 (lo for local traffic); MASQUERADE uses
the first --local-ip.

Every \`-m statistic --mode random\` branch is explored: each possible outcome is printed with
its probability, verdict, the DNAT/SNAT/MASQUERADE applied and the rules it hit, like
\`iptables -j TRACE\` lines. --json prints one JSON object with the same information.

A rules file that iptables-restore would refuse gives its error (line and word) and exit 1.`;
