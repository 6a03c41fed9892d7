// The control plane in one process (DESIGN §2): the API server, then the controllers talking to
// it over HTTPS as any client does (their own token, the cluster CA), so the controllers see the
// API exactly as every other component sees it.
import { type ApiServer, type ApiServerOptions, startApiServer } from '@podnet/apiserver';
import { componentLogger, KubeClient, type Logger } from '@podnet/client';
import type { ControllerOptions } from './runtime/controller-context.js';
import { type ControllerName, type RunningControllers, startControllers, validateControllerOptions } from './start-controllers.js';

export interface ControlPlaneOptions extends ApiServerOptions, ControllerOptions {
  controllers?: readonly ControllerName[];
  controllerLogger?: Logger;
}

export interface ControlPlane {
  apiServer: ApiServer;
  controllers: RunningControllers;
  client: KubeClient;
  /** Stops the controllers, then the API server. */
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  validateControllerOptions(opts);
  const apiServer = await startApiServer(opts);
  const token = apiServer.tokens['controller-manager'] ?? apiServer.adminToken;
  const client = new KubeClient({ server: apiServer.url, caPem: apiServer.caPem, token, userAgent: 'podnet-controller-manager/0.1' });
  let controllers: RunningControllers;
  try {
    controllers = await startControllers({ ...opts, client, logger: opts.controllerLogger ?? componentLogger('controller-manager') });
  } catch (err) {
    client.close();
    await apiServer.close();
    throw err;
  }
  return {
    apiServer,
    controllers,
    client,
    async close() {
      await controllers.stop();
      client.close();
      await apiServer.close();
    },
  };
}
