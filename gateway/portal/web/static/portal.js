/* Settle dashboard: sign-in (SIWE with an injected wallet, or staff e-mail, password and TOTP code), sign-out,
   accepting an invitation (choosing a password), TOTP enrolment, the settings' JSON calls (with the session's CSRF token from <meta name="csrf-token">) and the charts (uPlot, when built).
   No inline scripts anywhere: the pages' Content-Security-Policy forbids them. */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function describe(data, response) {
    if (data && data.detail !== undefined) {
      return typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    }
    if (data && data.error !== undefined) {
      return typeof data.error === "string" ? data.error : JSON.stringify(data.error);
    }
    return response.status + " " + response.statusText;
  }

  async function api(method, url, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    var response = await fetch(url, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      var error = new Error(describe(data, response));
      error.status = response.status;
      error.retryAfter = parseInt(response.headers.get("Retry-After") || "0", 10) || 0;
      // the kind of refusal, for the page to word it in its language (not the English text of "detail")
      error.type = data && data.errors && data.errors.length ? data.errors[0].type : "";
      throw error;
    }
    return data;
  }

  function messageOf(error) {
    return error && error.message ? error.message : String(error);
  }

  // a text of the catalogue (from a data- attribute) with its {name} placeholders filled in
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return values[name] !== undefined ? String(values[name]) : all;
    });
  }

  function utf8Hex(text) {
    var bytes = new TextEncoder().encode(text);
    var out = "0x";
    for (var i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
    return out;
  }

  // -- sign-in ------------------------------------------------------------------------------------------------
  function setupSignIn() {
    var box = document.getElementById("sign-in");
    if (!box) return;
    var status = document.getElementById("sign-in-status");
    var next = box.dataset.next || "/app/agreements";
    var form = document.getElementById("password-form");
    function fail(error) {
      status.textContent = box.dataset.failed + ": " + messageOf(error);
      status.className = "status error";
    }
    // the password route's answers in the page's language: 429 (rate limit, with Retry-After), 401 of the kind
    // totp_required (the password was right: ask for the code), any other 401 (one text for wrong, locked, disabled)
    function passwordFailed(error) {
      var text = messageOf(error);
      if (error.status === 429) {
        text = fill(box.dataset.tooMany, { seconds: error.retryAfter || 60 });
      } else if (error.type === "totp_required") {
        text = box.dataset.totpNeeded;
        var label = document.getElementById("totp-label");
        if (label) label.classList.add("needed");
        form.elements.totp.required = true;
        form.elements.totp.focus();
      } else if (error.status === 401) {
        text = box.dataset.refused;
      }
      status.textContent = box.dataset.failed + ": " + text;
      status.className = "status error";
    }
    function working() {
      status.textContent = box.dataset.working;
      status.className = "status";
    }
    document.getElementById("siwe-button").addEventListener("click", async function () {
      if (!window.ethereum) {
        fail(new Error(box.dataset.noWallet));
        return;
      }
      working();
      try {
        var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        var address = accounts[0];
        var nonce = await api("POST", "/v1/auth/siwe/nonce", { address: address });
        var signature = await window.ethereum.request({ method: "personal_sign", params: [utf8Hex(nonce.message), address] });
        await api("POST", "/v1/auth/siwe", { message: nonce.message, signature: signature });
        window.location.assign(next);
      } catch (error) {
        fail(error);
      }
    });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var body = { email: form.elements.email.value.trim(), password: form.elements.password.value };
      var totp = form.elements.totp.value.trim();
      if (totp) body.totp = totp;
      working();
      try {
        await api("POST", "/v1/auth/password", body);
        window.location.assign(next);
      } catch (error) {
        passwordFailed(error);
      }
    });
  }

  function setupSignOut() {
    var button = document.getElementById("sign-out");
    if (!button) return;
    button.addEventListener("click", async function () {
      try {
        await api("POST", "/v1/auth/sign-out");
      } catch (error) {
        // 401: the session was over already; anything else: still signed in, say so instead of pretending
        if (error.status !== 401) {
          button.textContent = button.dataset.failed + " " + messageOf(error);
          return;
        }
      }
      window.location.assign("/app/sign-in?welcome=signed-out");
    });
  }

  // -- invitation: choose a password (POST /v1/staff/invites/accept), then to the sign-in page --------------------
  function setupInvite() {
    var form = document.getElementById("invite-accept");
    if (!form) return;
    var status = document.getElementById("invite-status");
    function say(text, isError) {
      status.textContent = isError ? form.dataset.failed + " " + text : text;
      status.className = isError ? "status error" : "status";
    }
    // the route's refusals in the page's language, by their kind (the error's "type"): a link that no longer works
    // (400), a rule the password breaks (422)
    function refusal(error) {
      var text = messageOf(error);
      if (error.status === 429) return fill(form.dataset.tooMany, { seconds: error.retryAfter || 60 });
      if (error.type === "invite_used") return form.dataset.used;
      if (error.type === "invite_expired") return form.dataset.expired;
      if (error.type === "invite_unknown") return form.dataset.unknown;
      if (error.type === "password_too_short") return form.dataset.weak + " " + form.dataset.ruleLength + ".";
      if (error.type === "password_contains_email") return form.dataset.weak + " " + form.dataset.ruleEmail + ".";
      if (error.type === "password_too_simple") return form.dataset.weak + " " + form.dataset.ruleVariety + ".";
      return text;
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var password = form.elements.password.value;
      if (password !== form.elements.repeat.value) {
        say(form.dataset.mismatch, true);
        return;
      }
      say(form.dataset.working, false);
      try {
        var account = await api("POST", "/v1/staff/invites/accept", { token: form.dataset.token, password: password });
        var email = account && account.email ? account.email : form.dataset.email;
        window.location.assign("/app/sign-in?welcome=invited&email=" + encodeURIComponent(email));
      } catch (error) {
        say(refusal(error), true);
      }
    });
  }

  // -- settings, security: TOTP enrolment (secret and otpauth URI shown once, then confirmed with a code) ----------
  function setupSecurity() {
    var box = document.getElementById("security");
    var enrol = document.getElementById("totp-enrol");
    if (!box || !enrol) return;
    var status = document.getElementById("security-status");
    var setup = document.getElementById("totp-setup");
    var confirm = document.getElementById("totp-confirm");
    function say(text, kind) {
      status.textContent = text;
      status.className = "status" + (kind ? " " + kind : "");
    }
    enrol.addEventListener("click", async function () {
      say(box.dataset.working, "");
      try {
        var found = await api("POST", "/v1/staff/me/totp");
        document.getElementById("totp-secret").textContent = found.secret;
        document.getElementById("totp-uri").textContent = found.uri;
        setup.hidden = false;
        enrol.hidden = true;
        say("", "");
        confirm.elements.code.focus();
      } catch (error) {
        say(box.dataset.failed + " " + messageOf(error), "error");
      }
    });
    confirm.addEventListener("submit", async function (event) {
      event.preventDefault();
      say(box.dataset.working, "");
      try {
        await api("POST", "/v1/staff/me/totp/confirm", { code: confirm.elements.code.value.trim() });
        setup.hidden = true;
        var state = document.getElementById("totp-state");
        state.textContent = confirm.dataset.done;
        state.className = "status ok";
        state.dataset.on = "1";
        say("", "");
      } catch (error) {
        say(box.dataset.failed + " " + messageOf(error), "error");
      }
    });
  }

  // -- settings: forms and buttons that call the JSON routes -------------------------------------------------
  function formBody(form) {
    var body = {};
    var lists = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "checkbox") {
        lists[el.name] = lists[el.name] || [];
        if (el.checked) lists[el.name].push(el.value);
        return;
      }
      var value = el.value.trim();
      if (value === "") return;
      body[el.name] = el.dataset.type === "int" ? parseInt(value, 10) : value;
    });
    Object.keys(lists).forEach(function (name) {
      if (lists[name].length) body[name] = lists[name];
    });
    return body;
  }

  function report(text, isError) {
    var status = document.getElementById("settings-status");
    if (!status) return;
    status.textContent = isError ? status.dataset.failed + " " + text : text;
    status.className = isError ? "status error" : "status ok";
  }

  function showOnce(label, value) {
    var out = document.getElementById("once");
    if (!out) return;
    out.hidden = false;
    out.textContent = "";
    var caption = document.createElement("span");
    caption.textContent = label + " ";
    var code = document.createElement("code");
    code.textContent = value;
    out.appendChild(caption);
    out.appendChild(code);
  }

  async function run(el, body) {
    try {
      var data = await api(el.dataset.method || "POST", el.dataset.endpoint, body);
      if (el.dataset.show && data && data[el.dataset.show]) showOnce(el.dataset.showLabel || "", data[el.dataset.show]);
      if (el.dataset.done) report(el.dataset.done, false);
      if (el.dataset.reload) window.location.reload();
    } catch (error) {
      report(error.message, true);
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("api-form")) return;
    event.preventDefault();
    run(form, formBody(form));
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".api-action") : null;
    if (!button) return;
    run(button, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
  });

  // -- charts ---------------------------------------------------------------------------------------------------
  var COLOURS = ["#1f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285"];
  var charts = {};

  function plot(el, key, options, data) {
    if (charts[key]) charts[key].destroy();
    el.textContent = "";
    options.width = Math.max(el.clientWidth || 0, 320);
    options.height = 240;
    charts[key] = new window.uPlot(options, data, el);
  }

  function usageChart() {
    var el = document.getElementById("usage-chart");
    var source = document.querySelector("#usage-live .live[data-series]");
    if (!el || !source) return;
    var s = JSON.parse(source.dataset.series);
    if (!s.x.length) return;
    var series = [{ label: el.dataset.labelPeriod }];
    s.meters.forEach(function (meter, i) {
      series.push({ label: el.dataset.labelMeter + " " + meter, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true } });
    });
    var whole = { incrs: [1, 2, 5, 10, 20, 50, 100], values: function (u, splits) { return splits.map(String); } };
    plot(el, "usage", { scales: { x: { time: false } }, series: series, axes: [whole, { size: 70 }] }, [s.x].concat(s.y));
  }

  function agingCharts() {
    document.querySelectorAll(".chart[data-kind=aging]").forEach(function (el, n) {
      var s = JSON.parse(el.dataset.series);
      var scale = Math.pow(10, s.digits);
      var x = s.labels.map(function (_, i) { return i; });
      var y = s.y.map(function (v) { return Number(v) / scale; });  // pixels only: the tables show the exact amounts
      plot(el, "aging" + n, {
        scales: { x: { time: false, range: [-0.5, s.labels.length - 0.5] } },
        series: [{}, { label: el.dataset.label, fill: "#1f6feb88", stroke: "#1f6feb", paths: window.uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
        axes: [{ values: function (u, splits) { return splits.map(function (i) { return Number.isInteger(i) ? s.labels[i] || "" : ""; }); } }, { size: 70 }],
      }, [x, y]);
    });
  }

  function dsoChart() {
    var el = document.getElementById("dso-chart");
    if (!el) return;
    var s = JSON.parse(el.dataset.series);
    if (!s.series.length) return;
    var x = s.x.map(function (_, i) { return i; });
    var series = [{}];
    s.series.forEach(function (c, i) {
      series.push({ label: el.dataset.label + " " + c.currency, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true } });
    });
    plot(el, "dso", {
      scales: { x: { time: false } },
      series: series,
      axes: [{ values: function (u, splits) { return splits.map(function (i) { return Number.isInteger(i) ? s.x[i] || "" : ""; }); } }, {}],
    }, [x].concat(s.series.map(function (c) { return c.y; })));
  }

  function drawCharts() {
    if (!window.uPlot) return;
    usageChart();
    agingCharts();
    dsoChart();
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "usage-live") usageChart();
  });

  document.addEventListener("DOMContentLoaded", function () {
    setupSignIn();
    setupSignOut();
    setupInvite();
    setupSecurity();
    drawCharts();
  });
})();
