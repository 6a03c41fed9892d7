// startControllers: the controllers of the control plane, sharing one set of informers, started
// once the caches have synced (as kube-controller-manager waits for `WaitForCacheSync`).
import { componentLogger, type KubeClient, type Logger } from '@podnet/client';
import { type Clock, systemClock } from '@podnet/wire';
import { EndpointSliceController } from './endpoints/endpointslice-controller.js';
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

export async function startControllers(opts: StartControllersOptions): Promise<RunningControllers> {
  const log = opts.logger ?? componentLogger('controllers');
  const names = opts.controllers ?? CONTROLLER_NAMES;
  for (const n of names) {
    if (!(n in factories)) throw new Error(`unknown controller "${n}"; known: ${CONTROLLER_NAMES.join(', ')}`);
  }
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
