// Latchkey passkeys: runs the WebAuthn ceremonies the server prepared and
// posts the authenticator's answer back in an ordinary form. Pages work
// without it; only passkeys need it.
"use strict";
(() => {
  const dec = (s) => {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  };
  const enc = (b) => {
    let s = "";
    new Uint8Array(b).forEach((x) => { s += String.fromCharCode(x); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const creationOptions = (o) => {
    const p = o.publicKey;
    p.challenge = dec(p.challenge);
    p.user.id = dec(p.user.id);
    (p.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
    return p;
  };
  const requestOptions = (o) => {
    const p = o.publicKey;
    p.challenge = dec(p.challenge);
    (p.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
    return p;
  };
  const credentialJSON = (c) => {
    const r = c.response;
    const out = {
      id: c.id, rawId: enc(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults(),
      response: { clientDataJSON: enc(r.clientDataJSON) },
    };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = enc(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = enc(r.authenticatorData);
      out.response.signature = enc(r.signature);
      if (r.userHandle) out.response.userHandle = enc(r.userHandle);
    }
    return JSON.stringify(out);
  };
  const showError = (msg) => {
    const e = document.getElementById("passkey-error");
    if (e) { e.textContent = msg; e.hidden = false; }
  };

  // A ceremony's options: those the page carries, or, for a form with
  // data-options, a ceremony begun now (its flow goes into the form).
  const ceremonyOptions = async (form) => {
    if (!form.dataset.options) {
      return JSON.parse(form.querySelector("script[type='application/json']").textContent);
    }
    const body = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
    const res = await fetch(form.dataset.options, { method: "POST", body, credentials: "same-origin" });
    const o = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(o.error_description || "the server refused (" + res.status + ")");
    form.elements.flow.value = o.flow;
    return o.options;
  };

  // Forms that register a passkey or use one as a second factor.
  document.querySelectorAll("form[data-webauthn]").forEach((form) => {
    form.hidden = false;
    form.addEventListener("submit", async (ev) => {
      if (form.dataset.done) return;
      ev.preventDefault();
      let opts;
      try {
        opts = await ceremonyOptions(form);
      } catch (e) {
        showError("The passkey could not be started: " + e.message + ". Reload the page and try again.");
        return;
      }
      try {
        const c = form.dataset.webauthn === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(opts) })
          : await navigator.credentials.get({ publicKey: requestOptions(opts) });
        form.querySelector("input[name=credential]").value = credentialJSON(c);
        form.dataset.done = "1";
        form.submit();
      } catch (e) {
        showError("The passkey did not answer (" + e.name + "). Try again.");
      }
    });
  });

  // "Sign in with a passkey" and the browser's passkey autofill.
  const pw = document.getElementById("passkey-login");
  if (!pw || !window.PublicKeyCredential) return;
  const btn = document.getElementById("passkey-signin");
  let pending = null; // the autofill request's AbortController
  let pendingRun = null; // and its promise, settled once it is aborted
  const run = async (conditional, signal) => {
    const body = new URLSearchParams({ csrf_token: pw.elements.csrf_token.value, conditional: conditional ? "1" : "0" });
    const res = await fetch(pw.dataset.options, { method: "POST", body, credentials: "same-origin" });
    if (!res.ok) throw new Error("options");
    const o = await res.json();
    const req = { publicKey: requestOptions(o.options) };
    if (conditional) { req.mediation = "conditional"; req.signal = signal; }
    const c = await navigator.credentials.get(req);
    pw.elements.flow.value = o.flow;
    pw.elements.credential.value = credentialJSON(c);
    pw.submit();
  };
  btn.hidden = false;
  btn.addEventListener("click", async () => {
    // One WebAuthn request at a time: end the autofill request first.
    if (pending) {
      pending.abort();
      pending = null;
      await pendingRun;
    }
    try {
      await run(false);
    } catch (e) {
      showError("No passkey was used (" + e.name + "). Try again or use your password.");
    }
  });
  if (PublicKeyCredential.isConditionalMediationAvailable && document.querySelector("input[autocomplete~='webauthn']")) {
    PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
      if (!ok || pending) return;
      pending = new AbortController();
      pendingRun = run(true, pending.signal).catch(() => {});
    });
  }
})();
