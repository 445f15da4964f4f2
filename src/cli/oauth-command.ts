/**
 * `mcp-bridge oauth …`, the owner's commands: make the owner file, list and revoke grants, make a client
 * for Claude's "own client ID" fields. They never write the state: changes are queued for the bridge,
 * which applies them within a second while it runs (the command waits for that) or when it next starts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yargs from 'yargs';
import { ConfigError } from '../config.js';
import { CLAUDE_CALLBACKS } from '../oauth/clients.js';
import { generatePassphrase, generateTotpSecret, hashPassphrase, otpauthUri } from '../oauth/owner.js';
import { OAuthState, defaultStateDir, sha256, type StateRequest } from '../oauth/state.js';

export interface CommandIo {
  stdout(text: string): void;
  /** The whole of standard input (for --passphrase-stdin). */
  stdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
}

/** How long a command waits for the running bridge to take its change: it polls every second. */
const UPTAKE_TIMEOUT_MS = 10_000;

/** The state of --state-dir (or the default), which a bridge with --oauth must have made. */
function stateOf(option: string | undefined, env: NodeJS.ProcessEnv): OAuthState {
  const dir = resolve(option ?? defaultStateDir(env));
  if (!existsSync(dir)) throw new ConfigError(`no OAuth state in ${dir}: give the --state-dir of a bridge that has run with --oauth`);
  return new OAuthState(dir);
}

/** Queues a change; `applied` once the running bridge has taken it, `queued` when none runs (it applies it at start). */
async function change(state: OAuthState, request: StateRequest): Promise<'applied' | 'queued'> {
  const path = state.request(request);
  if (!state.leaseHeld()) return 'queued';
  for (const deadline = Date.now() + UPTAKE_TIMEOUT_MS; Date.now() < deadline; await sleep(100)) {
    if (!existsSync(path)) return 'applied';
  }
  throw new ConfigError(`the bridge on ${state.dir} did not take the change within ${UPTAKE_TIMEOUT_MS / 1000} s; it stays queued for its next start`);
}

const outcome = (how: 'applied' | 'queued') =>
  how === 'applied' ? 'the running bridge has applied it.' : 'no bridge runs on this state now; it applies this when it starts.';

const date = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

export async function runOAuthCommand(args: string[], io: CommandIo): Promise<void> {
  let failure: string | undefined;
  const parser = yargs(args)
    .scriptName('mcp-bridge oauth')
    .usage('$0 <command>\n\nThe owner side of --oauth: the passphrase, the grants, the clients.')
    .strict()
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message, error) => {
      failure = message || error?.message;
    })
    .option('state-dir', { type: 'string', describe: 'The state directory (default: $STATE_DIRECTORY, else $XDG_STATE_HOME/mcp-bridge)' })
    .command(
      'init <file>',
      'Make the owner file: prints a new passphrase once and writes only its scrypt hash (mode 0600)',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true })
          .option('passphrase-stdin', { type: 'boolean', default: false, describe: 'Take the passphrase from standard input instead' })
          .option('totp', { type: 'string', describe: 'Also make a TOTP secret in this file, for a second factor (--oauth-totp-file)' })
          .option('force', { type: 'boolean', default: false, describe: 'Replace an existing file (revokes every grant)' }),
      async (argv) => {
        const file = resolve(argv.file as string);
        if (existsSync(file) && !argv.force) throw new ConfigError(`${file} exists; --force replaces it (and revokes every grant)`);
        let passphrase: string;
        if (argv.passphraseStdin) {
          passphrase = (await io.stdin()).replace(/\r?\n$/, '');
          if (passphrase.length < 12) throw new ConfigError('the passphrase from stdin must be at least 12 characters');
        } else {
          passphrase = generatePassphrase();
        }
        writeFileSync(file, `${await hashPassphrase(passphrase)}\n`, { mode: 0o600 });
        if (!argv.passphraseStdin) io.stdout(`Owner passphrase (shown once, keep it in your password manager):\n\n    ${passphrase}\n\n`);
        io.stdout(`Wrote its hash to ${file}.\n`);
        if (argv.totp !== undefined) {
          const secret = generateTotpSecret();
          writeFileSync(resolve(argv.totp), `${secret}\n`, { mode: 0o600 });
          io.stdout(`TOTP secret written to ${resolve(argv.totp)}; add it to your authenticator app:\n\n    ${otpauthUri(secret, 'mcp-bridge owner')}\n\n`);
        }
      },
    )
    .command(
      'list',
      'List the grants (who logged in, for which client) and the registered clients',
      () => undefined,
      (argv) => {
        const state = stateOf(argv.stateDir, io.env);
        state.load();
        // Queued changes show as done: they are, for every token, once a bridge runs.
        state.applyRequests(false);
        io.stdout(`Grants in ${state.dir}:\n`);
        if (state.grants.size === 0) io.stdout('  (none)\n');
        for (const grant of state.grants.values()) {
          io.stdout(`  ${grant.id}  ${grant.clientName} (${grant.clientId})  from ${grant.from}  since ${date(grant.createdAt)}  refresh until ${date(grant.refresh.idleExpiresAt)}\n`);
        }
        io.stdout('Clients:\n');
        if (state.clients.size === 0) io.stdout('  (none registered; Claude and Claude Code come by their metadata documents)\n');
        for (const client of state.clients.values()) io.stdout(`  ${client.id}  ${client.kind}  ${client.name}  ${client.redirectUris.join(' ')}\n`);
      },
    )
    .command(
      'revoke [grant]',
      'Revoke a grant (its tokens stop working at once), or every grant with --all',
      (y) => y.positional('grant', { type: 'string' }).option('all', { type: 'boolean', default: false }),
      async (argv) => {
        if (!argv.all && argv.grant === undefined) throw new ConfigError('name a grant (see `mcp-bridge oauth list`) or give --all');
        const state = stateOf(argv.stateDir, io.env);
        if (!argv.all) {
          state.load();
          if (!state.grants.has(argv.grant as string)) throw new ConfigError(`no grant ${argv.grant} in ${state.dir} (see \`mcp-bridge oauth list\`)`);
        }
        const how = await change(state, argv.all ? { op: 'revoke-all' } : { op: 'revoke', grant: argv.grant as string });
        io.stdout(`Revoked: ${outcome(how)}\n`);
      },
    )
    .command(
      'client',
      'Make a client for Claude\'s "OAuth client ID" and "secret" fields (prints the secret once)',
      (y) =>
        y
          .option('name', { type: 'string', default: 'Claude', describe: 'Shown on the login page' })
          .option('redirect', { type: 'string', array: true, default: [], describe: "Redirect URIs besides Claude's callbacks (they must also pass --oauth-redirect-allow)" }),
      async (argv) => {
        const id = `mcpb_client_${randomBytes(12).toString('base64url')}`;
        const secret = randomBytes(24).toString('base64url');
        const now = Date.now();
        const how = await change(stateOf(argv.stateDir, io.env), {
          op: 'add-client',
          client: { id, kind: 'static', name: argv.name, redirectUris: [...CLAUDE_CALLBACKS, ...(argv.redirect as string[])], secretHash: sha256(secret), createdAt: now, lastUsedAt: now },
        });
        io.stdout(`client_id:     ${id}\nclient_secret: ${secret}\n(the secret is shown once; the state keeps only its hash)\nAdded: ${outcome(how)}\n`);
      },
    )
    .demandCommand(1, 'name a command: init, list, revoke or client');
  await parser.parseAsync();
  if (failure) throw new ConfigError(failure.split('\n').join(' '));
}
