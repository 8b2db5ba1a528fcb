import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bearerToken } from '../api/bearer.js';
import { loadRouterSecret, parseConfig } from './file-mode/config.js';
import { SharedSecretAuthenticator } from './router-auth.js';

/** What a router holding `tokenFile` presents: it trims the file, the route server parses the header. */
function presented(tokenFile: string): string {
  return bearerToken(`Bearer ${tokenFile.trim()}`) ?? '';
}

describe('SharedSecretAuthenticator', () => {
  // The start-up check ignores whitespace around the secret, and routers send their token file
  // trimmed: a secret accepted at start-up must accept that token, or every router gets 401.
  it.each([
    ['a YAML block scalar (trailing newline)', 'routerAuth:\n  secret: |\n    0123456789abcdef-router\n'],
    ['a quoted secret with spaces around it', 'routerAuth:\n  secret: "  0123456789abcdef-router "\n'],
  ])('accepts the router token for %s in routerAuth.secret', async (_, yaml) => {
    const config = parseConfig(
      parse(`${yaml}services: [{ name: shop, tracks: { stable: { upstream: "http://a:1" } } }]\n`),
    );
    const authenticator = new SharedSecretAuthenticator((await loadRouterSecret(config.routerAuth))!);
    expect(await authenticator.authenticate(presented('0123456789abcdef-router\n'))).toBe(true);
    expect(await authenticator.authenticate(presented('0123456789abcdef-other'))).toBe(false);
  });
});
