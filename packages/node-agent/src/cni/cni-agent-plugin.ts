// CNI through the node's cni-agent (its control socket, proto/podnet-node.proto): ADD, then
// `attach` for the unix-socket path of the pod's veth peer.
import type { CniAgentClient } from '@podnet/cni-agent/control-client';
import { NodeAgentError, NodeAgentErrorCodes } from '../errors.js';
import {
  type CniCallArgs,
  type CniPlugin,
  type CniResult,
  cniArgsString,
  DEFAULT_CNI_CONFIG,
  type SandboxNetwork,
  sandboxNetworkOf,
} from './types.js';

export class CniAgentPlugin implements CniPlugin {
  readonly name = 'cni-agent';
  constructor(
    readonly client: CniAgentClient,
    readonly config: object = DEFAULT_CNI_CONFIG,
  ) {}

  #call(a: CniCallArgs, config: object) {
    return { containerId: a.containerId, netns: a.netns, ifname: a.ifname, args: cniArgsString(a), config };
  }

  async add(a: CniCallArgs): Promise<SandboxNetwork> {
    const r = await this.client.add(this.#call(a, this.config));
    if (!r.ok)
      throw new NodeAgentError(
        NodeAgentErrorCodes.CNI,
        `CNI ADD for ${a.podNamespace}/${a.podName}: error ${r.error.code}: ${r.error.msg}${r.error.details ? ` (${r.error.details})` : ''}`,
      );
    const result = (r.result ?? {}) as unknown as CniResult;
    const attach = await this.client.attach(a.containerId, a.ifname);
    return sandboxNetworkOf(result, {
      socketPath: attach.socketPath,
      mac: attach.containerMac,
      ...(attach.mtu ? { mtu: attach.mtu } : {}),
    });
  }

  async del(a: CniCallArgs): Promise<void> {
    const r = await this.client.del(this.#call(a, this.config));
    if (!r.ok)
      throw new NodeAgentError(
        NodeAgentErrorCodes.CNI,
        `CNI DEL for ${a.podNamespace}/${a.podName}: error ${r.error.code}: ${r.error.msg}`,
      );
  }

  async check(a: CniCallArgs, prevResult: CniResult): Promise<void> {
    const r = await this.client.check(this.#call(a, { ...this.config, prevResult }));
    if (!r.ok)
      throw new NodeAgentError(
        NodeAgentErrorCodes.CNI,
        `CNI CHECK for ${a.podNamespace}/${a.podName}: error ${r.error.code}: ${r.error.msg}`,
      );
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
