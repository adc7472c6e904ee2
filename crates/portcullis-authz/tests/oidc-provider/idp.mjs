// A real OpenID Provider (panva/oidc-provider) on 127.0.0.1:<free port>, issuing JWT access
// tokens through client_credentials. Prints one JSON line {issuer, audience, token} to stdout,
// then keeps serving discovery and JWKS until stdin closes (the Rust test owns its lifetime).
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const audience = 'https://api.portcullis.test';
const alg = process.argv[2] || 'RS256';
// Our own signing keys (the quick-start keystore holds only RSA).
const jwk = (type, options, kid) => ({ ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }), kid });
const jwks = {
  keys: [
    jwk('rsa', { modulusLength: 2048 }, 'rsa-1'),
    jwk('ec', { namedCurve: 'P-256' }, 'ec-256'),
    jwk('ec', { namedCurve: 'P-384' }, 'ec-384'),
    jwk('ed25519', {}, 'ed-1'),
  ],
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'gateway-test',
    client_secret: 'gateway-test-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  jwks,
  scopes: ['orders:read', 'orders:write'],
  enabledJWA: {
    // JWT access tokens are signed with the algorithms enabled for ID tokens.
    idTokenSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'orders:read orders:write',
        audience,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
});
server.on('request', provider.callback());

const res = await fetch(`${issuer}/token`, {
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: 'Basic ' + Buffer.from('gateway-test:gateway-test-secret').toString('base64'),
  },
  body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'orders:read' }),
});
const body = await res.json();
if (!res.ok || !body.access_token) {
  console.error('token request failed', res.status, JSON.stringify(body));
  process.exit(1);
}
console.log(JSON.stringify({ issuer, audience, token: body.access_token }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
