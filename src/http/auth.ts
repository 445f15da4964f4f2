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

  /** Whether an Authorization header carries one of the tokens; every token is compared, whatever matches. */
  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return false;
    // Equal-length digests make the comparison constant-time whatever the token's length.
    const candidate = digest(match[1]);
    let accepted = false;
    for (const known of this.digests) accepted = timingSafeEqual(candidate, known) || accepted;
    return accepted;
  }
}
