// The small interface between L0 (EVE device protocol) and the layer above.
// L0 calls these hooks; the layer above pushes desired configs with DeviceApi.setConfig().
import type { EdgeDevConfig } from './gen/config/devconfig_pb.ts';
import type { ZInfoMsg } from './gen/info/info_pb.ts';
import type { ZMetricMsg } from './gen/metrics/metrics_pb.ts';
import type { FlowMessage } from './gen/flowlog/flowlog_pb.ts';
import type { ZHardwareHealth } from './gen/hardwarehealth/hardware_health_pb.ts';
import type { ZCert } from './gen/certs/certs_pb.ts';
import type { LogEntryJson } from './newlogs.ts';

export interface OnboardingRequest {
  /** Onboarding certificate PEM as the device sent it (AuthContainer.senderCert). */
  onboardCertPem: string;
  /** hex SHA-256 of the onboarding cert DER — stable identity of an OnboardingKey. */
  onboardCertHash: string;
  /** Hardware serial (ZRegisterMsg.serial, trimmed). */
  serial: string;
  /** /config/soft_serial (ZRegisterMsg.softSerial). */
  softSerial: string;
  /** The device certificate being bound. */
  deviceCertPem: string;
  /** hex SHA-256 of the device cert DER. */
  deviceCertHash: string;
}

/**
 * 'deny' or { deny: reason } → 403 (device not pre-registered; the reason is logged). Otherwise the device is registered, with the given
 * UUID if set (adopting a pre-created EdgeNode) or a fresh random UUIDv4.
 */
export type OnboardingDecision = 'deny' | { deny: string } | { uuid?: string };

export interface RegisteredDevice {
  uuid: string;
  serial: string;
  softSerial: string;
  onboardCertHash: string;
  deviceCertPem: string;
  deviceCertHash: string;
}

/** Thrown by a hook when the layer above cannot decide here and now: the device gets 503 and retries. */
export class NotReadyError extends Error {}

export type DesiredConfig = EdgeDevConfig | Uint8Array;

export interface DeviceHooks {
  /** Allow-list / zero-touch decision for a first registration. Required. */
  admitOnboarding(req: OnboardingRequest): OnboardingDecision | Promise<OnboardingDecision>;
  /** A new device was bound and persisted (not called for repeat registrations). */
  deviceRegistered?(dev: RegisteredDevice): void | Promise<void>;
  /**
   * Cold-start config source, asked only when no config was ever set for the device.
   * Returning undefined answers 503 ("try later"; the device keeps its last config).
   */
  desiredConfig?(uuid: string): DesiredConfig | undefined | Promise<DesiredConfig | undefined>;
  /** The device reported the current config hash as applied (called once per hash). */
  configApplied?(uuid: string, hash: string): void;
  /** Every authenticated request. Called on the hot path: keep it O(1), no I/O. */
  onContact?(uuid: string, nowMs: number): void;
  /** A decoded info message. Throwing answers 503 so EVE re-queues it. */
  onInfo?(uuid: string, msg: ZInfoMsg): void | Promise<void>;
  /** A decoded metrics sample (the latest is also kept in DeviceApi.metrics). */
  onMetrics?(uuid: string, msg: ZMetricMsg): void;
  onFlowLog?(uuid: string, msg: FlowMessage): void;
  onHardwareHealth?(uuid: string, msg: ZHardwareHealth): void;
  /** Device certificates uploaded with ATTEST_REQ_CERT (ECDH, attestation key, EK). */
  onAttestCerts?(uuid: string, certs: ZCert[]): void;
  /** Log entries after they were stored (app = app instance UUID for app logs). */
  onLogs?(uuid: string, app: string | undefined, entries: LogEntryJson[]): void;
}
