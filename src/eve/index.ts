// L0: EVE device protocol. Knows EVE, nothing about Kubernetes.
export * from './envelope.ts';
export * from './pki.ts';
export * from './certs.ts';
