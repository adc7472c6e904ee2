// The claims the JWT authorizer verified reach the functions at
// event.requestContext.authorizer.jwt.claims (payload 2.0).

// Like SuperTokens' /sessioninfo example: who is signed in, in which session.
export async function sessioninfo(event) {
  const claims = event.requestContext.authorizer.jwt.claims
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: claims.sub, sessionHandle: claims.sessionHandle, tenantId: claims.tId }),
  }
}

// Only reached with a verified email: the route's rule checked `st-ev` before the call.
export async function billing(event) {
  const claims = event.requestContext.authorizer.jwt.claims
  return { statusCode: 200, body: `Hello ${claims.sub}, your email is verified.` }
}
