"""TOTP enrolment on /account/two-factor and signing in with it: the authenticator's code
(RFC 6238, computed here), a replayed code refused, and a recovery code."""

from __future__ import annotations

import re

from conftest import PASSWORD, totp, totp_step, unique, wait_for_next_step


def second_factor_page(b, username: str) -> None:
    b.signin(username, PASSWORD)
    b.el("#verify-code")
    assert b.path != "/account", "an account with TOTP was signed in on its password alone"


def test_totp_enrolment_and_sign_in_with_it(server, browser):
    b = browser
    username = unique("totp")
    server.create_user(username, f"{username}@example.com")
    b.signin(username, PASSWORD)
    b.wait_path("/account")

    b.open("/account/two-factor")
    assert re.search(r"\boff\b", b.text("p#two-factor-status")), b.text("p#two-factor-status")
    b.submit("#begin-totp")
    qr = b.el("img#qr")
    b.wait(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth",
                                      qr), "img#qr did not load (CSP img-src or a bad data URI)")
    secret = b.text("code#totp-secret")
    assert re.fullmatch(r"[A-Z2-7 ]{16,}=*", secret), f"code#totp-secret shows {secret!r}"
    b.shot("two-factor")

    step = totp_step()
    enrol_code = totp(secret, step)
    b.fill("#code", enrol_code)
    b.submit("#confirm-totp")
    recovery = [li.text.strip() for li in b.els("ul#recovery-codes li")]
    assert recovery and all(recovery), f"no recovery codes shown: {b.body_text()[:500]}"
    assert re.search(r"\bon\b", b.text("p#two-factor-status")), b.text("p#two-factor-status")
    b.shot("recovery-codes")
    b.signout()

    # The password alone leads to the second-factor page; the code already used is refused.
    second_factor_page(b, username)
    b.shot("second-factor")
    b.fill("#code", enrol_code)
    b.submit("#verify-code")
    assert b.path != "/account", "the enrolment code was accepted a second time"
    assert b.has("p#code-error") or b.has("p#form-error"), "no error for a replayed code"

    # A recovery code signs in (the same challenge: one wrong code does not end it).
    b.fill("#code", recovery[0])
    b.submit("#verify-code")
    b.wait_path("/account")
    b.signout()

    # The authenticator's code of the next 30-second step signs in.
    second_factor_page(b, username)
    step = wait_for_next_step(step)
    b.fill("#code", totp(secret, step))
    b.submit("#verify-code")
    b.wait_path("/account")
    assert username in b.body_text()
