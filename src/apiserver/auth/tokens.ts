// ServiceAccount tokens as kube-apiserver issues them through the TokenRequest API: ES256-signed JWTs
// with sub=system:serviceaccount:<ns>:<name>, the API audiences by default, an expiry, and the
// kubernetes.io claim naming the account (and bound object) by uid so that a token dies with them.
// The signing key lives in <dataDir>/pki/sa.key; its public half is served as a JWKS for OIDC discovery.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** kube-apiserver's default --service-account-issuer and --api-audiences. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    secret?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class ServiceAccountTokens {
  readonly kid: string;
  private publicKey: KeyObject;

  private constructor(
    private privateKey: KeyObject,
    readonly issuer: string,
  ) {
    this.publicKey = createPublicKey(privateKey);
    // Like kube-apiserver: the key id is the hash of the DER public key.
    this.kid = b64url(
      createHash('sha256')
        .update(this.publicKey.export({ type: 'spki', format: 'der' }))
        .digest(),
    );
  }

  /** Loads the signing key from dataDir/pki/sa.key, creating a P-256 key on first start. */
  static open(dataDir: string, issuer = DEFAULT_ISSUER): ServiceAccountTokens {
    const dir = join(dataDir, 'pki');
    const path = join(dir, 'sa.key');
    if (!existsSync(path)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    return new ServiceAccountTokens(createPrivateKey(readFileSync(path, 'utf8')), issuer);
  }

  sign(claims: ServiceAccountClaims): string {
    const head = b64url(JSON.stringify({ alg: 'ES256', kid: this.kid }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${b64url(sig)}`;
  }

  /** Builds the claims of a new token for a service account (and optional bound object). */
  claims(
    sa: { namespace: string; name: string; uid: string },
    audiences: string[],
    expirationSeconds: number,
    bound?: { kind: string; name: string; uid: string },
  ): ServiceAccountClaims {
    const now = Math.floor(Date.now() / 1000);
    const c: ServiceAccountClaims = {
      iss: this.issuer,
      sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      aud: audiences,
      exp: now + expirationSeconds,
      iat: now,
      nbf: now,
      jti: randomUUID(),
      'kubernetes.io': { namespace: sa.namespace, serviceaccount: { name: sa.name, uid: sa.uid } },
    };
    if (bound) {
      const k = bound.kind.toLowerCase() as 'pod' | 'secret' | 'node';
      c['kubernetes.io'][k] = { name: bound.name, uid: bound.uid };
    }
    return c;
  }

  /**
   * Checks signature, issuer and time window of a JWT. Returns undefined for a token that is not one of
   * ours (another issuer or key: other authenticators may know it) and an error for one that is ours but bad.
   */
  verify(token: string): { claims?: ServiceAccountClaims; error?: string } | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    let header: any;
    let claims: any;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!claims || typeof claims !== 'object' || claims.iss !== this.issuer) return undefined;
    if (header?.alg !== 'ES256') return { error: 'invalid bearer token, unexpected signing algorithm' };
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
    if (!ok) return { error: 'invalid bearer token, square/go-jose: error in cryptographic primitive' };
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || now >= claims.exp) return { error: 'invalid bearer token, service account token has expired' };
    if (typeof claims.nbf === 'number' && now < claims.nbf - 60) return { error: 'invalid bearer token, service account token is not valid yet' };
    const k = claims['kubernetes.io'];
    if (!k?.namespace || !k?.serviceaccount?.name || !k?.serviceaccount?.uid)
      return { error: 'invalid bearer token, service account token claims are incomplete' };
    return { claims: claims as ServiceAccountClaims };
  }

  /** The public key set served at /openid/v1/jwks. */
  jwks(): object {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ use: 'sig', kty: jwk.kty, kid: this.kid, crv: jwk.crv, alg: 'ES256', x: jwk.x, y: jwk.y }] };
  }

  /** The OIDC discovery document served at /.well-known/openid-configuration. */
  openidConfiguration(externalURL: string): object {
    return {
      issuer: this.issuer,
      jwks_uri: `${externalURL}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    };
  }
}
