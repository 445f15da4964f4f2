/**
 * The owner's credentials: a passphrase kept only as a scrypt hash (one line, `scrypt$N$r$p$salt$hash`, so
 * it can live in any secret store), and an optional TOTP secret as a second factor (RFC 6238: SHA-1, 30 s,
 * 6 digits, what every authenticator app speaks).
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** OWASP's recommendation for scrypt (Password Storage Cheat Sheet): N = 2^17, r = 8, p = 1 (128 MiB, ~0.4 s here). */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 };
const KEY_BYTES = 32;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function derive(passphrase: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassphrase(passphrase: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(passphrase, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Throws a readable message for a line that is not a hash this module wrote. */
export function checkOwnerLine(line: string): void {
  const parts = line.trim().split('$');
  const [kind, N, r, p, salt, key] = parts;
  const numbers = [N, r, p].map(Number);
  if (parts.length !== 6 || kind !== 'scrypt' || !numbers.every(Number.isSafeInteger) || !salt || !key) {
    throw new Error('not an owner file written by `mcp-bridge oauth init` (expected one line scrypt$N$r$p$salt$hash)');
  }
}

/** Whether `passphrase` matches the owner line (compared in constant time). */
export async function passphraseMatches(line: string, passphrase: string): Promise<boolean> {
  checkOwnerLine(line);
  const [, N, r, p, salt, key] = line.trim().split('$');
  const expected = Buffer.from(key, 'base64url');
  const actual = await derive(passphrase, Buffer.from(salt, 'base64url'), Number(N), Number(r), Number(p));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function base32(bytes: Buffer): string {
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let text = '';
  for (let i = 0; i + 5 <= bits.length; i += 5) text += BASE32[parseInt(bits.slice(i, i + 5), 2)];
  return text;
}

function fromBase32(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  let bits = '';
  for (const char of clean) {
    const value = BASE32.indexOf(char);
    if (value === -1) throw new Error('the TOTP secret is not base32');
    bits += value.toString(2).padStart(5, '0');
  }
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** A passphrase of 26 base32 characters: 130 random bits, easy to type, grouped for reading. */
export function generatePassphrase(): string {
  return base32(randomBytes(17)).slice(0, 26).match(/.{1,5}/g)?.join('-') ?? '';
}

export function generateTotpSecret(): string {
  return base32(randomBytes(20));
}

/** The code of one 30-second step. */
export function totpCode(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac('sha1', fromBase32(secret)).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

export const totpStep = (now: number) => Math.floor(now / 30_000);

/**
 * Rule: a TOTP code is accepted for the current step or one step either side (clock drift), and a step
 * once used is never accepted again. Returns the step it matched, to remember. Why: RFC 6238 §5.2.
 */
export function totpMatch(secret: string, code: string, now: number, lastUsedStep: number): number | undefined {
  if (!/^\d{6}$/.test(code.trim())) return undefined;
  const current = totpStep(now);
  for (const step of [current - 1, current, current + 1]) {
    if (step <= lastUsedStep) continue;
    const expected = Buffer.from(totpCode(secret, step));
    if (timingSafeEqual(expected, Buffer.from(code.trim()))) return step;
  }
  return undefined;
}

export function otpauthUri(secret: string, label: string): string {
  return `otpauth://totp/${encodeURIComponent(label)}?secret=${secret}&issuer=mcp-bridge&algorithm=SHA1&digits=6&period=30`;
}
