// @podnet/wire: byte-exact codecs for every frame podnet puts on a link (DESIGN §5, §6.1).
// Each protocol is a namespace with its Repr type, decode/encode/encodingLength and `codec`.
export * from './address.js';
export * as arp from './arp.js';
export * from './bounded-frequency-runner.js';
export * from './checksum.js';
export * from './cidr.js';
export * from './clock.js';
export * from './codec.js';
export * from './dissect.js';
export * from './errors.js';
export * as ethernet from './ethernet.js';
export * as icmpv4 from './icmpv4.js';
export * as ipv4 from './ipv4.js';
export * from './node-process-flags.js';
export * from './packet-pool.js';
export * as pcap from './pcap.js';
export * from './print.js';
export * as sctp from './sctp.js';
export * as tcp from './tcp.js';
export * as udp from './udp.js';
export * as vxlan from './vxlan.js';
