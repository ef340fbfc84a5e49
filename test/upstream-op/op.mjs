// A real upstream OpenID Provider for Latchkey's federation tests
// (DESIGN.md §6): panva's oidc-provider, started by the Go helper package
// internal/upstream/upstreamtest as `node op.mjs`, one process per test.
//
// Environment (all optional):
//
//   PORT                 TCP port on 127.0.0.1; 0 or unset picks a free one.
//   ISSUER               issuer identifier; default http://127.0.0.1:<port>,
//                        computed after listening.
//   CLIENTS              JSON array of client metadata (client_id,
//                        client_secret, redirect_uris,
//                        post_logout_redirect_uris,
//                        token_endpoint_auth_method, backchannel_logout_uri,
//                        backchannel_logout_session_required, ...).
//   ACCOUNTS             JSON object accountId -> claims. The subject is
//                        always the accountId (a "sub" in the claims is
//                        ignored).
//   SCOPE_CLAIMS         JSON object scope -> [claim names], merged into the
//                        standard OIDC scope/claim table. Any claim name of
//                        the initial ACCOUNTS outside that table is released
//                        with the "profile" scope.
//   CLAIMS_IN_ID_TOKEN   "true": scope-requested claims (profile, email, ...)
//                        also go in the id_token; otherwise (the spec's
//                        default, oidc-provider's conformIdTokenClaims) they
//                        are only served by the userinfo endpoint.
//   AUTO_LOGIN_ACCOUNT   account every login interaction signs in without a
//                        form (changeable at runtime). Empty: a minimal login
//                        form (POST field "login" = accountId, no password).
//   EXIT_ON_STDIN_EOF    "1": exit when stdin closes, so that the process
//                        dies with the Go test binary that owns the pipe.
//
// When ready it prints one line on stdout:
//   {"ready":true,"issuer":"http://127.0.0.1:PORT"}
// Everything else (logs, errors) goes to stderr.
//
// Behaviour beyond stock oidc-provider:
//
//   - Interactions (login and consent) are custom: the auto-login account is
//     signed in and every requested scope/claim is granted, all through plain
//     303 redirects, so an HTTP client that follows redirects completes the
//     authorization code flow without HTML. prompt=login forces a fresh
//     login (new auth_time) the same way. Signing in another account than
//     the browser's current upstream session ends that session first
//     (oidc-provider's rule), which sends Back-Channel Logout tokens for it.
//   - RP-Initiated Logout needs no click: the confirmation page is replaced
//     by a 303 to /session/end/auto, which POSTs the confirmation
//     ("logout=yes": end the whole upstream session and send Back-Channel
//     Logout tokens to every client of the session that registered a
//     backchannel_logout_uri) to oidc-provider on the browser's behalf and
//     relays its answer: a 303 to the post_logout_redirect_uri (with state).
//   - Test control endpoints under /__test/ (loopback callers only; the
//     server only listens on 127.0.0.1 anyway):
//       GET  /__test/health
//       POST /__test/account      {"id", "claims"?, "autoLogin"?: bool}
//       POST /__test/login        {"autoLogin"?: "id", "deny"?: bool}
//       POST /__test/backchannel-logout {"accountId", "clientId"?}
//       GET  /__test/last-authorization
//     See the handlers below for details.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { promisify } from 'node:util';

if (Number.parseInt(process.versions.node, 10) < 20) {
  process.stderr.write(`upstream-op: node ${process.versions.node} is too old, oidc-provider 8 here needs node 20 or newer\n`);
  process.exit(2);
}

// A fresh RS256 signing key per process, generated on the thread pool while
// oidc-provider loads (both take a while on a busy machine).
const keyPair = promisify(crypto.generateKeyPair)('rsa', { modulusLength: 2048 });
const { default: Provider } = await import('oidc-provider');

function fail(message) {
  process.stderr.write(`upstream-op: ${message}\n`);
  process.exit(2);
}

function jsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    return fail(`${name} is not valid JSON: ${err.message}`);
  }
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const log = (...args) => console.error('upstream-op:', ...args);

// ---- state -----------------------------------------------------------------

const clients = jsonEnv('CLIENTS', []);
if (!Array.isArray(clients)) fail('CLIENTS must be a JSON array');

const initialAccounts = jsonEnv('ACCOUNTS', {});
if (!isPlainObject(initialAccounts)) fail('ACCOUNTS must be a JSON object');

const accounts = new Map();
for (const [id, claims] of Object.entries(initialAccounts)) {
  if (!isPlainObject(claims)) fail(`ACCOUNTS[${id}] must be a JSON object`);
  accounts.set(id, claims);
}

let autoLogin = process.env.AUTO_LOGIN_ACCOUNT || '';
let denyLogins = false;
let lastAuthorization = null;

// accountId -> Set of Session ids, kept from the session.saved /
// session.destroyed events so the back-channel control endpoint can find an
// account's sessions (stale ids simply no longer resolve).
const sessionsByAccount = new Map();

// ---- claims ----------------------------------------------------------------

const scopeClaims = {
  openid: ['sub'],
  profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname',
    'preferred_username', 'profile', 'picture', 'website', 'gender',
    'birthdate', 'zoneinfo', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
};
const extraScopeClaims = jsonEnv('SCOPE_CLAIMS', {});
if (!isPlainObject(extraScopeClaims)) fail('SCOPE_CLAIMS must be a JSON object');
for (const [scope, names] of Object.entries(extraScopeClaims)) {
  if (!Array.isArray(names)) fail(`SCOPE_CLAIMS[${scope}] must be an array`);
  scopeClaims[scope] = [...new Set([...(scopeClaims[scope] || []), ...names])];
}
{
  const known = new Set(Object.values(scopeClaims).flat());
  for (const claims of accounts.values()) {
    for (const name of Object.keys(claims)) {
      if (!known.has(name)) {
        known.add(name);
        scopeClaims.profile.push(name);
      }
    }
  }
}

// ---- listen first, so that PORT=0 can be turned into the issuer ----------

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));
const wantPort = Number.parseInt(process.env.PORT || '0', 10);
if (!Number.isInteger(wantPort) || wantPort < 0 || wantPort > 65535) fail('PORT must be a port number');
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(wantPort, '127.0.0.1', resolve);
}).catch((err) => fail(`listen: ${err.message}`));
const { port } = server.address();
const issuer = (process.env.ISSUER || `http://127.0.0.1:${port}`).replace(/\/$/, '');
if (!/^https?:\/\/[^/?#]+$/.test(issuer)) {
  fail(`ISSUER must be a bare origin (scheme://host[:port]); got ${issuer}`);
}

// ---- provider --------------------------------------------------------------

const { privateKey } = await keyPair;
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomBytes(8).toString('hex'),
  use: 'sig',
  alg: 'RS256',
};

const provider = new Provider(issuer, {
  clients,
  // Web clients (the default application_type) may register http://
  // redirect URIs, 127.0.0.1/localhost included, as long as they don't use
  // the implicit flow: nothing to loosen for the code flow.
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingKey] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('hex')],
    // Distinct names: cookies don't separate ports, and Latchkey runs on
    // 127.0.0.1 too.
    names: {
      session: 'upstream_session',
      interaction: 'upstream_interaction',
      resume: 'upstream_interaction_resume',
    },
    // Lax, not oidc-provider's default None: browsers drop SameSite=None
    // cookies that are not Secure, and this server is plain http.
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  claims: scopeClaims,
  conformIdTokenClaims: process.env.CLAIMS_IN_ID_TOKEN !== 'true',
  pkce: {
    methods: ['S256'],
    required: () => true,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // Never shown: the Koa middleware below turns the confirmation page
      // into a redirect to /session/end/auto.
      logoutSource,
    },
    backchannelLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async findAccount(ctx, id) {
    if (!accounts.has(id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { ...accounts.get(id), sub: id };
      },
    };
  },
  renderError(ctx, out, error) {
    ctx.type = 'json';
    ctx.body = out;
    log('render error:', out, error?.message || '');
  },
  ttl: {
    // oidc-provider's default lifetimes, spelled out so that it does not
    // warn about them on first use.
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
});

async function logoutSource(ctx, form) {
  // Replaced by a redirect (see provider.use below); a usable,
  // self-submitting page all the same.
  ctx.body = `<!DOCTYPE html><html><head><title>Logout</title></head><body>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<script>document.forms[0].insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');document.forms[0].submit()</script>
</body></html>`;
}

provider.on('session.saved', (session) => {
  if (!session.accountId) return;
  let ids = sessionsByAccount.get(session.accountId);
  if (!ids) sessionsByAccount.set(session.accountId, ids = new Set());
  ids.add(session.jti);
});
provider.on('session.destroyed', (session) => {
  sessionsByAccount.get(session.accountId)?.delete(session.jti);
});
for (const event of ['server_error', 'authorization.error', 'grant.error',
  'end_session.error', 'end_session_confirm.error', 'userinfo.error',
  'revocation.error', 'introspection.error', 'backchannel.error']) {
  provider.on(event, (ctx, err, ...rest) => {
    const e = err instanceof Error ? err : rest.find((x) => x instanceof Error);
    log(`${event}:`, e?.message || err, e?.error_description || '');
  });
}

// Koa middleware around oidc-provider's own routes.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'authorization') {
    lastAuthorization = Object.fromEntries(
      Object.entries(ctx.oidc.params || {}).filter(([, v]) => v !== undefined),
    );
  }
  // Logout confirmations become redirects to /session/end/auto, which
  // confirms on the browser's behalf:
  //   - end_session: RP-Initiated Logout's confirmation page (or the
  //     auto-submitting form_post shown when nobody is signed in);
  //   - resume: when a login signs in another account than the session's,
  //     oidc-provider first ends the old session (logout=yes, with
  //     Back-Channel Logout to its clients) through an auto-submitting
  //     form_post, then resumes the authorization.
  if ((ctx.oidc?.route === 'end_session' || ctx.oidc?.route === 'resume') && ctx.status === 200) {
    const secret = ctx.oidc.session?.state?.secret;
    if (secret && (ctx.oidc.route === 'end_session'
      || (typeof ctx.body === 'string' && ctx.body.includes(ctx.oidc.urlFor('end_session_confirm'))))) {
      ctx.status = 303;
      ctx.redirect(`/session/end/auto?xsrf=${encodeURIComponent(secret)}`);
    }
  }
});

const providerCallback = provider.callback();

// Static clients are only validated on first use: do it now, so that bad
// metadata fails the start with oidc-provider's message.
for (const { client_id: id } of clients) {
  try {
    if (!(await provider.Client.find(String(id)))) fail(`client ${id} not found`);
  } catch (err) {
    fail(`client ${id}: ${err.message}${err.error_description ? `: ${err.error_description}` : ''}`);
  }
}

// ---- interactions (login + consent, no HTML unless no auto-login) ---------

async function interaction(req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return sendJSON(res, 400, { error: 'interaction mismatch' });
  }
  const { prompt, params, session } = details;

  if (denyLogins) {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the test told the upstream to deny logins',
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'login') {
    let accountId = autoLogin;
    if (action === 'login' && req.method === 'POST') {
      accountId = new URLSearchParams(await readBody(req)).get('login') || '';
    }
    if (!accountId) {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!DOCTYPE html><html><head><title>Upstream sign-in</title></head><body>
<form method="post" action="/interaction/${uid}/login">
<input name="login" autofocus placeholder="account id"> <button type="submit">Sign in</button>
</form></body></html>`);
      return undefined;
    }
    if (!accounts.has(accountId)) {
      return sendJSON(res, 400, { error: `unknown account ${accountId}` });
    }
    return provider.interactionFinished(req, res, {
      login: { accountId, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'consent') {
    let grant;
    if (details.grantId) {
      grant = await provider.Grant.find(details.grantId);
    } else {
      grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    }
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }

  return sendJSON(res, 501, { error: `prompt ${prompt.name} not implemented` });
}

// ---- RP-Initiated Logout without a click -----------------------------------

async function autoConfirmLogout(req, res, url) {
  // A real POST to oidc-provider's confirmation endpoint, with the
  // browser's cookies, relayed back verbatim (status, Location,
  // Set-Cookie): oidc-provider does all the work.
  const upstream = await fetch(`http://127.0.0.1:${port}/session/end/confirm`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: req.headers.cookie || '',
    },
    body: new URLSearchParams({ xsrf: url.searchParams.get('xsrf') || '', logout: 'yes' }),
  });
  res.statusCode = upstream.status;
  for (const name of ['location', 'content-type', 'cache-control', 'pragma']) {
    const v = upstream.headers.get(name);
    if (v !== null) res.setHeader(name, v);
  }
  const cookies = upstream.headers.getSetCookie();
  if (cookies.length) res.setHeader('set-cookie', cookies);
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

// ---- test control endpoints -------------------------------------------------

async function control(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /__test/health':
      return sendJSON(res, 200, { ok: true, issuer });

    case 'GET /__test/last-authorization':
      // The parameters of the last authorization request oidc-provider
      // handled (login_hint, prompt, nonce, code_challenge_method, ...).
      return sendJSON(res, lastAuthorization ? 200 : 404,
        lastAuthorization ? { params: lastAuthorization } : { error: 'no authorization request yet' });

    case 'POST /__test/account': {
      // {"id": "u1", "claims": {...}, "autoLogin": true}: upsert an
      // account (claims replace the old ones) and/or make it the auto-login
      // account. Claims named in neither the standard table nor
      // SCOPE_CLAIMS are stored but not released.
      const body = await readJSON(req);
      if (typeof body.id !== 'string' || body.id === '') {
        return sendJSON(res, 400, { error: '"id" must be a non-empty string' });
      }
      if (body.claims !== undefined) {
        if (!isPlainObject(body.claims)) return sendJSON(res, 400, { error: '"claims" must be an object' });
        accounts.set(body.id, body.claims);
      }
      if (!accounts.has(body.id)) return sendJSON(res, 404, { error: `unknown account ${body.id}` });
      if (body.autoLogin === true) autoLogin = body.id;
      return sendJSON(res, 200, { id: body.id, claims: accounts.get(body.id), autoLogin });
    }

    case 'POST /__test/login': {
      // {"autoLogin": "u1" | "", "deny": true|false}: who the login
      // interaction signs in ("" = show the login form), and whether every
      // interaction ends with error=access_denied instead.
      const body = await readJSON(req);
      if (body.autoLogin !== undefined) {
        if (typeof body.autoLogin !== 'string') return sendJSON(res, 400, { error: '"autoLogin" must be a string' });
        if (body.autoLogin !== '' && !accounts.has(body.autoLogin)) {
          return sendJSON(res, 404, { error: `unknown account ${body.autoLogin}` });
        }
        autoLogin = body.autoLogin;
      }
      if (body.deny !== undefined) {
        if (typeof body.deny !== 'boolean') return sendJSON(res, 400, { error: '"deny" must be a boolean' });
        denyLogins = body.deny;
      }
      return sendJSON(res, 200, { autoLogin, deny: denyLogins });
    }

    case 'POST /__test/backchannel-logout':
      return backchannelLogout(req, res);

    default:
      return sendJSON(res, 404, { error: `no control endpoint ${route}` });
  }
}

// POST /__test/backchannel-logout {"accountId": "u1", "clientId": "c1"}
//
// An upstream-side logout of the account, as an admin or another RP would
// cause it: for every live upstream session of the account in which the
// client took part, oidc-provider's own Client#backchannelLogout(sub, sid)
// signs a Logout Token (iss, aud, iat, exp, jti, sub, events, and sid when
// the client registered backchannel_logout_session_required) and POSTs it
// to the client's backchannel_logout_uri; then the client's grant (its
// codes and tokens) is revoked and the client is removed from the session,
// as oidc-provider's end_session does for a single client. Without
// clientId, every client of those sessions with a backchannel_logout_uri
// is notified and the sessions are destroyed (a full upstream logout).
//
// 200 {"notified": [{"clientId", "sub", "sid"}], "sessions": n};
// 404 when the account has no session (with that client); 502 when the
// client's endpoint did not answer 200/204 (oidc-provider's rule).
async function backchannelLogout(req, res) {
  const body = await readJSON(req);
  const { accountId, clientId } = body;
  if (typeof accountId !== 'string' || accountId === '') {
    return sendJSON(res, 400, { error: '"accountId" must be a non-empty string' });
  }
  if (clientId !== undefined && typeof clientId !== 'string') {
    return sendJSON(res, 400, { error: '"clientId" must be a string' });
  }
  if (clientId) {
    const client = await provider.Client.find(clientId);
    if (!client) return sendJSON(res, 404, { error: `unknown client ${clientId}` });
    if (!client.backchannelLogoutUri) {
      return sendJSON(res, 400, { error: `client ${clientId} has no backchannel_logout_uri` });
    }
  }

  const sessions = [];
  for (const id of sessionsByAccount.get(accountId) || []) {
    const session = await provider.Session.find(id);
    if (!session || session.accountId !== accountId) continue;
    if (clientId && !session.authorizations?.[clientId]) continue;
    sessions.push(session);
  }
  if (sessions.length === 0) {
    return sendJSON(res, 404, {
      error: `account ${accountId} has no upstream session${clientId ? ` with client ${clientId}` : ''}`,
    });
  }

  const notified = [];
  const errors = [];
  for (const session of sessions) {
    const clientIds = clientId ? [clientId] : Object.keys(session.authorizations || {});
    for (const cid of clientIds) {
      const client = await provider.Client.find(cid);
      if (!client) continue;
      const sid = session.sidFor(cid);
      if (client.backchannelLogoutUri) {
        try {
          await client.backchannelLogout(accountId, sid);
          notified.push({ clientId: cid, sub: accountId, sid });
        } catch (err) {
          errors.push(`${cid}: ${err.message}`);
        }
      }
      const grantId = session.grantIdFor(cid);
      if (grantId) await revokeGrant(grantId);
      if (clientId) delete session.authorizations[cid];
    }
    if (clientId && Object.keys(session.authorizations || {}).length > 0) {
      await session.persist();
    } else {
      await session.destroy();
    }
  }
  if (errors.length) {
    return sendJSON(res, 502, { error: errors.join('; '), notified });
  }
  return sendJSON(res, 200, { notified, sessions: sessions.length });
}

async function revokeGrant(grantId) {
  await Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
  ]);
  const grant = await provider.Grant.find(grantId);
  if (grant) await grant.destroy();
}

// ---- plumbing -----------------------------------------------------------------

const BODY_LIMIT = 1 << 20;

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJSON(req) {
  const text = await readBody(req);
  let body;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw Object.assign(new Error(`invalid JSON: ${err.message}`), { status: 400 });
  }
  if (!isPlainObject(body)) throw Object.assign(new Error('body must be a JSON object'), { status: 400 });
  return body;
}

function sendJSON(res, status, value) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'no-store');
  res.end(`${JSON.stringify(value)}\n`);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

handler = (req, res) => {
  const url = new URL(req.url, issuer);
  let work;
  if (url.pathname.startsWith('/__test/')) {
    if (!LOOPBACK.has(req.socket.remoteAddress)) return sendJSON(res, 403, { error: 'loopback only' });
    work = control(req, res, url);
  } else if (url.pathname.startsWith('/interaction/')) {
    work = interaction(req, res, url);
  } else if (url.pathname === '/session/end/auto' && req.method === 'GET') {
    work = autoConfirmLogout(req, res, url);
  } else {
    return providerCallback(req, res);
  }
  return work.catch((err) => {
    log(`${req.method} ${url.pathname}:`, err);
    if (!res.headersSent) sendJSON(res, err.status || 500, { error: err.message });
    else res.destroy();
  });
};

if (process.env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
