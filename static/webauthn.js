// Passkeys on the hosted pages: the only script they load. It wires up the
// elements marked data-webauthn (hidden until it runs, so that without
// JavaScript, or without WebAuthn, the pages show only what works):
//
//   data-webauthn="passkey"   the sign-in page's "Sign in with a passkey", and
//                             the passkeys the browser offers among the email
//                             field's suggestions (autofill, below)
//   data-webauthn="mfa"       the second-factor page's "Use a passkey or security key"
//   data-webauthn="register"  the account page's "Add a passkey" form
//   data-webauthn="confirm"   the account page's "Confirm with a passkey", after
//                             which its forms ask for no password for a while
//   data-webauthn="enrol"     the set-up page's "Set up a passkey instead", at a
//                             sign-in that must set up a second factor
//
// Each runs one ceremony against /_gatehouse/webauthn/<kind>/{begin,finish}:
// the server's options go to navigator.credentials, the answer back to the
// server, and the browser then follows the redirect the server returns.
// Values the server needs come from the element's data-* attributes.
'use strict';

(() => {
  const root = '/_gatehouse/webauthn/';
  // The page's texts in its language, from the script tag's data-msg-*
  // (templates/partials.html, "webauthn-script"); English without them.
  const msgs = (document.currentScript && document.currentScript.dataset) || {};
  const msg = (key, english) => msgs[key] || english;

  // base64url <-> ArrayBuffer, as WebAuthn's JSON forms write binary.
  const toBuffer = (s) => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  };
  const toBase64url = (buf) => {
    const bytes = new Uint8Array(buf);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  const creationOptions = (pk) => {
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    for (const c of pk.excludeCredentials || []) c.id = toBuffer(c.id);
    return pk;
  };
  const requestOptions = (pk) => {
    pk.challenge = toBuffer(pk.challenge);
    for (const c of pk.allowCredentials || []) c.id = toBuffer(c.id);
    return pk;
  };

  // credentialJSON writes a PublicKeyCredential as the server reads it.
  const credentialJSON = (cred) => {
    const r = cred.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle && r.userHandle.byteLength) response.userHandle = toBase64url(r.userHandle);
    }
    const out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      response,
      clientExtensionResults: typeof cred.getClientExtensionResults === 'function' ? cred.getClientExtensionResults() : {},
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    return out;
  };

  class ServerError extends Error {}

  const post = async (path, csrf, body) => {
    let resp;
    try {
      resp = await fetch(root + path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify(body),
      });
    } catch {
      throw new ServerError(msg('msgUnreachable', 'The server could not be reached. Check your connection and try again.'));
    }
    let data = null;
    try {
      data = await resp.json();
    } catch {
      // An answer that is not JSON is explained by its status below.
    }
    if (!resp.ok) {
      throw new ServerError((data && data.message) || msg('msgRefused', 'The server refused the request.'));
    }
    return data || {};
  };

  // Only a path on this site: the server sends no other, and the script
  // follows no other.
  const go = (to) => {
    window.location.assign(typeof to === 'string' && /^\/(?![/\\])/.test(to) ? to : '/');
  };

  const explain = (err) => {
    if (err instanceof ServerError) return err.message;
    switch (err && err.name) {
      case 'NotAllowedError':
        return msg('msgCancelled', 'The passkey request was cancelled or timed out. Try again.');
      case 'InvalidStateError':
        return msg('msgExists', 'This authenticator already holds a passkey for this site.');
      case 'SecurityError':
        return msg('msgNotAllowed', 'This browser does not allow passkeys on this site.');
      default:
        return msg('msgFailed', 'The passkey could not be used. Try again, or use another way to sign in.');
    }
  };

  // run does one ceremony, showing its error in the element's error line
  // and keeping its button disabled while it runs.
  const run = async (el, button, ceremony) => {
    const error = el.querySelector('[data-webauthn-error]');
    if (error) {
      error.textContent = '';
      error.hidden = true;
    }
    button.disabled = true;
    try {
      await ceremony();
    } catch (err) {
      if (error) {
        error.textContent = explain(err);
        error.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  };

  const signIn = async (kind, el, extra) => {
    const { csrf, rd = '', challenge } = el.dataset;
    const begin = await post(`${kind}/begin`, csrf, challenge ? { challenge } : {});
    const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
    const done = await post(`${kind}/finish`, csrf, { rd, challenge, ...extra(), credential: credentialJSON(cred) });
    go(done.redirect);
  };

  // autofill offers the browser's passkeys for this site among the
  // suggestions of the sign-in page's email field (its autocomplete has
  // "webauthn"): WebAuthn's conditional mediation, which waits, without
  // any prompt, until the user picks one. It runs until it signs in or
  // fails, or until abort() ends it for the button, which then waits for
  // done so that its own ceremony cookie is the last one set.
  let autofilling = null;
  const autofill = (el) => {
    const controller = new AbortController();
    const done = (async () => {
      const { csrf, rd = '' } = el.dataset;
      const error = el.querySelector('[data-webauthn-error]');
      let picked = false;
      try {
        const begin = await post('passkey/begin', csrf, {});
        const cred = await navigator.credentials.get({
          mediation: 'conditional',
          signal: controller.signal,
          publicKey: requestOptions(begin.publicKey),
        });
        picked = true;
        const finished = await post('passkey/finish', csrf, { rd, credential: credentialJSON(cred) });
        go(finished.redirect);
      } catch (err) {
        if (controller.signal.aborted) return;
        if (error) {
          error.textContent = explain(err);
          error.hidden = false;
        }
        // The server refused the passkey the user picked (or its
        // ceremony expired while the page sat open): offer the
        // suggestions again, with a new ceremony. Only a pick restarts
        // it, so a server that refuses begin is not asked in a loop.
        if (picked) autofilling = autofill(el);
      }
    })();
    return { abort: () => controller.abort(), done };
  };

  // conditionalAvailable reports whether this browser can offer passkeys
  // as autofill suggestions.
  const conditionalAvailable = async () => {
    try {
      return typeof PublicKeyCredential.isConditionalMediationAvailable === 'function' &&
        (await PublicKeyCredential.isConditionalMediationAvailable());
    } catch {
      return false;
    }
  };

  const register = async (form) => {
    const csrf = form.dataset.csrf;
    // No password field while a passkey confirmation stands.
    const password = form.elements.password;
    const begin = await post('register/begin', csrf, {
      name: form.elements.name.value,
      password: password ? password.value : '',
    });
    if (password) password.value = '';
    const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.publicKey) });
    const done = await post('register/finish', csrf, { credential: credentialJSON(cred) });
    showCodes(done, form);
  };

  const enrol = async (el) => {
    const { csrf, rd = '', challenge } = el.dataset;
    const begin = await post('enrol/begin', csrf, { challenge });
    const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.publicKey) });
    const done = await post('enrol/finish', csrf, { challenge, rd, credential: credentialJSON(cred) });
    // The app's QR code and forms are moot now.
    for (const other of document.querySelectorAll('form, ol.steps, .lede')) other.hidden = true;
    const title = document.querySelector('h1');
    if (title && done.recovery_codes) title.textContent = msg('msgSaveCodes', 'Save your recovery codes');
    showCodes(done, el);
  };

  // showCodes shows the recovery codes of a user's first factor, once, in
  // place of replaced; without any it goes on to the redirect.
  const showCodes = (done, replaced) => {
    const codes = document.getElementById('passkey-codes');
    if (!done.recovery_codes || !codes) {
      go(done.redirect);
      return;
    }
    const list = codes.querySelector('ul');
    for (const code of done.recovery_codes) {
      const li = document.createElement('li');
      const c = document.createElement('code');
      c.textContent = code;
      li.append(c);
      list.append(li);
    }
    const cont = codes.querySelector('a');
    cont.href = /^\/(?![/\\])/.test(done.redirect) ? done.redirect : '/';
    replaced.hidden = true;
    codes.hidden = false;
    codes.scrollIntoView();
  };

  const wire = () => {
    if (!window.PublicKeyCredential || !navigator.credentials) return; // the buttons stay hidden
    for (const el of document.querySelectorAll('[data-webauthn]')) {
      const kind = el.dataset.webauthn;
      if (kind === 'register') {
        el.addEventListener('submit', (ev) => {
          ev.preventDefault();
          run(el, el.querySelector('button[type="submit"]'), () => register(el));
        });
      } else if (kind === 'enrol') {
        const button = el.querySelector('button');
        button.addEventListener('click', () => run(el, button, () => enrol(el)));
      } else if (kind === 'passkey' || kind === 'mfa' || kind === 'confirm') {
        const button = el.querySelector('button');
        const path = { passkey: 'passkey', mfa: 'login', confirm: 'confirm' }[kind];
        const extra = () => {
          const remember = document.getElementById('f-remember');
          return kind === 'mfa' && remember && remember.checked ? { remember: true } : {};
        };
        let pressed = false;
        button.addEventListener('click', () =>
          run(el, button, async () => {
            pressed = true;
            // A browser runs one WebAuthn request at a time: the
            // suggestions' waiting one gives way to the button's.
            if (autofilling) {
              const pending = autofilling;
              autofilling = null;
              pending.abort();
              await pending.done;
            }
            try {
              await signIn(path, el, extra);
            } catch (err) {
              // Cancelled or refused: the suggestions come back.
              if (await suggest) autofilling = autofill(el);
              throw err;
            }
          }),
        );
        const suggest = kind === 'passkey' ? conditionalAvailable() : Promise.resolve(false);
        suggest.then((yes) => {
          // Not once the button was pressed: its ceremony is under way,
          // or it has started the suggestions again itself.
          if (yes && !pressed) autofilling = autofill(el);
        });
      } else {
        continue;
      }
      el.hidden = false;
    }
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', wire);
  } else {
    wire();
  }
})();
