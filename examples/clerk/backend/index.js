// The backend Lambda function both authorizers protect (the guide leaves its code to you).
export async function handler(event) {
  const { authorizer } = event.requestContext
  if (authorizer.jwt) {
    // Behind the JWT authorizer (HTTP API, payload 2.0): the verified claims of the session token.
    return { statusCode: 200, body: `Hello ${authorizer.jwt.claims.sub}!` }
  }
  // Behind the Lambda authorizer (REST API, payload 1.0): the principalId and the context it
  // returned, which is the user's public metadata.
  return { statusCode: 200, body: `Hello ${authorizer.principalId}, you are ${authorizer.role}!` }
}
