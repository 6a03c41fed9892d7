// Error codes of the controllers (DESIGN §6.10).
export const ControllerErrorCodes = {
  /** An option of startControllers / the control-plane process that cannot work. */
  CONFIG: 'PODNET_ERR_CONTROLLER_CONFIG',
} as const;

export type ControllerErrorCode = (typeof ControllerErrorCodes)[keyof typeof ControllerErrorCodes];

export class ControllerError extends Error {
  readonly code: ControllerErrorCode;
  constructor(code: ControllerErrorCode, message: string) {
    super(message);
    this.name = 'ControllerError';
    this.code = code;
  }
}
