"""An administrator: the first one made through the one-time /setup link the server prints,
then the console: find a user, disable the account, see the audit event; the disabled user's
session ends and signing in is refused."""

from __future__ import annotations

import re

from selenium.webdriver.support.ui import Select

from conftest import PASSWORD, unique


def test_admin_disables_a_user_and_sees_the_audit_event(server, new_browser):
    username = unique("target")
    server.create_user(username, f"{username}@example.com")
    user = new_browser(server, "user")
    user.signin(username, PASSWORD)
    user.wait_path("/account")

    admin = new_browser(server, "admin")
    admin_name = unique("root")
    admin.open(server.setup_link())
    admin.el("#create-admin")
    admin.shot("setup")
    admin.fill("#username", admin_name)
    admin.fill("#email", f"{admin_name}@example.com")
    admin.fill("#password", PASSWORD)
    admin.submit("#create-admin")
    assert admin.path.startswith("/admin"), f"/setup went to {admin.driver.current_url}"
    assert admin_name in admin.body_text(), "the new administrator is not signed in"

    # The link works once.
    other = new_browser(server, "late")
    other.open(server.setup_link())
    assert not other.has("#create-admin"), "the setup link still works after it was used"

    admin.open("/admin/users")
    admin.fill("#q", username)
    Select(admin.el("select#status")).select_by_value("any")
    admin.submit("#search")
    links = [a for a in admin.els("table#users tr.user a.user-link") if a.text.strip() == username]
    assert links, f"/admin/users?q={username} does not list the user"
    admin.shot("admin-users")
    links[0].click()
    admin.wait(lambda d: re.fullmatch(r"/admin/users/[^/]+", admin.path)
               and admin.has("#user-status"), "the user link did not open the user's page")
    assert "active" in admin.text("#user-status").lower(), admin.text("#user-status")
    admin.shot("admin-user")

    admin.submit("#disable-user")
    assert "disabled" in admin.text("#user-status").lower(), admin.text("#user-status")
    assert admin.has("#enable-user"), "no #enable-user on a disabled account"

    admin.open("/admin/audit")
    admin.fill("#user", username)
    admin.submit("#filter")
    events = [tuple(tr.find_element("css selector", f"td.{c}").text.strip()
                    for c in ("action", "outcome", "detail"))
              for tr in admin.els("table#audit tr.event")]
    # The core records disabling as `user.update` with the detail `disabled`.
    assert any("disable" in action.lower() or
               (action == "user.update" and "disabled" in detail.lower())
               for action, _outcome, detail in events), \
        f"/admin/audit?user={username} shows no disable event: {events}"
    admin.shot("admin-audit")

    admin.open("/admin/mail")
    for dd in ("#mail-queued", "#mail-sent", "#mail-failed"):
        assert re.fullmatch(r"\d+", admin.text(f"dd{dd}")), f"dd{dd}: {admin.text(f'dd{dd}')!r}"
    admin.shot("admin-mail")
    admin.open("/admin/roles")
    admin.el("table#roles")
    admin.shot("admin-roles")
    admin.open("/admin/orgs")
    admin.el("table#orgs")
    admin.shot("admin-orgs")

    # The disabled user's session is over, and a new sign-in is refused with an error.
    user.open("/account")
    assert user.path != "/account", "a disabled user's session still opens /account"
    user.signin(username, PASSWORD)
    assert user.path != "/account", "a disabled user signed in"
    assert user.has("p#form-error") or user.has("p#password-error") or user.has("p#login-error"), \
        f"no error shown to the disabled user: {user.body_text()[:500]}"
