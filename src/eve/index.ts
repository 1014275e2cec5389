// L0: EVE device protocol (API v2). Knows EVE, nothing about Kubernetes.
export * from './envelope.ts';
export * from './pki.ts';
export * from './certs.ts';
export * from './hooks.ts';
export * from './registry.ts';
export * from './config-store.ts';
export * from './metrics.ts';
export * from './logstore.ts';
export * from './newlogs.ts';
export * from './attest.ts';
export * from './onboarding.ts';
export * from './device-client.ts';
export * from './device-api.ts';
