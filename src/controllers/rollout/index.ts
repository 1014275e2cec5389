// Fleet base OS rollouts (BaseOSRollout): see README.md in this folder.
export { RolloutController, BASEOSROLLOUTS, ROLLOUT_ANNOTATION, PREVIOUS_ANNOTATION, type RolloutControllerOptions } from './controller.ts';
export { planRollout, windowState, compareVersions, versionParts } from './spec.ts';
export { observeDevice, unreadyApps, type DeviceState } from './observe.ts';
