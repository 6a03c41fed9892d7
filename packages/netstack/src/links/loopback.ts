// The loopback device `lo` (drivers/net/loopback.c): every frame sent comes straight back in.
// Its Ethernet header carries zero addresses, as Linux's loopback does.
import { MAC_ZERO } from '@podnet/wire';
import { deferDelivery } from '../deliver.js';
import { LinkBase } from './link.js';

export class LoopbackLink extends LinkBase {
  readonly kind = 'loopback' as const;

  constructor(name = 'lo', mtu = 65536 - 1) {
    super({ name, mac: MAC_ZERO, mtu });
  }

  override get usesArp(): boolean {
    return false;
  }

  protected wireSend(frame: Buffer): void {
    deferDelivery(() => this.receive(frame));
  }
}
