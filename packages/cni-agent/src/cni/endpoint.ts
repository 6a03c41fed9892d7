// The CNI endpoint (CNI spec 1.0): ADD, DEL, CHECK and VERSION, behaving as the bridge plugin
// with host-local IPAM does (plugins/main/bridge, plugins/ipam/host-local), the way flannel's CNI
// plugin delegates to them: a veth per pod whose host end (vethXXXXXXXX) is a port of cni0 and
// whose pod end is served over a unix socket the node-agent connects the pod's eth0 to.
//
// State survives restarts: IPAM files (ipam/host-local.ts) and one JSON record per attachment
// under <dataDir>/containers; on start the agent re-creates every recorded host veth.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixSocketVeth } from '@podnet/netstack';
import { type Cidr, formatIpv4, formatMac, type MacAddress, macFromIpv4, parseMac } from '@podnet/wire';
import type { CniRequestBody, CniResponseBody } from '../control/protocol.js';
import { CniAgentError, CniError, CniErrorCode } from '../errors.js';
import type { HostNetwork } from '../host/host-network.js';
import { HostLocalIpam } from '../ipam/host-local.js';
import { CNI_VERSION, type NetworkConfig, parseNetworkConfig, SUPPORTED_VERSIONS } from './config.js';

export interface Attachment {
  containerId: string;
  ifname: string;
  netns: string;
  address: string;
  prefix: number;
  gateway: string;
  hostIfname: string;
  hostMac: string;
  containerMac: string;
  socketPath: string;
  mtu: number;
  network: string;
}

export interface CniEndpointOptions {
  dataDir: string;
  host: HostNetwork;
  /** The backend's pod MTU. */
  mtu: number;
  /** The podCIDR once the Node has one (undefined: ADD answers 11, try again later). */
  podCidr: () => Cidr | undefined;
  log?: (obj: object, msg: string) => void;
}

/** The bridge plugin's host-side name: "veth" + 8 hex characters (ip.RandomVethName); derived from the id so it is stable. */
export function hostVethName(containerId: string, ifname: string): string {
  return `veth${createHash('sha256').update(`${containerId}/${ifname}`).digest('hex').slice(0, 8)}`;
}

function hostMacFor(hostIfname: string): MacAddress {
  const h = createHash('sha256').update(`podnet-host-veth:${hostIfname}`).digest();
  return (((h[0] as number) & 0xfc) | 0x02) * 2 ** 40 + h.readUIntBE(1, 5);
}

export class CniEndpoint {
  readonly #o: CniEndpointOptions;
  readonly #links = new Map<string, UnixSocketVeth>();
  readonly #recordsDir: string;
  readonly #socketsDir: string;
  #ipam: HostLocalIpam | undefined;
  /** Serializes calls, as a runtime's per-network lock does (libcni uses a file lock per network). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: CniEndpointOptions) {
    this.#o = options;
    this.#recordsDir = join(options.dataDir, 'containers');
    this.#socketsDir = socketsDirFor(options.dataDir);
    mkdirSync(this.#recordsDir, { recursive: true });
    mkdirSync(this.#socketsDir, { recursive: true });
  }

  get count(): number {
    return this.#links.size;
  }

  attachments(): Attachment[] {
    if (!existsSync(this.#recordsDir)) return [];
    return readdirSync(this.#recordsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(this.#recordsDir, f), 'utf8')) as Attachment);
  }

  #recordPath(containerId: string, ifname: string): string {
    return join(this.#recordsDir, `${createHash('sha256').update(`${containerId}/${ifname}`).digest('hex').slice(0, 32)}.json`);
  }

  #record(containerId: string, ifname: string): Attachment | undefined {
    const p = this.#recordPath(containerId, ifname);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Attachment) : undefined;
  }

  #requireIpam(): HostLocalIpam {
    const cidr = this.#o.podCidr();
    if (!cidr) {
      throw new CniError(
        CniErrorCode.TRY_AGAIN_LATER,
        'this node has no podCIDR yet',
        'the cni-agent waits for spec.podCIDR of its Node (node IPAM controller); retry the call shortly',
      );
    }
    if (!this.#ipam) this.#ipam = new HostLocalIpam(this.#o.dataDir, 'podnet', cidr);
    return this.#ipam;
  }

  /** Re-creates the host veths of recorded attachments (after a restart, once cni0 exists). */
  async restore(): Promise<number> {
    let n = 0;
    for (const a of this.attachments()) {
      if (this.#links.has(a.hostIfname)) continue;
      await this.#createLink(a);
      n++;
    }
    return n;
  }

  async #createLink(a: Attachment): Promise<UnixSocketVeth> {
    const bridge = this.#o.host.cni0;
    if (!bridge) throw new CniError(CniErrorCode.TRY_AGAIN_LATER, 'cni0 does not exist yet', 'retry once the node has its podCIDR');
    const link = await UnixSocketVeth.listen({ name: a.hostIfname, mac: parseMac(a.hostMac), mtu: a.mtu, path: a.socketPath });
    this.#o.host.ns.addLink(link);
    bridge.addPort(link);
    this.#links.set(a.hostIfname, link);
    return link;
  }

  /** One CNI call; failures come back as the CNI error object, never as a throw. */
  handle(request: CniRequestBody): Promise<CniResponseBody> {
    const run = async (): Promise<CniResponseBody> => {
      try {
        const result = await this.#dispatch(request);
        return { result: result === undefined ? '' : JSON.stringify(result) };
      } catch (error) {
        const e =
          error instanceof CniError
            ? error
            : new CniError(
                error instanceof CniAgentError ? 100 : CniErrorCode.IO_FAILURE,
                (error as Error).message ?? String(error),
                (error as { code?: string }).code ?? '',
              );
        this.#o.log?.({ command: request.command, containerId: request.containerId, cniCode: e.cniCode, msg: e.msg }, 'CNI call failed');
        return { cniError: { code: e.cniCode, msg: e.msg, details: e.details } };
      }
    };
    const next = this.#queue.then(run, run);
    this.#queue = next;
    return next;
  }

  async #dispatch(r: CniRequestBody): Promise<unknown> {
    const command = (r.command ?? '').toUpperCase();
    if (command === 'VERSION') return { cniVersion: CNI_VERSION, supportedVersions: SUPPORTED_VERSIONS };
    if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') {
      throw new CniError(CniErrorCode.INVALID_ENV, `CNI_COMMAND "${r.command}" is not supported`, 'use ADD, DEL, CHECK or VERSION');
    }
    const config = parseNetworkConfig(r.config ?? '', this.#o.mtu);
    const containerId = r.containerId ?? '';
    if (!containerId) throw new CniError(CniErrorCode.INVALID_ENV, 'CNI_CONTAINERID is empty', 'pass the pod sandbox id');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(containerId)) {
      throw new CniError(CniErrorCode.INVALID_ENV, `CNI_CONTAINERID "${containerId}" is invalid`, 'use letters, digits, "_", "." and "-"');
    }
    const ifname = r.ifname || 'eth0';
    if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(ifname))
      throw new CniError(CniErrorCode.INVALID_ENV, `CNI_IFNAME "${ifname}" is not a valid interface name`);
    if (command === 'DEL') return this.#del(containerId, ifname);
    if (!r.netns) throw new CniError(CniErrorCode.INVALID_ENV, 'CNI_NETNS is empty', `${command} needs the sandbox's network namespace`);
    if (command === 'ADD') return this.#add(containerId, ifname, r.netns, config);
    return this.#check(containerId, ifname, r.netns, config);
  }

  async #add(containerId: string, ifname: string, netns: string, config: NetworkConfig): Promise<unknown> {
    const ipam = this.#requireIpam();
    const cidr = ipam.subnet;
    const existing = this.#record(containerId, ifname);
    if (existing) {
      if (!this.#links.has(existing.hostIfname)) await this.#createLink(existing);
      return this.#result(existing, config);
    }
    const address = ipam.allocate(containerId, ifname);
    const hostIfname = hostVethName(containerId, ifname);
    const a: Attachment = {
      containerId,
      ifname,
      netns,
      address: formatIpv4(address),
      prefix: cidr.prefix,
      gateway: formatIpv4(ipam.gateway),
      hostIfname,
      hostMac: formatMac(hostMacFor(hostIfname)),
      containerMac: formatMac(macFromIpv4(address)),
      socketPath: join(this.#socketsDir, `${hostIfname}.sock`),
      mtu: config.mtu ?? this.#o.mtu,
      network: config.name,
    };
    try {
      await this.#createLink(a);
    } catch (error) {
      ipam.release(containerId, ifname);
      throw error;
    }
    writeFileSync(this.#recordPath(containerId, ifname), JSON.stringify(a, null, 2));
    this.#o.log?.({ containerId, ifname, address: a.address, hostIfname }, 'CNI ADD');
    return this.#result(a, config);
  }

  #result(a: Attachment, config: NetworkConfig): unknown {
    const bridge = this.#o.host.cni0;
    // The bridge plugin's result: [bridge, host veth, container interface]; ips name the container interface by index.
    return {
      cniVersion: config.cniVersion,
      interfaces: [
        { name: 'cni0', mac: bridge ? formatMac(bridge.mac) : '' },
        { name: a.hostIfname, mac: a.hostMac },
        { name: a.ifname, mac: a.containerMac, sandbox: a.netns, mtu: a.mtu },
      ],
      ips: [{ address: `${a.address}/${a.prefix}`, gateway: a.gateway, interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: a.gateway }],
      dns: config.dns ?? {},
    };
  }

  async #del(containerId: string, ifname: string): Promise<undefined> {
    const a = this.#record(containerId, ifname);
    if (a) {
      const link = this.#links.get(a.hostIfname);
      if (link) {
        this.#o.host.cni0?.removePort(link);
        if (this.#o.host.ns.link(a.hostIfname)) await this.#o.host.ns.removeLink(a.hostIfname);
        else await link.close();
        this.#links.delete(a.hostIfname);
      }
      rmSync(a.socketPath, { force: true });
      rmSync(this.#recordPath(containerId, ifname), { force: true });
      this.#o.log?.({ containerId, ifname, address: a.address }, 'CNI DEL');
    }
    // Release even without a record: an ADD that died between IPAM and the record leaves only the IP file.
    if (this.#o.podCidr()) this.#requireIpam().release(containerId, ifname);
    return undefined;
  }

  async #check(containerId: string, ifname: string, netns: string, config: NetworkConfig): Promise<undefined> {
    const a = this.#record(containerId, ifname);
    if (!a) throw new CniError(CniErrorCode.UNKNOWN_CONTAINER, `container ${containerId} (${ifname}) is not attached to this node`);
    if (a.netns !== netns) throw new CniError(100, `container ${containerId}: netns is "${a.netns}", not "${netns}"`);
    const ipam = this.#requireIpam();
    const held = ipam.find(containerId, ifname);
    if (held === undefined || formatIpv4(held) !== a.address) {
      throw new CniError(100, `container ${containerId}: IPAM holds no allocation of ${a.address} for it`, `host-local dir ${ipam.dir}`);
    }
    const link = this.#links.get(a.hostIfname);
    if (!link || !this.#o.host.ns.link(a.hostIfname) || !this.#o.host.cni0?.ports.includes(link)) {
      throw new CniError(100, `container ${containerId}: host veth ${a.hostIfname} is missing or not a port of cni0`);
    }
    const prev = config.prevResult as { ips?: Array<{ address?: string }> } | undefined;
    if (prev?.ips && !prev.ips.some((ip) => ip.address === `${a.address}/${a.prefix}`)) {
      throw new CniError(100, `container ${containerId}: prevResult does not list ${a.address}/${a.prefix}`);
    }
    return undefined;
  }

  /** Where the pod's end connects. */
  attach(
    containerId: string,
    ifname: string,
  ): { socketPath: string; hostIfname: string; containerMac: string; mtu: number; connected: boolean } {
    const a = this.#record(containerId, ifname || 'eth0');
    if (!a) {
      throw new CniAgentError(
        'PODNET_ERR_CNI',
        `attach: container ${containerId} (${ifname || 'eth0'}) has no CNI attachment on this node; call CNI ADD first`,
      );
    }
    return {
      socketPath: a.socketPath,
      hostIfname: a.hostIfname,
      containerMac: a.containerMac,
      mtu: a.mtu,
      connected: this.#links.get(a.hostIfname)?.connected ?? false,
    };
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => {});
  }
}

/** sun_path holds 108 bytes (unix(7)); a deep data dir would not fit "<dir>/vethXXXXXXXX.sock". */
const MAX_SOCKET_DIR_BYTES = 108 - '/vethXXXXXXXX.sock'.length - 1;

/** The directory of the pods' veth sockets: under the data dir, or a short one in the temp dir when that path is too long. */
export function socketsDirFor(dataDir: string): string {
  const preferred = join(dataDir, 'veth');
  if (Buffer.byteLength(preferred) <= MAX_SOCKET_DIR_BYTES) return preferred;
  return join(tmpdir(), `podnet-veth-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
}
