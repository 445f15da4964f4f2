/** The owner's login page in a real browser: Debian's chromium, driven by playwright-core, redirected to a loopback callback. */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { chromium } from 'playwright-core';
import { FIXTURE, stopAllBridges } from '../helpers/bridge.js';
import { authorizeUrl, makeOwner, pkce, register, startOAuthBridge, token } from '../helpers/oauth.js';

afterEach(stopAllBridges);
const CHROMIUM = '/usr/bin/chromium';

/** A loopback server that takes one redirect and resolves with its query. */
async function callbackServer(): Promise<{ url: string; received: Promise<URLSearchParams> }> {
  let deliver!: (query: URLSearchParams) => void;
  const received = new Promise<URLSearchParams>((resolve) => (deliver = resolve));
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
    deliver(new URL(req.url ?? '/', 'http://127.0.0.1').searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/callback`, received };
}

describe.skipIf(!existsSync(CHROMIUM))('the login page in chromium', () => {
  it('shows who asks and where the code goes, takes the passphrase, and redirects to the client with a code', async () => {
    const owner = await makeOwner();
    const server = await startOAuthBridge(owner, [], FIXTURE);
    const callback = await callbackServer();
    const clientId = await register(server.origin, [callback.url], 'Browser Test Client');
    const { verifier, challenge } = pkce();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    onTestFinished(() => browser.close());
    const page = await browser.newPage();
    await page.goto(authorizeUrl(server.origin, { client_id: clientId, redirect_uri: callback.url, code_challenge: challenge, state: 'browser-state' }));
    expect(await page.textContent('h1')).toContain('Browser Test Client');
    expect(await page.textContent('body')).toContain(new URL(callback.url).host);
    expect(await page.textContent('.warn')).toMatch(/pressed Connect in your own Claude account/);

    await page.fill('input[name="passphrase"]', 'not the passphrase');
    await page.click('button[type="submit"]');
    expect(await page.textContent('.error')).toMatch(/did not work/);

    await page.fill('input[name="passphrase"]', owner.passphrase);
    await page.click('button[type="submit"]');
    const query = await callback.received;
    expect(query.get('state')).toBe('browser-state');
    expect(query.get('iss')).toBe(server.origin);
    const exchanged = await token(server.origin, { grant_type: 'authorization_code', code: query.get('code') as string, client_id: clientId, redirect_uri: callback.url, code_verifier: verifier });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.token_type).toBe('Bearer');
  });
});
