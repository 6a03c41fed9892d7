// startControllers: the controllers of the control plane, sharing one set of informers, started
// once the caches have synced (as kube-controller-manager waits for `WaitForCacheSync`).
import { componentLogger, type KubeClient, type Logger } from '@podnet/client';
import { type Clock, systemClock } from '@podnet/wire';
import { EndpointSliceController } from './endpoints/endpointslice-controller.js';
import { ControllerError, ControllerErrorCodes } from './errors.js';
import { CidrAllocator } from './nodes/cidr-allocator.js';
import { NodeIpamController } from './nodes/ipam-controller.js';
import { NodeLifecycleController } from './nodes/node-lifecycle-controller.js';
import { type Controller, type ControllerContext, type ControllerOptions, makeContext } from './runtime/controller-context.js';
import { Scheduler } from './scheduler/scheduler.js';
import { DeploymentController } from './workloads/deployment-controller.js';
import { ReplicaSetController } from './workloads/replicaset-controller.js';

export const CONTROLLER_NAMES = ['scheduler', 'replicaset', 'deployment', 'endpointslice', 'nodeipam', 'nodelifecycle'] as const;
export type ControllerName = (typeof CONTROLLER_NAMES)[number];

export interface StartControllersOptions extends ControllerOptions {
  client: KubeClient;
  logger?: Logger;
  clock?: Clock;
  /** Which controllers to run (default all). */
  controllers?: readonly ControllerName[];
  /** How long to wait for the caches to sync, ms. Default 60000. */
  syncTimeoutMs?: number;
}

export interface RunningControllers {
  context: ControllerContext;
  controllers: Controller[];
  stop(): Promise<void>;
}

const factories: Record<ControllerName, (ctx: ControllerContext) => Controller> = {
  scheduler: (ctx) => new Scheduler(ctx),
  replicaset: (ctx) => new ReplicaSetController(ctx),
  deployment: (ctx) => new DeploymentController(ctx),
  endpointslice: (ctx) => new EndpointSliceController(ctx),
  nodeipam: (ctx) => new NodeIpamController(ctx),
  nodelifecycle: (ctx) => new NodeLifecycleController(ctx),
};

/** Checks the options before anything starts, so a bad one is a clear error, not a half-started control plane. */
export function validateControllerOptions(opts: ControllerOptions & { controllers?: readonly string[] }): void {
  const fail = (what: string): never => {
    throw new ControllerError(ControllerErrorCodes.CONFIG, what);
  };
  for (const n of opts.controllers ?? []) {
    if (!(CONTROLLER_NAMES as readonly string[]).includes(n)) fail(`unknown controller "${n}"; known: ${CONTROLLER_NAMES.join(', ')}`);
  }
  for (const k of ['nodeMonitorGracePeriodMs', 'nodeMonitorPeriodMs', 'podEvictionTimeoutMs'] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) fail(`${k} must be a positive number of milliseconds, got ${v}`);
  }
  try {
    new CidrAllocator(opts.clusterCIDR ?? '10.244.0.0/16', opts.nodeCIDRMaskSize ?? 24);
  } catch (err) {
    fail(`cluster CIDR / node mask size: ${(err as Error).message}`);
  }
}

export async function startControllers(opts: StartControllersOptions): Promise<RunningControllers> {
  const log = opts.logger ?? componentLogger('controllers');
  const names = opts.controllers ?? CONTROLLER_NAMES;
  validateControllerOptions(opts);
  const ctx = makeContext(opts.client, log, opts, opts.clock ?? systemClock);
  const controllers = names.map((n) => factories[n](ctx));
  ctx.informers.start();
  try {
    await ctx.informers.waitForSync(opts.syncTimeoutMs ?? 60_000);
  } catch (err) {
    await ctx.informers.stop();
    throw err;
  }
  for (const c of controllers) c.start();
  log.info({ controllers: names }, 'controllers started');
  return {
    context: ctx,
    controllers,
    async stop() {
      for (const c of controllers) c.stop();
      await ctx.informers.stop();
    },
  };
}
