// Bearer tokens → users, for authentication of API requests and for TokenReview. Service-account
// tokens are JWT-shaped (unsigned: nobody here verifies signatures) and carry an audience list
// so TokenReview with `spec.audiences` answers as the real API server does.

import { randomBytes, randomUUID } from 'node:crypto';
import { isObject, type UserInfo } from './objects.js';

export const API_AUDIENCE = 'https://kubernetes.default.svc';

interface TokenEntry {
  readonly user: UserInfo;
  readonly audiences: readonly string[];
}

export class TokenAuthenticator {
  readonly #tokens = new Map<string, TokenEntry>();

  constructor(initial: Readonly<Record<string, UserInfo>>) {
    for (const [token, user] of Object.entries(initial)) this.add(token, user);
  }

  add(token: string, user: UserInfo, audiences: readonly string[] = [API_AUDIENCE]): void {
    this.#tokens.set(token, { user, audiences });
  }

  authenticate(token: string, audiences: readonly string[] = [API_AUDIENCE]): UserInfo | undefined {
    const entry = this.#tokens.get(token);
    if (!entry) return undefined;
    return audiences.some((audience) => entry.audiences.includes(audience)) ? entry.user : undefined;
  }

  /** A service-account token as a projected volume or the pod's KUBECONFIG would carry it. */
  issueServiceAccountToken(
    namespace: string,
    serviceAccount: string,
    audiences: readonly string[] = [API_AUDIENCE],
    pod?: { name: string; uid: string },
  ): string {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const token = [
      encode({ alg: 'RS256', kid: 'fake-cluster' }),
      encode({
        aud: audiences,
        exp: now + 3600,
        iat: now,
        iss: API_AUDIENCE,
        sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
        'kubernetes.io': {
          namespace,
          serviceaccount: { name: serviceAccount, uid: randomUUID() },
          ...(pod ? { pod } : {}),
        },
      }),
      randomBytes(32).toString('base64url'),
    ].join('.');
    this.add(
      token,
      {
        username: `system:serviceaccount:${namespace}:${serviceAccount}`,
        uid: randomUUID(),
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      },
      audiences,
    );
    return token;
  }

  /** Answers a TokenReview (authentication.k8s.io/v1) body. */
  review(body: unknown): Record<string, unknown> {
    const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
    const token = typeof spec.token === 'string' ? spec.token : '';
    const requested = Array.isArray(spec.audiences) ? spec.audiences.map(String) : [];
    const entry = this.#tokens.get(token);
    const wanted = requested.length > 0 ? requested : [API_AUDIENCE];
    const granted = entry ? wanted.filter((audience) => entry.audiences.includes(audience)) : [];
    const status =
      entry && granted.length > 0
        ? { authenticated: true, user: entry.user, audiences: granted }
        : { authenticated: false, error: entry ? 'token audiences are invalid' : 'invalid bearer token' };
    return {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: isObject(body) && isObject(body.spec) ? body.spec : {},
      status,
    };
  }
}
