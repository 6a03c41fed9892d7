// Cutting a UDP GRO message back into its datagrams. A tunnel socket with UDP_GRO set
// (udp-segmentation.ts) may be handed a run of datagrams of one flow as one message: every one
// the same length except a shorter last (udp_gro_receive_segment, net/ipv4/udp_offload.c; a
// UDP GSO run from loopback is delivered whole in the same shape). The kernel says the length in
// a UDP_GRO control message, which libuv does not read, so it is found from the datagrams
// themselves: each is `header` bytes of tunnel header (VXLAN's 8; none on the host-gw uplink)
// then an Ethernet frame carrying IPv4, whose total length gives the datagram's length.
//
// A message is cut only if every piece checks out: the same tunnel header and MAC addresses as
// the first (one flow), IPv4 in each, and each piece's length from its IPv4 total length equal
// to the first's (the last: no longer). Anything else — an ARP frame, a padded or truncated
// frame, a single datagram longer than its IPv4 packet — is handed on whole, as before.

const ETHERNET_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
/** Tunnel header + both MAC addresses: the bytes that are the same in every datagram of one flow. */
const FLOW_BYTES = 12;

/** The datagram length the piece at `at` claims (tunnel header + Ethernet + IPv4 total length), or 0 if it is not IPv4 in Ethernet. */
function claimedLength(msg: Buffer, at: number, header: number): number {
  const ip = at + header + ETHERNET_HEADER;
  if (ip + 20 > msg.length) return 0;
  if (msg.readUInt16BE(ip - 2) !== ETHERTYPE_IPV4 || (msg[ip] as number) >>> 4 !== 4 || ((msg[ip] as number) & 0x0f) < 5) return 0;
  const total = msg.readUInt16BE(ip + 2);
  return total < 20 ? 0 : header + ETHERNET_HEADER + total;
}

/**
 * Calls `each(datagram)` for every datagram in `msg` (views into it), or once with `msg` itself
 * when it is one datagram or not a run that can be cut safely. Returns how many.
 */
export function forEachCoalescedDatagram(msg: Buffer, header: number, each: (datagram: Buffer) => void): number {
  const stride = claimedLength(msg, 0, header);
  if (stride === 0 || stride >= msg.length || !isRun(msg, header, stride)) {
    each(msg);
    return 1;
  }
  let count = 0;
  for (let at = 0; at < msg.length; at += stride) {
    each(msg.subarray(at, Math.min(at + stride, msg.length)));
    count++;
  }
  return count;
}

function isRun(msg: Buffer, header: number, stride: number): boolean {
  const flow = header + FLOW_BYTES;
  for (let at = stride; at < msg.length; at += stride) {
    const rest = msg.length - at;
    const length = claimedLength(msg, at, header);
    // Every piece but the last is exactly `stride` long; the last ends the message.
    if (length === 0 || (rest > stride ? length !== stride : length !== rest)) return false;
    if (msg.compare(msg, 0, flow, at, at + flow) !== 0) return false;
  }
  return true;
}
