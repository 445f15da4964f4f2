/**
 * Who a request is, for the MCP endpoint: a bearer token from --auth-token-file, or an access token the
 * built-in authorization server issued, checked by one verifier; with neither configured, everyone is the
 * same anonymous principal. A session is bound to the principal that opened it.
 */
import type { TokenFile } from './token-file.js';

/** What the endpoint needs of the authorization server (src/oauth), which sits above HTTP and provides it. */
export interface AccessTokens {
  /** The grant an access token belongs to, if it is valid now. */
  verify(accessToken: string): string | undefined;
  /** The WWW-Authenticate of a 401: where the metadata is. */
  challenge(tokenGiven: boolean): string;
}

export interface Authentication {
  /** Whether requests must authenticate at all. */
  readonly required: boolean;
  /** The principal an Authorization header proves, or undefined. */
  principalOf(authorization: string | undefined): string | undefined;
  /** The WWW-Authenticate of a 401. */
  challenge(tokenGiven: boolean): string;
}

export const ANONYMOUS = 'anonymous';

export function authentication(tokens: TokenFile | undefined, oauth: AccessTokens | undefined): Authentication {
  return {
    required: tokens !== undefined || oauth !== undefined,
    principalOf(authorization) {
      if (tokens === undefined && oauth === undefined) return ANONYMOUS;
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
      if (bearer === undefined) return undefined;
      const grant = oauth?.verify(bearer);
      return tokens?.match(bearer) ?? (grant && `oauth:${grant}`);
    },
    challenge(tokenGiven) {
      if (oauth) return oauth.challenge(tokenGiven);
      return tokenGiven ? 'Bearer realm="mcp-bridge", error="invalid_token"' : 'Bearer realm="mcp-bridge"';
    },
  };
}

/** Passes what any of `auths` passes: for a route that belongs to no one server (the server list). */
export function anyOf(auths: Authentication[]): Authentication {
  return {
    required: auths.some((auth) => auth.required),
    principalOf: (authorization) => auths.map((auth) => auth.principalOf(authorization)).find((principal) => principal !== undefined),
    challenge: (tokenGiven) => (auths.find((auth) => auth.required) ?? auths[0]).challenge(tokenGiven),
  };
}
