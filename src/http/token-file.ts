/** Bearer tokens from a file, compared in constant time; the file is re-read on demand (SIGHUP). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const digest = (text: string) => createHash('sha256').update(text).digest();

export class TokenFile {
  private digests: Buffer[] = [];

  constructor(readonly path: string) {}

  /** Reads the file: one token per line, blank lines and `#` comments skipped. Throws when none is usable. */
  load(): number {
    const tokens = readFileSync(this.path, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    if (tokens.length === 0) throw new Error(`no tokens in ${this.path}`);
    this.digests = tokens.map(digest);
    return tokens.length;
  }

  /**
   * Which token a bearer token is, as a short name of its digest (the principal a session is bound to), or
   * undefined; every token is compared, whatever matches.
   */
  match(bearer: string): string | undefined {
    // Equal-length digests make the comparison constant-time whatever the token's length.
    const candidate = digest(bearer);
    let found: Buffer | undefined;
    for (const known of this.digests) if (timingSafeEqual(candidate, known)) found = known;
    return found && `static:${found.toString('hex').slice(0, 12)}`;
  }
}
