// Device registry: who is registered, bound to which device certificate.
//
// Durable state lives in SQLite (<dataDir>/eve/devices.db); memory holds only what the hot
// path needs per device (uuid, cert-hash key, SPKI as a latin1 string, a few scalars), well
// under 2 KiB per device. Public KeyObjects cost ~2.6 KiB RSS each in Node/OpenSSL 3, so
// they are kept in a bounded LRU (see KeyCache) instead of on every record.
import Database from 'better-sqlite3';
import crypto from 'node:crypto';

export interface DeviceRecord {
  readonly uuid: string;
  /** base64(SHA-256(device cert DER)) — the AuthContainer senderCertHash, as a Map key. */
  readonly certHash: string;
  /** DER SubjectPublicKeyInfo of the device key, stored as a latin1 string (compact). */
  readonly spki: string;
  /** Last authenticated contact (ms since epoch), memory only. */
  lastContact: number;
  /** Current desired config hash ('' = none yet). */
  configHash: string;
  /** The device has reported configHash as its applied hash. */
  configAcked: boolean;
}

export interface DeviceDetails {
  uuid: string;
  serial: string;
  softSerial: string;
  /** hex SHA-256 of the onboarding cert DER ('' when added by device cert). */
  onboardCertHash: string;
  deviceCertPem: string;
  deviceCertHash: string;
  registeredAt: number;
  deletedAt?: number;
}

interface Row {
  uuid: string;
  cert_hash: string;
  cert_pem: string;
  serial: string;
  soft_serial: string;
  onboard_hash: string;
  created_at: number;
  deleted_at: number | null;
}

/** SPKI of an EC device certificate's key (EVE device keys are ECDSA P-256). Throws otherwise. */
export function spkiOf(certPem: string): string {
  const key = new crypto.X509Certificate(certPem).publicKey;
  if (key.asymmetricKeyType !== 'ec') throw new Error(`device key must be ECDSA, got ${key.asymmetricKeyType}`);
  return (key.export({ type: 'spki', format: 'der' }) as Buffer).toString('latin1');
}

export class DeviceRegistry {
  private readonly db: Database.Database;
  private readonly byHash = new Map<string, DeviceRecord>();
  private readonly byUuid = new Map<string, DeviceRecord>();
  private readonly stmt;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // better-sqlite3 defaults to a 16 MiB page cache; the registry is read rarely (the hot path
    // is served from memory), so 2 MiB keeps resident memory from growing with the fleet.
    this.db.pragma('cache_size = -2048');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS devices (
        uuid TEXT PRIMARY KEY, cert_hash TEXT NOT NULL, cert_pem TEXT NOT NULL,
        serial TEXT NOT NULL DEFAULT '', soft_serial TEXT NOT NULL DEFAULT '',
        onboard_hash TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, deleted_at INTEGER);
      CREATE UNIQUE INDEX IF NOT EXISTS devices_active_cert ON devices(cert_hash) WHERE deleted_at IS NULL;
      CREATE INDEX IF NOT EXISTS devices_cert ON devices(cert_hash);
      CREATE INDEX IF NOT EXISTS devices_onboard ON devices(onboard_hash, serial);
      CREATE INDEX IF NOT EXISTS devices_onboard_soft ON devices(onboard_hash, soft_serial);
      CREATE TABLE IF NOT EXISTS configs (uuid TEXT PRIMARY KEY, hash TEXT NOT NULL, bytes BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS attest (uuid TEXT PRIMARY KEY, certs BLOB, token BLOB, keys BLOB);
    `);
    this.stmt = {
      insert: this.db.prepare(
        `INSERT OR REPLACE INTO devices (uuid, cert_hash, cert_pem, serial, soft_serial, onboard_hash, created_at, deleted_at)
         VALUES (@uuid, @cert_hash, @cert_pem, @serial, @soft_serial, @onboard_hash, @created_at, NULL)`,
      ),
      get: this.db.prepare(`SELECT * FROM devices WHERE uuid = ?`),
      active: this.db.prepare(`SELECT * FROM devices WHERE deleted_at IS NULL`),
      all: this.db.prepare(`SELECT * FROM devices ORDER BY created_at`),
      byOnboard: this.db.prepare(`SELECT * FROM devices WHERE deleted_at IS NULL AND onboard_hash = ? AND serial = ?`),
      byOnboardSoft: this.db.prepare(`SELECT * FROM devices WHERE deleted_at IS NULL AND onboard_hash = ? AND soft_serial = ?`),
      tombstone: this.db.prepare(`SELECT * FROM devices WHERE deleted_at IS NOT NULL AND cert_hash = ? ORDER BY deleted_at DESC LIMIT 1`),
      del: this.db.prepare(`UPDATE devices SET deleted_at = ? WHERE uuid = ? AND deleted_at IS NULL`),
      cfgGet: this.db.prepare(`SELECT hash, bytes FROM configs WHERE uuid = ?`),
      cfgPut: this.db.prepare(`INSERT OR REPLACE INTO configs (uuid, hash, bytes) VALUES (?, ?, ?)`),
      cfgDel: this.db.prepare(`DELETE FROM configs WHERE uuid = ?`),
      attGet: this.db.prepare(`SELECT certs, token, keys FROM attest WHERE uuid = ?`),
      attPut: this.db.prepare(
        `INSERT INTO attest (uuid, certs, token, keys) VALUES (@uuid, @certs, @token, @keys)
         ON CONFLICT(uuid) DO UPDATE SET certs = coalesce(@certs, certs), token = coalesce(@token, token), keys = coalesce(@keys, keys)`,
      ),
      attDel: this.db.prepare(`DELETE FROM attest WHERE uuid = ?`),
    };
    const hashes = new Map<string, string>();
    for (const r of this.db.prepare(`SELECT uuid, hash FROM configs`).all() as { uuid: string; hash: string }[]) hashes.set(r.uuid, r.hash);
    for (const r of this.stmt.active.all() as Row[]) this.remember(r, hashes.get(r.uuid) ?? '');
  }

  private remember(r: Row, configHash: string): DeviceRecord {
    const rec: DeviceRecord = {
      uuid: r.uuid,
      certHash: r.cert_hash,
      spki: spkiOf(r.cert_pem),
      lastContact: 0,
      configHash,
      configAcked: false,
    };
    this.byHash.set(rec.certHash, rec);
    this.byUuid.set(rec.uuid, rec);
    return rec;
  }

  get size(): number {
    return this.byUuid.size;
  }
  byCertHash(certHashB64: string): DeviceRecord | undefined {
    return this.byHash.get(certHashB64);
  }
  get(uuid: string): DeviceRecord | undefined {
    return this.byUuid.get(uuid);
  }
  records(): IterableIterator<DeviceRecord> {
    return this.byUuid.values();
  }

  details(uuid: string): DeviceDetails | undefined {
    const r = this.stmt.get.get(uuid) as Row | undefined;
    return r && toDetails(r);
  }
  list(includeDeleted = false): DeviceDetails[] {
    return ((includeDeleted ? this.stmt.all : this.stmt.active).all() as Row[]).map(toDetails);
  }
  /** Active device registered with this onboarding cert and serial (or, if given, soft serial). */
  findByOnboarding(onboardHash: string, serial: string, softSerial = ''): DeviceDetails | undefined {
    const r = (this.stmt.byOnboard.get(onboardHash, serial) ?? (softSerial ? this.stmt.byOnboardSoft.get(onboardHash, softSerial) : undefined)) as
      | Row
      | undefined;
    return r && toDetails(r);
  }
  /** Most recent deleted device that used this cert (to answer 404 rather than 401). */
  deletedByCertHash(certHashB64: string): DeviceDetails | undefined {
    const r = this.stmt.tombstone.get(certHashB64) as Row | undefined;
    return r && toDetails(r);
  }

  /** Bind a device cert to a UUID. Throws if the UUID or cert is already active. */
  insert(d: { uuid: string; deviceCertPem: string; serial?: string; softSerial?: string; onboardCertHash?: string }): DeviceRecord {
    const uuid = d.uuid.toLowerCase();
    const certHash = certHashB64(d.deviceCertPem);
    spkiOf(d.deviceCertPem); // rejects non-EC keys before anything is stored
    if (this.byUuid.has(uuid)) throw new Error(`device ${uuid} is already registered`);
    if (this.byHash.has(certHash)) throw new Error('device certificate is already registered');
    const row: Row = {
      uuid,
      cert_hash: certHash,
      cert_pem: d.deviceCertPem.trim(),
      serial: d.serial ?? '',
      soft_serial: d.softSerial ?? '',
      onboard_hash: d.onboardCertHash ?? '',
      created_at: Date.now(),
      deleted_at: null,
    };
    const rec = this.db.transaction(() => {
      this.stmt.insert.run(row);
      const cfg = this.stmt.cfgGet.get(uuid) as { hash: string } | undefined;
      return this.remember(row, cfg?.hash ?? '');
    })();
    return rec;
  }

  /** Forget a device (tombstone kept so it gets 404, like a deleted device in EVE's eyes). */
  delete(uuid: string): boolean {
    const rec = this.byUuid.get(uuid);
    if (!rec) return false;
    this.db.transaction(() => {
      this.stmt.del.run(Date.now(), uuid);
      this.stmt.cfgDel.run(uuid);
      this.stmt.attDel.run(uuid);
    })();
    this.byUuid.delete(uuid);
    this.byHash.delete(rec.certHash);
    return true;
  }

  getConfig(uuid: string): { hash: string; bytes: Uint8Array } | undefined {
    return this.stmt.cfgGet.get(uuid) as { hash: string; bytes: Uint8Array } | undefined;
  }
  /** Store a desired config (any UUID: configs may be set before a device registers). */
  putConfig(uuid: string, hash: string, bytes: Uint8Array): void {
    this.stmt.cfgPut.run(uuid, hash, bytes);
    const rec = this.byUuid.get(uuid);
    if (rec) {
      rec.configHash = hash;
      rec.configAcked = false;
    }
  }

  getAttest(uuid: string): { certs: Uint8Array | null; token: Uint8Array | null; keys: Uint8Array | null } | undefined {
    return this.stmt.attGet.get(uuid) as never;
  }
  putAttest(uuid: string, a: { certs?: Uint8Array; token?: Uint8Array; keys?: Uint8Array }): void {
    this.stmt.attPut.run({ uuid, certs: a.certs ?? null, token: a.token ?? null, keys: a.keys ?? null });
  }

  close(): void {
    this.db.close();
  }

  /**
   * Every row of the registry file (deleted devices, served configs and attestation data too),
   * read in one read transaction: a consistent snapshot even while a server writes the file.
   */
  static dump(file: string): RegistryDump {
    const db = new Database(file, { fileMustExist: true, timeout: 5000 });
    try {
      return db.transaction(() => ({
        devices: db.prepare(`SELECT * FROM devices ORDER BY created_at, uuid`).all() as DeviceRow[],
        configs: db.prepare(`SELECT uuid, hash, bytes FROM configs ORDER BY uuid`).all() as RegistryDump['configs'],
        attest: db.prepare(`SELECT uuid, certs, token, keys FROM attest ORDER BY uuid`).all() as RegistryDump['attest'],
      }))();
    } finally {
      db.close();
    }
  }

  /** Writes a dump into the registry file (created if missing); refuses one that holds devices. */
  static load(file: string, dump: RegistryDump): void {
    const reg = new DeviceRegistry(file);
    try {
      const db = reg.db;
      if ((db.prepare(`SELECT COUNT(*) FROM devices`).pluck().get() as number) > 0) throw new Error(`device registry ${file} is not empty`);
      db.transaction(() => {
        const device = db.prepare(`INSERT INTO devices (uuid, cert_hash, cert_pem, serial, soft_serial, onboard_hash, created_at, deleted_at)
          VALUES (@uuid, @cert_hash, @cert_pem, @serial, @soft_serial, @onboard_hash, @created_at, @deleted_at)`);
        for (const r of dump.devices) {
          spkiOf(r.cert_pem); // a device whose key the server could not load would stop it from starting
          if (certHashB64(r.cert_pem) !== r.cert_hash) throw new Error(`device ${r.uuid}: cert_hash does not match its certificate`);
          device.run(r);
        }
        const config = db.prepare(`INSERT INTO configs (uuid, hash, bytes) VALUES (@uuid, @hash, @bytes)`);
        for (const c of dump.configs) config.run(c);
        const attest = db.prepare(`INSERT INTO attest (uuid, certs, token, keys) VALUES (@uuid, @certs, @token, @keys)`);
        for (const a of dump.attest) attest.run(a);
      })();
    } finally {
      reg.close();
    }
  }
}

/** A row of the devices table, as stored. */
export type DeviceRow = Row;

/** The registry's whole durable state (see DeviceRegistry.dump / load). */
export interface RegistryDump {
  devices: DeviceRow[];
  configs: { uuid: string; hash: string; bytes: Uint8Array }[];
  attest: { uuid: string; certs: Uint8Array | null; token: Uint8Array | null; keys: Uint8Array | null }[];
}

export function certHashB64(certPem: string | Uint8Array): string {
  const pem = typeof certPem === 'string' ? certPem : Buffer.from(certPem).toString('latin1');
  return crypto.createHash('sha256').update(new crypto.X509Certificate(pem).raw).digest('base64');
}

function toDetails(r: Row): DeviceDetails {
  return {
    uuid: r.uuid,
    serial: r.serial,
    softSerial: r.soft_serial,
    onboardCertHash: r.onboard_hash,
    deviceCertPem: r.cert_pem,
    deviceCertHash: Buffer.from(r.cert_hash, 'base64').toString('hex'),
    registeredAt: r.created_at,
    ...(r.deleted_at != null ? { deletedAt: r.deleted_at } : {}),
  };
}

/**
 * Bounded cache of device public KeyObjects (creating one costs ~100 µs; each holds ~2.6 KiB of
 * native memory). Devices are admitted until the cache is full and then stay (no eviction
 * churn: evicted KeyObjects would linger as native garbage until a major GC, which V8 does not
 * schedule for them). Devices beyond the capacity are verified from their SPKI bytes directly,
 * which allocates nothing long-lived but costs ~130 µs more per request.
 */
export class KeyCache {
  private readonly map = new Map<string, crypto.KeyObject>();
  constructor(private readonly capacity: number) {}
  get(rec: DeviceRecord): crypto.KeyObject | { ecSpki: Buffer } {
    const k = this.map.get(rec.uuid);
    if (k) return k;
    const spki = Buffer.from(rec.spki, 'latin1');
    if (this.map.size >= this.capacity) return { ecSpki: spki };
    const key = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
    this.map.set(rec.uuid, key);
    return key;
  }
  drop(uuid: string): void {
    this.map.delete(uuid);
  }
  get size(): number {
    return this.map.size;
  }
}
