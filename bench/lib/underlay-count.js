// Counts the frames and bytes a node's underlay carries (both directions), for the wire-bytes
// figures of the `kernel` group.
// The underlay tap synthesizes outer Ethernet(14) + IPv4(20) + UDP(8) around each real datagram.
// For VXLAN that is the real wire (RFC 7348 §5: outer Ethernet/IPv4/UDP + VXLAN header + inner
// frame); for host-gw the datagram IS the Ethernet frame a real wire would carry, so the 42 bytes
// of emulation transport are taken off again. (Preamble, FCS and inter-frame gap are not counted,
// as a capture does not show them.)
const EMULATION_TRANSPORT = 42;

/** Starts counting on `link` (a VxlanLink or UplinkLink); stop() ends it and returns the counts. */
export function countUnderlay(link, backend) {
  const counted = { wireBytes: 0, frames: 0 };
  const strip = backend === 'vxlan' ? 0 : EMULATION_TRANSPORT;
  const untap = link.tapUnderlay({
    write: (frame) => {
      counted.frames++;
      counted.wireBytes += frame.length - strip;
    },
  });
  return {
    stop() {
      untap();
      return counted;
    },
  };
}
