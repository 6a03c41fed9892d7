// host-local IPAM (containernetworking/plugins plugins/ipam/host-local): one file per allocated
// address under <dataDir>/networks/<network>/, named by the address and holding
// "<containerId>\r\n<ifname>" (disk/backend.go), created with O_EXCL so two allocations can never
// win the same address, and read back after a restart, so an address is never handed out twice.
// `last_reserved_ip.0` remembers where the round-robin scan stopped (allocator.go: the next
// allocation starts after the last one, so a freed address is not reused at once).
// The network address, the gateway (.1) and the broadcast address are never allocated.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Cidr, cidrBroadcast, formatCidr, formatIpv4, type Ipv4Address, isIpv4, parseIpv4 } from '@podnet/wire';
import { CniAgentError, CniAgentErrorCodes } from '../errors.js';

const LAST_RESERVED = 'last_reserved_ip.0';

export interface Allocation {
  address: Ipv4Address;
  containerId: string;
  ifname: string;
}

export class HostLocalIpam {
  readonly dir: string;
  readonly subnet: Cidr;
  readonly gateway: Ipv4Address;

  constructor(dataDir: string, network: string, subnet: Cidr) {
    if (subnet.prefix > 30) {
      throw new CniAgentError(
        CniAgentErrorCodes.IPAM,
        `IPAM: subnet ${formatCidr(subnet)} is too small (needs /30 or larger for a gateway and one pod)`,
      );
    }
    this.dir = join(dataDir, 'networks', network);
    this.subnet = subnet;
    this.gateway = (subnet.network + 1) >>> 0;
    mkdirSync(this.dir, { recursive: true });
  }

  /** Every address on disk (ip file name → owner). */
  allocations(): Allocation[] {
    const out: Allocation[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!isIpv4(name)) continue;
      const [containerId = '', ifname = ''] = readFileSync(join(this.dir, name), 'utf8').split(/\r?\n/);
      out.push({ address: parseIpv4(name), containerId: containerId.trim(), ifname: ifname.trim() });
    }
    return out;
  }

  /** The address held by container+ifname, if any. */
  find(containerId: string, ifname: string): Ipv4Address | undefined {
    return this.allocations().find((a) => a.containerId === containerId && a.ifname === ifname)?.address;
  }

  /** Allocates (or returns the address already held by) container+ifname. */
  allocate(containerId: string, ifname: string): Ipv4Address {
    const held = this.find(containerId, ifname);
    if (held !== undefined) return held;
    const first = (this.subnet.network + 2) >>> 0; // .0 network, .1 gateway
    const last = (cidrBroadcast(this.subnet) - 1) >>> 0;
    const size = last - first + 1;
    let start = first;
    const lastPath = join(this.dir, LAST_RESERVED);
    if (existsSync(lastPath)) {
      const text = readFileSync(lastPath, 'utf8').trim();
      if (isIpv4(text)) {
        const prev = parseIpv4(text);
        if (prev >= first && prev <= last) start = prev === last ? first : prev + 1;
      }
    }
    for (let i = 0; i < size; i++) {
      const candidate = (first + ((start - first + i) % size)) >>> 0;
      const path = join(this.dir, formatIpv4(candidate));
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o644);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new CniAgentError(CniAgentErrorCodes.IPAM, `IPAM: cannot write ${path}: ${(error as Error).message}`, { cause: error });
      }
      try {
        writeSync(fd, `${containerId}\r\n${ifname}`);
      } finally {
        closeSync(fd);
      }
      writeFileSync(lastPath, formatIpv4(candidate));
      return candidate;
    }
    throw new CniAgentError(
      CniAgentErrorCodes.IPAM,
      `IPAM: no free address in ${formatCidr(this.subnet)} (${size} addresses allocated); delete pods or give the node a larger podCIDR`,
    );
  }

  /** Releases whatever container+ifname holds; true when something was released (DEL is idempotent). */
  release(containerId: string, ifname: string): boolean {
    let released = false;
    for (const a of this.allocations()) {
      if (a.containerId === containerId && a.ifname === ifname) {
        rmSync(join(this.dir, formatIpv4(a.address)), { force: true });
        released = true;
      }
    }
    return released;
  }
}
