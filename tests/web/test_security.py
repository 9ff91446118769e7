"""Browser-side sanity: every page answers with a Content-Security-Policy that allows no inline
script or style, forms refuse a POST without the CSRF token or from another site, and the main
pages leave no error in the browser's console (a CSP violation, a failed load, a script
error)."""

from __future__ import annotations

import re

import requests

from conftest import PASSWORD, unique

ANONYMOUS_PAGES = ["/signin", "/signup", "/verify", "/forgot", "/reset"]
ACCOUNT_PAGES = ["/account", "/account/password", "/account/sessions", "/account/tokens",
                 "/account/two-factor"]
CONSOLE_PAGES = ["/admin/users", "/admin/audit", "/admin/mail", "/admin/roles", "/admin/orgs"]
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no csrf field"
    return match.group(1)


def requests_signin(server, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(server.url("/signin"), timeout=30)
    r = s.post(server.url("/signin"), data={"csrf": csrf_of(page.text), "login": username,
                                            "password": PASSWORD, "next": ""}, timeout=30)
    assert r.status_code == 200 and urlpath(r.url) == "/account", (r.status_code, r.url)
    return s


def urlpath(url: str) -> str:
    return requests.utils.urlparse(url).path


def test_csp_has_no_unsafe_inline_on_any_page(server):
    admin = unique("root")
    server.create_user(admin, f"{admin}@example.com", admin=True)
    s = requests_signin(server, admin)
    for path in ANONYMOUS_PAGES + ACCOUNT_PAGES + CONSOLE_PAGES:
        client = requests if path in ANONYMOUS_PAGES else s
        r = client.get(server.url(path), timeout=30, allow_redirects=False)
        assert r.status_code == 200, f"GET {path}: {r.status_code}"
        csp = r.headers.get("Content-Security-Policy", "")
        assert csp, f"GET {path} has no Content-Security-Policy"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, f"{path}: {csp}"
        assert re.search(r"script-src 'self'(;|$)", csp), f"{path}: script-src is not 'self': {csp}"
        assert "frame-ancestors 'none'" in csp, f"{path}: {csp}"


def test_forms_refuse_a_post_without_the_token_or_from_another_site(server):
    username = unique("csrf")
    server.create_user(username, f"{username}@example.com")
    s = requests.Session()
    token = csrf_of(s.get(server.url("/signin"), timeout=30).text)
    form = {"login": username, "password": PASSWORD, "next": ""}
    r = s.post(server.url("/signin"), data=form, timeout=30)
    assert r.status_code == 403, f"no csrf field: {r.status_code}"
    r = s.post(server.url("/signin"), data={**form, "csrf": token + "x"}, timeout=30)
    assert r.status_code == 403, f"a wrong csrf field: {r.status_code}"
    r = s.post(server.url("/signin"), data={**form, "csrf": token},
               headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert r.status_code == 403, f"a cross-site POST: {r.status_code}"
    r = s.post(server.url("/signin"), data={**form, "csrf": token}, timeout=30)
    assert r.status_code == 200 and urlpath(r.url) == "/account", "the right token was refused"


def test_main_pages_leave_no_console_error(server, new_browser):
    admin = unique("root")
    server.create_user(admin, f"{admin}@example.com", admin=True)
    b = new_browser(server, "console")
    problems = []
    for path in ANONYMOUS_PAGES:
        b.open(path)
        b.el("main h1")
        problems += [f"{path}: {e['message']}" for e in b.severe_console()]
    b.signin(admin, PASSWORD)
    b.wait_path("/account")
    for path in ACCOUNT_PAGES + CONSOLE_PAGES:
        b.open(path)
        b.el("main h1")
        problems += [f"{path}: {e['message']}" for e in b.severe_console()]
    # The enrolment page shows the QR code as a data: image.
    b.open("/account/two-factor")
    b.submit("#begin-totp")
    b.el("img#qr")
    problems += [f"two-factor enrolment: {e['message']}" for e in b.severe_console()]
    assert not problems, "console errors:\n" + "\n".join(problems)
