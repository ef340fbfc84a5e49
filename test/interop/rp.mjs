// rp.mjs is a relying party built on openid-client v6, a strict OpenID
// Connect client written independently of Latchkey. It plays both the
// application (discovery, authorization URL, code exchange, refresh,
// userinfo) and the user's browser (cookies, redirects, the hosted login
// form), so a Go test can prove Latchkey interoperates without a real
// browser.
//
// It is driven by environment variables:
//
//   ISSUER         the organization's issuer (PUBLIC_URL/o/{org})
//   CLIENT_ID      the application's client ID
//   CLIENT_SECRET  the client secret; absent means a public client (PKCE, no auth)
//   CLIENT_AUTH    optional: client_secret_basic or client_secret_post
//                  (default: openid-client's default, client_secret_post)
//   REDIRECT_URI   a redirect URI registered for the application
//   USERNAME       the user to sign in as
//   PASSWORD       the user's password
//   SCENARIO       which scenario to run: code-flow (default), prompt-none,
//                  rp-logout or acr-mfa (the user must have no second factor yet)
//   POST_LOGOUT_REDIRECT_URI  a registered post-logout redirect URI (rp-logout)
//   RP_TRACE       1 to write every HTTP exchange to stderr
//
// Every library check stays on: issuer, RFC 9207 `iss` in the authorization
// response, state, nonce, PKCE, id_token signature and claims. The script
// never works around a server bug; it reports it.
//
// Output: one JSON line on stdout, last.
//   {"ok":true,"sub":...,"preferred_username":...,"steps":[...]}
//   {"ok":false,"error":"...","step":"...","steps":[...]}   (exit status 1)
// Diagnostics go to stderr.

import * as client from 'openid-client';

import { Browser, forms, pageSummary, readLoginForm, setField, tracingFetch } from './browser.mjs';

// env is read in main, so a missing variable is reported like any failure.
let env;

function readEnv() {
  return {
    issuer: required('ISSUER'),
    clientId: required('CLIENT_ID'),
    clientSecret: process.env.CLIENT_SECRET || undefined,
    clientAuth: process.env.CLIENT_AUTH || '',
    redirectUri: required('REDIRECT_URI'),
    username: required('USERNAME'),
    password: required('PASSWORD'),
    scenario: process.env.SCENARIO || 'code-flow',
    trace: process.env.RP_TRACE === '1',
  };
}

const SCOPE = 'openid profile email offline_access';
const MAX_FORMS = 5;

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

// ---------------------------------------------------------------------------
// Steps: every check is a named step, so a failure says where it happened.

const steps = [];
let currentStep = 'start';

async function step(name, fn) {
  currentStep = name;
  const result = await fn();
  steps.push(name);
  return result;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// ---------------------------------------------------------------------------
// The client configuration.

function clientAuthentication() {
  if (!env.clientSecret) return client.None();
  switch (env.clientAuth) {
    case '':
      return undefined; // openid-client's default
    case 'client_secret_basic':
      return client.ClientSecretBasic(env.clientSecret);
    case 'client_secret_post':
      return client.ClientSecretPost(env.clientSecret);
    default:
      throw new Error(`CLIENT_AUTH ${JSON.stringify(env.clientAuth)} is not supported`);
  }
}

async function discover() {
  // The test server is plain http on 127.0.0.1: allowInsecureRequests is the
  // only relaxation, and it touches nothing but the URL scheme check.
  return client.discovery(
    new URL(env.issuer),
    env.clientId,
    env.clientSecret,
    clientAuthentication(),
    {
      execute: [client.allowInsecureRequests],
      ...(env.trace && { [client.customFetch]: httpFetch() }),
    },
  );
}

// httpFetch is fetch, traced to stderr when RP_TRACE=1.
function httpFetch() {
  return env.trace ? tracingFetch((line) => console.error(line)) : fetch;
}

// checkMetadata checks what DESIGN §3 promises in discovery beyond what
// openid-client itself insists on.
function checkMetadata(config) {
  const md = config.serverMetadata();
  assert(md.issuer === env.issuer, `discovery issuer ${md.issuer} is not ${env.issuer}`);
  // openid-client checks the RFC 9207 `iss` response parameter whenever the
  // server announces it; Latchkey must announce it, so the check is on.
  assert(md.authorization_response_iss_parameter_supported === true,
    'discovery does not say authorization_response_iss_parameter_supported: true');
  assert(Array.isArray(md.code_challenge_methods_supported) && md.code_challenge_methods_supported.includes('S256'),
    `discovery code_challenge_methods_supported ${JSON.stringify(md.code_challenge_methods_supported)} lacks S256`);
}

// authorizationRequest builds an authorization URL with PKCE S256, nonce
// and state (plus extra parameters) and returns it with the checks
// authorizationCodeGrant needs to validate the response.
async function authorizationRequest(config, extra = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const checks = {
    pkceCodeVerifier: codeVerifier,
    expectedNonce: client.randomNonce(),
    expectedState: client.randomState(),
    idTokenExpected: true,
  };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.redirectUri,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    nonce: checks.expectedNonce,
    state: checks.expectedState,
    ...extra,
  });
  return { url, checks };
}

// signIn drives the hosted login page from authorizationUrl until Latchkey
// redirects to the application, and returns that callback URL.
async function signIn(browser, authorizationUrl) {
  let page = await browser.navigate(authorizationUrl, env.redirectUri);
  const seen = [];
  for (let n = 0; !page.callback; n++) {
    assert(n < MAX_FORMS, `still on a login page after ${MAX_FORMS} forms (${seen.join(', ')}): ${pageSummary(page)}`);
    const form = readLoginForm(page.html, page.url);
    assert(form, `expected a login form or a redirect to ${env.redirectUri}, got ${pageSummary(page)}`);
    if (form.kind === 'password') {
      assert(!seen.includes('password'), `the password was not accepted: ${pageSummary(page)}`);
      setField(form.fields, 'password', env.password);
    } else {
      assert(!seen.includes('username'), `the username was not accepted: ${pageSummary(page)}`);
      setField(form.fields, 'username', env.username);
    }
    seen.push(form.kind);
    page = await browser.submit(form, env.redirectUri);
  }
  return page.callback;
}

// ---------------------------------------------------------------------------
// Scenarios.

// codeFlow: authorization code flow with PKCE, nonce and state; id_token,
// userinfo, refresh token rotation and reuse detection.
async function codeFlow() {
  const config = await step('discovery', discover);
  await step('discovery-metadata', async () => checkMetadata(config));

  const request = await step('authorization-url', () => authorizationRequest(config));

  const browser = new Browser(httpFetch());
  const callback = await step('login', () => signIn(browser, request.url));

  const tokens = await step('code-exchange', () => client.authorizationCodeGrant(config, callback, request.checks));

  const claims = await step('id-token-claims', async () => {
    const c = tokens.claims();
    assert(c, 'no id_token claims');
    assert(typeof c.sub === 'string' && c.sub !== '', `id_token sub ${JSON.stringify(c.sub)} is empty`);
    assert(typeof c.preferred_username === 'string' && c.preferred_username.toLowerCase() === env.username.toLowerCase(),
      `id_token preferred_username ${JSON.stringify(c.preferred_username)} is not ${env.username}`);
    assert(c.iss === env.issuer, `id_token iss ${c.iss} is not ${env.issuer}`);
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
    assert(aud.includes(env.clientId), `id_token aud ${JSON.stringify(c.aud)} does not include ${env.clientId}`);
    assert(tokens.access_token, 'no access_token');
    assert(tokens.refresh_token, 'no refresh_token although offline_access was requested');
    return c;
  });

  await step('id-token-at-hash', async () => checkAtHash(tokens.id_token, claims, tokens.access_token));

  await step('userinfo', async () => {
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert(typeof info.preferred_username === 'string' && info.preferred_username.toLowerCase() === env.username.toLowerCase(),
      `userinfo preferred_username ${JSON.stringify(info.preferred_username)} is not ${env.username}`);
  });

  const refreshed = await step('refresh', async () => {
    const r = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert(r.access_token, 'refresh gave no access_token');
    assert(r.refresh_token, 'refresh gave no refresh_token: it must rotate');
    assert(r.refresh_token !== tokens.refresh_token, 'refresh token did not rotate (same value returned)');
    const c = r.claims();
    if (c) {
      // OpenID Connect Core §12.2: a refreshed id_token speaks of the
      // same authentication.
      for (const name of ['iss', 'sub', 'aud', 'azp', 'auth_time']) {
        assert(JSON.stringify(c[name]) === JSON.stringify(claims[name]),
          `refreshed id_token ${name} ${JSON.stringify(c[name])} is not the original ${JSON.stringify(claims[name])}`);
      }
      assert(c.iat >= claims.iat, `refreshed id_token iat ${c.iat} is before the original ${claims.iat}`);
      await checkAtHash(r.id_token, c, r.access_token);
    }
    return r;
  });

  await step('userinfo-after-refresh', async () => {
    const info = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    assert(info.sub === claims.sub, `userinfo sub ${info.sub} is not ${claims.sub}`);
  });

  await step('refresh-reuse-rejected', async () => {
    await expectInvalidGrant(() => client.refreshTokenGrant(config, tokens.refresh_token),
      'reusing the rotated refresh token');
  });

  // DESIGN §3: reusing a rotated refresh token revokes its whole family.
  await step('refresh-family-revoked', async () => {
    await expectInvalidGrant(() => client.refreshTokenGrant(config, refreshed.refresh_token),
      'the newest refresh token after the family was revoked by reuse');
  });

  return { sub: claims.sub, preferred_username: claims.preferred_username };
}

// checkAtHash checks the id_token's at_hash against the access token
// (OpenID Connect Core §3.1.3.6; DESIGN §3 always includes it). openid-client
// does not check it in the code flow.
async function checkAtHash(idToken, claims, accessToken) {
  assert(typeof claims.at_hash === 'string' && claims.at_hash !== '', 'id_token has no at_hash');
  const { alg } = JSON.parse(Buffer.from(idToken.split('.')[0], 'base64url').toString('utf8'));
  const bits = alg === 'EdDSA' ? 512 : Number(alg.slice(-3));
  assert([256, 384, 512].includes(bits), `at_hash: unexpected id_token alg ${alg}`);
  const digest = new Uint8Array(await crypto.subtle.digest(`SHA-${bits}`, new TextEncoder().encode(accessToken)));
  const want = Buffer.from(digest.slice(0, digest.length / 2)).toString('base64url');
  assert(claims.at_hash === want, `id_token at_hash ${claims.at_hash} does not match the access token (want ${want})`);
}

async function expectInvalidGrant(fn, what) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    if (err instanceof client.ResponseBodyError || err?.code === 'OAUTH_RESPONSE_BODY_ERROR') {
      assert(err.error === 'invalid_grant',
        `${what}: expected error invalid_grant, got ${err.error} (HTTP ${err.status}: ${err.error_description ?? ''})`);
      return;
    }
    throw err;
  }
  throw new Error(`${what} succeeded (got tokens ${Object.keys(result ?? {}).join(',')}); expected invalid_grant`);
}

// promptNone: prompt=none without a session must come back to the
// application as error=login_required, with state and the RFC 9207 `iss`
// (openid-client checks both before it reports the error).
async function promptNone() {
  const config = await step('discovery', discover);
  const request = await authorizationRequest(config, { prompt: 'none' });

  const browser = new Browser(httpFetch());
  const callback = await step('authorize', async () => {
    const page = await browser.navigate(request.url, env.redirectUri);
    if (!page.callback) throw new Error(`prompt=none must redirect back to the application, got ${pageSummary(page)}`);
    return page.callback;
  });

  await step('login-required', async () => {
    try {
      await client.authorizationCodeGrant(config, callback, request.checks);
    } catch (err) {
      if (err instanceof client.AuthorizationResponseError) {
        assert(err.error === 'login_required', `expected error login_required, got ${err.error} (${err.error_description ?? ''})`);
        return;
      }
      throw err;
    }
    throw new Error('prompt=none without a session was answered with a code');
  });
  return {};
}

// rpLogout: RP-Initiated Logout with the URL openid-client builds
// (buildEndSessionUrl with id_token_hint, post_logout_redirect_uri and
// state) ends the single sign-on session: Latchkey returns to the
// registered URI with the state, the refresh token is dead, and a
// prompt=none request then fails with login_required.
async function rpLogout() {
  const config = await step('discovery', discover);
  const postLogout = required('POST_LOGOUT_REDIRECT_URI');
  // Without offline_access the refresh token is bound to the session
  // (with it, it would rightly outlive the logout).
  const request = await step('authorization-url', () => authorizationRequest(config, { scope: 'openid profile email' }));
  const browser = new Browser(httpFetch());
  const callback = await step('login', () => signIn(browser, request.url));
  const tokens = await step('code-exchange', () => client.authorizationCodeGrant(config, callback, request.checks));
  assert(tokens.refresh_token, 'no refresh_token');

  await step('end-session', async () => {
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogout, state,
    });
    assert(url.href.startsWith(`${env.issuer}/end_session?`), `end_session URL ${url.href} is not under the issuer`);
    const page = await browser.navigate(url.href, postLogout);
    if (!page.callback) throw new Error(`end_session did not return to ${postLogout}: ${pageSummary(page)}`);
    const back = new URL(page.callback);
    assert(back.origin + back.pathname === postLogout, `returned to ${page.callback}, not ${postLogout}`);
    assert(back.searchParams.get('state') === state, `state ${back.searchParams.get('state')} is not ${state}`);
  });

  await step('refresh-after-logout-rejected', async () => {
    await expectInvalidGrant(() => client.refreshTokenGrant(config, tokens.refresh_token), 'refreshing after logout');
  });

  await step('session-ended', async () => {
    const again = await authorizationRequest(config, { prompt: 'none' });
    const page = await browser.navigate(again.url, env.redirectUri);
    if (!page.callback) throw new Error(`prompt=none after logout did not return to the application: ${pageSummary(page)}`);
    try {
      await client.authorizationCodeGrant(config, page.callback, again.checks);
    } catch (err) {
      if (err instanceof client.AuthorizationResponseError && err.error === 'login_required') return;
      throw err;
    }
    throw new Error('prompt=none after logout was answered with a code');
  });
  return {};
}

// ---------------------------------------------------------------------------
// acr_values and step-up.

const ACR_PWD = 'urn:latchkey:acr:pwd';
const ACR_MFA = 'urn:latchkey:acr:mfa';

// totp is an RFC 6238 code (HMAC-SHA-1, six digits, 30-second steps) for a
// base32 key, computed here independently of Latchkey.
async function totp(base32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of base32.replace(/=+$/, '')) {
    const v = alphabet.indexOf(ch.toUpperCase());
    assert(v >= 0, `not base32: ${base32}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = new Uint8Array(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = new DataView(new ArrayBuffer(8));
  counter.setBigUint64(0, BigInt(Math.floor(at / 1000 / 30)));
  const hmacKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, counter.buffer));
  const off = mac[mac.length - 1] & 0x0f;
  const n = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

// readFormById reads the POST form with the given id, as readLoginForm does.
function readFormById(html, pageUrl, id) {
  const form = forms(html).find((f) => f.attrs.id === id);
  if (!form) return null;
  const fields = [];
  for (const { tag, attrs } of form.controls) {
    const type = (attrs.type || (tag === 'button' ? 'submit' : 'text')).toLowerCase();
    if (!attrs.name || ['submit', 'image', 'button', 'reset', 'file'].includes(type)) continue;
    fields.push([attrs.name, attrs.value ?? '']);
  }
  return { action: new URL(form.attrs.action || pageUrl.href, pageUrl), fields };
}

function amrOf(c) {
  assert(Array.isArray(c.amr), `id_token amr ${JSON.stringify(c.amr)} is not a list`);
  return [...c.amr].sort();
}

// acrMFA: the application asks for acr_values=urn:latchkey:acr:mfa. With
// only a password, Latchkey answers acr pwd (acr_values is a voluntary
// claim). Once the user has set up one-time codes (on the account page,
// the secret read from it), the same request steps the session up: the
// code alone is asked, and the id_token says acr mfa, amr pwd otp mfa,
// with the original auth_time.
async function acrMFA() {
  const config = await step('discovery', discover);
  await step('discovery-acr-values', async () => {
    const got = config.serverMetadata().acr_values_supported;
    assert(Array.isArray(got) && got.includes(ACR_PWD) && got.includes(ACR_MFA),
      `discovery acr_values_supported ${JSON.stringify(got)} lacks ${ACR_PWD} or ${ACR_MFA}`);
  });
  const browser = new Browser(httpFetch());
  const first = await step('authorization-url', () => authorizationRequest(config, { acr_values: ACR_MFA }));
  const cb1 = await step('login', () => signIn(browser, first.url));
  const t1 = await step('code-exchange', () => client.authorizationCodeGrant(config, cb1, first.checks));
  const c1 = await step('acr-pwd', async () => {
    const c = t1.claims();
    assert(c.acr === ACR_PWD, `password-only sign-in: acr ${c.acr}, want ${ACR_PWD}`);
    assert(JSON.stringify(amrOf(c)) === JSON.stringify(['pwd']), `password-only sign-in: amr ${JSON.stringify(c.amr)}`);
    return c;
  });

  const key = await step('totp-enrol', async () => {
    const page = await browser.navigate(`${env.issuer}/account/totp`, env.redirectUri);
    const m = page.html && /id="totp-secret">([A-Z2-7]+)</.exec(page.html);
    assert(m, `no one-time code secret on ${pageSummary(page)}`);
    const form = readFormById(page.html, page.url, 'totp-form');
    assert(form, `no totp-form on ${pageSummary(page)}`);
    setField(form.fields, 'code', await totp(m[1]));
    const done = await browser.submit(form, env.redirectUri);
    // The first factor brings recovery codes, shown once.
    assert(done.html && done.html.includes('One-time codes are set up') && done.html.includes('recovery codes'),
      `enrolment not confirmed: ${pageSummary(done)}`);
    return m[1];
  });

  const second = await step('authorization-url-mfa', () => authorizationRequest(config, { acr_values: ACR_MFA }));
  const cb2 = await step('step-up', async () => {
    const page = await browser.navigate(second.url, env.redirectUri);
    assert(!page.callback, 'a password-only session answered acr_values=mfa without a second factor');
    if (!page.url.pathname.endsWith('/login/factor')) throw new Error(`step-up went to ${pageSummary(page)}`);
    assert(!/name="password"/.test(page.html), 'step-up asked for the password again');
    const form = readFormById(page.html, page.url, 'factor-totp');
    assert(form, `no one-time code form on ${pageSummary(page)}`);
    // The next step's code: the enrolment's code is spent.
    setField(form.fields, 'code', await totp(key, Date.now() + 30_000));
    const back = await browser.submit(form, env.redirectUri);
    if (!back.callback) throw new Error(`the code was not accepted: ${pageSummary(back)}`);
    return back.callback;
  });
  const t2 = await step('code-exchange-mfa', () => client.authorizationCodeGrant(config, cb2, second.checks));
  const c2 = await step('acr-mfa', async () => {
    const c = t2.claims();
    assert(c.acr === ACR_MFA, `after step-up: acr ${c.acr}, want ${ACR_MFA}`);
    assert(JSON.stringify(amrOf(c)) === JSON.stringify(['mfa', 'otp', 'pwd']), `after step-up: amr ${JSON.stringify(c.amr)}`);
    assert(c.auth_time === c1.auth_time, `step-up changed auth_time ${c1.auth_time} → ${c.auth_time}`);
    assert(c.sub === c1.sub, 'step-up changed sub');
    return c;
  });
  return { sub: c2.sub, preferred_username: c2.preferred_username };
}

const scenarios = {
  'code-flow': codeFlow,
  'prompt-none': promptNone,
  'rp-logout': rpLogout,
  'acr-mfa': acrMFA,
};

// ---------------------------------------------------------------------------

// describe turns an error into one line, with what the server said.
async function describe(err) {
  if (err instanceof client.ResponseBodyError || err?.code === 'OAUTH_RESPONSE_BODY_ERROR') {
    return `${err.message}: HTTP ${err.status} error=${err.error} error_description=${err.error_description ?? ''}`;
  }
  if (err instanceof client.AuthorizationResponseError) {
    return `${err.message}: error=${err.error} error_description=${err.error_description ?? ''}`;
  }
  let msg = err?.message ?? String(err);
  if (err?.code) msg = `${err.code}: ${msg}`;
  const cause = err?.cause;
  let text;
  if (cause instanceof Response) {
    let body = '';
    try { body = (await cause.clone().text()).replace(/\s+/g, ' ').slice(0, 500); } catch { /* already read */ }
    text = `HTTP ${cause.status} from ${cause.url} ${cause.headers.get('content-type') ?? ''}: ${body}`;
  } else if (cause instanceof Error) {
    text = cause.message;
  } else if (cause instanceof URLSearchParams) {
    text = cause.toString();
  } else if (cause !== undefined) {
    try { text = JSON.stringify(cause); } catch { text = String(cause); }
  }
  if (text) msg += ` (cause: ${text.slice(0, 1000)})`;
  return msg;
}

async function main() {
  env = readEnv();
  const scenario = scenarios[env.scenario];
  if (!scenario) throw new Error(`unknown SCENARIO ${JSON.stringify(env.scenario)}; known: ${Object.keys(scenarios).join(', ')}`);
  const result = await scenario();
  console.log(JSON.stringify({ ok: true, ...result, steps }));
}

try {
  await main();
} catch (err) {
  console.error(err?.stack ?? err);
  console.log(JSON.stringify({ ok: false, error: await describe(err), step: currentStep, steps }));
  process.exitCode = 1;
}
