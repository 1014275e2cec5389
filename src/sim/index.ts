// The kubeve device simulator: simulated EVE devices speaking the real device API v2.
export * from './clock.ts';
export * from './stats.ts';
export * from './transport.ts';
export * from './controller-certs.ts';
export * from './model.ts';
export * from './report.ts';
export * from './device.ts';
export * from './fleet.ts';
export * from './progress.ts';
export * from './process-fleet.ts';
export { registerSimCommands, resolveBootstrap, fleetSummary } from './cli.ts';
