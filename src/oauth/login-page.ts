/**
 * The owner's login page: a plain HTML form, no JavaScript, no cookies. It names the client asking and the
 * host its code would go to, and warns that the only safe moment to log in is right after pressing
 * Connect in one's own Claude account (an attacker can start that flow in theirs and send the link).
 */

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}' +
  'h1{font-size:1.4rem}code{word-break:break-all;background:#f3f3f3;padding:0 .2rem}.warn{background:#fff4e5;border-left:4px solid #f90;padding:.6rem .8rem}' +
  '.error{color:#b00020}label{display:block;margin-top:1rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}' +
  'button{margin-top:1.2rem;padding:.6rem 1.4rem;font-size:1rem}';

/** No script and no frames; deliberately no form-action, which would also block the redirect back to Claude. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>${escape(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export interface LoginView {
  requestId: string;
  clientName: string;
  redirectHost: string;
  resource: string;
  totp: boolean;
  error?: string;
}

export function loginPage(view: LoginView): string {
  return page(
    `Allow ${view.clientName} to use this MCP server?`,
    `<h1>Allow <strong>${escape(view.clientName)}</strong> to use this MCP server?</h1>` +
      `<p>Server: <code>${escape(view.resource)}</code><br>After you log in, you go back to <code>${escape(view.redirectHost)}</code>.</p>` +
      `<p class="warn">Continue only if you pressed <em>Connect</em> in your own Claude account a moment ago. ` +
      `If someone sent you this link, close this page: logging in would give them your server.</p>` +
      (view.error ? `<p class="error">${escape(view.error)}</p>` : '') +
      `<form method="post" action="/authorize"><input type="hidden" name="request_id" value="${escape(view.requestId)}">` +
      `<label>Owner passphrase <input type="password" name="passphrase" autocomplete="current-password" required autofocus></label>` +
      (view.totp ? `<label>One-time code <input type="text" name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required></label>` : '') +
      `<button type="submit">Log in and allow</button></form>`,
  );
}

export function errorPage(message: string): string {
  return page('Cannot continue', `<h1>Cannot continue</h1><p class="error">${escape(message)}</p><p>Start again from your Claude app.</p>`);
}
