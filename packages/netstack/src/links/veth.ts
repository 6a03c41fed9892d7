// A veth pair inside one process (drivers/net/veth.c): a frame sent on one end is received on
// the other, on the next delivery turn. The two ends usually live in different namespaces
// (pod eth0 ↔ host vethXXXX); across processes use UnixSocketVeth (unix-socket.ts).
import type { MacAddress } from '@podnet/wire';
import { deferDelivery } from '../deliver.js';
import { LinkBase } from './link.js';

export class VethLink extends LinkBase {
  readonly kind = 'veth' as const;
  #peer: VethLink | undefined;

  /** A veth passes the frame object itself: a super-frame crosses whole (veth's NETIF_F_GSO_SOFTWARE). */
  protected override get wireCarriesGso(): boolean {
    return true;
  }

  get peer(): VethLink | undefined {
    return this.#peer;
  }

  /** Makes both ends of a pair, joined. */
  static pair(
    a: { name: string; mac: MacAddress; mtu?: number },
    b: { name: string; mac: MacAddress; mtu?: number },
  ): [VethLink, VethLink] {
    const x = new VethLink(a);
    const y = new VethLink(b);
    x.#peer = y;
    y.#peer = x;
    return [x, y];
  }

  protected wireSend(frame: Buffer): void {
    const peer = this.#peer;
    if (peer === undefined || !peer.up) {
      // Linux veth_xmit: a peer that is gone or down counts the frame as dropped.
      this.dropReceived(frame, 'peer-down');
      return;
    }
    deferDelivery(() => peer.receive(frame));
  }

  override async close(): Promise<void> {
    await super.close();
    const peer = this.#peer;
    this.#peer = undefined;
    if (peer) peer.#peer = undefined;
  }
}
