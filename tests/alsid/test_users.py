"""pyTenable's `tenable.ie` users API against a real Gatehouse process.

pyTenable reads every answer through marshmallow schemas that reject unknown keys and
nulls where they are not allowed, so each successful call here also checks the shape.
"""

from __future__ import annotations

import pytest
from tenable.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    RequestConflictError,
    UnauthorizedError,
)

from conftest import PASSWORD, unique

NEW_PASSWORD = "plum orchard kettle drum"


def test_info_describes_the_admin_and_their_permissions(admin):
    me = admin.tie.users.info()
    assert me["email"] == admin.email
    assert me["name"] == admin.username  # no given name yet: the username
    assert me["provider"] == "alsid"
    assert me["internal"] is False
    assert me["active"] is True
    assert me["eula_version"] == 1
    assert isinstance(me["id"], int) and 0 < me["id"] < 2**53
    admin_role = next(r for r in me["roles"] if r["id"] == 1)
    assert admin_role["permissions"] == [
        {"entity_name": "*", "action": "*", "entity_ids": [], "dynamic_id": None}
    ]


def test_info_for_a_plain_user_shows_own_scoped_permissions(plain):
    me = plain.tie.users.info()
    assert me["email"] == plain.email
    assert [r["id"] for r in me["roles"]] == [2]
    permissions = me["roles"][0]["permissions"]
    assert {"entity_name": "user", "action": "read", "entity_ids": [],
            "dynamic_id": "self-user-id"} in permissions


def test_a_bad_or_missing_key_is_unauthorized(server):
    with pytest.raises(UnauthorizedError):
        server.client("gh_not_a_real_key").users.info()
    with pytest.raises(UnauthorizedError):
        server.client("").users.list()


def test_create_then_details_and_list(admin, new_user):
    local = unique("c")
    created = new_user(name="Carol", surname="Jones", email=f"{local}@Example.com",
                       department="Sales", biography="Sells things.", active=True)
    assert created["name"] == "Carol"
    assert created["surname"] == "Jones"
    assert created["email"] == f"{local}@example.com"
    assert created["department"] == "Sales"
    assert created["biography"] == "Sells things."
    assert created["active"] is True
    assert created["roles"] == [2]
    assert created["identifier"] == local
    assert created["provider"] == "alsid"
    assert created["picture"] is None

    details = admin.tie.users.details(str(created["id"]))
    assert details == {k: created[k] for k in
                       ("id", "surname", "name", "email", "department", "biography",
                        "active", "picture", "roles")}

    listed = admin.tie.users.list()
    assert created in listed
    assert any(u["email"] == admin.email for u in listed)


def test_created_users_can_sign_in_and_use_their_token(server, new_user):
    created = new_user()
    r = server.login(created["email"], PASSWORD)
    assert r.status_code == 200, r.text
    token = r.json()["authToken"]
    me = server.client(token).users.info()
    assert me["id"] == created["id"]


def test_create_refuses_weak_passwords_and_taken_addresses(admin, new_user):
    with pytest.raises(BadRequestError):
        new_user(password="password")
    taken = new_user()
    with pytest.raises(RequestConflictError):
        new_user(email=taken["email"])


def test_update_changes_only_what_is_given(admin, new_user):
    created = new_user(surname="Before", department="Ops")
    updated = admin.tie.users.update(str(created["id"]), name="EDITED", surname=None)
    assert updated["name"] == "EDITED"
    assert updated["surname"] is None
    assert updated["department"] == "Ops"
    assert updated["id"] == created["id"]

    disabled = admin.tie.users.update(str(created["id"]), active=False)
    assert disabled["active"] is False
    assert admin.tie.users.details(str(created["id"]))["active"] is False
    enabled = admin.tie.users.update(str(created["id"]), active=True)
    assert enabled["active"] is True


def test_update_user_roles_replaces_them(admin, new_user, server):
    created = new_user()
    assert sorted(admin.tie.users.update_user_roles(str(created["id"]), [1, 2])["roles"]) == [1, 2]
    token = server.login(created["email"], PASSWORD).json()["authToken"]
    assert server.client(token).users.list()  # an admin now
    assert admin.tie.users.update_user_roles(str(created["id"]), [2]) == {"roles": [2]}
    with pytest.raises(BadRequestError):
        admin.tie.users.update_user_roles(str(created["id"]), [999])


def test_delete_then_details_is_not_found(admin, new_user):
    created = new_user()
    assert admin.tie.users.delete(str(created["id"])) is None
    with pytest.raises(NotFoundError):
        admin.tie.users.details(str(created["id"]))
    with pytest.raises(NotFoundError):
        admin.tie.users.delete(str(created["id"]))
    with pytest.raises(NotFoundError):
        admin.tie.users.details("not-a-number")


def test_plain_users_cannot_list_create_or_touch_others(plain, admin):
    with pytest.raises(ForbiddenError):
        plain.tie.users.list()
    with pytest.raises(ForbiddenError):
        plain.tie.users.create(name="X", email=f"{unique('x')}@example.com", password=PASSWORD)
    admin_id = str(admin.tie.users.info()["id"])
    with pytest.raises(ForbiddenError):
        plain.tie.users.details(admin_id)
    with pytest.raises(ForbiddenError):
        plain.tie.users.update(admin_id, name="pwned")
    with pytest.raises(ForbiddenError):
        plain.tie.users.delete(admin_id)
    # Their own record is theirs to read and rename.
    own_id = str(plain.tie.users.info()["id"])
    assert plain.tie.users.details(own_id)["email"] == plain.email
    assert plain.tie.users.update(own_id, name="Me")["name"] == "Me"


def test_change_password(server, new_user):
    created = new_user()
    token = server.login(created["email"], PASSWORD).json()["authToken"]
    tie = server.client(token)
    with pytest.raises(BadRequestError):
        tie.users.change_password(old_password="not the password", new_password=NEW_PASSWORD)
    with pytest.raises(BadRequestError):
        tie.users.change_password(old_password=PASSWORD, new_password="password")
    assert tie.users.change_password(old_password=PASSWORD, new_password=NEW_PASSWORD) is None
    assert server.login(created["email"], PASSWORD).status_code == 401
    assert server.login(created["email"], NEW_PASSWORD).status_code == 200
    # The session that changed it goes on working.
    assert tie.users.info()["id"] == created["id"]


def test_forgotten_password_then_retrieve_with_the_mailed_link(server, new_user):
    created = new_user()
    anonymous = server.client(None)
    assert anonymous.users.create_password(email=created["email"]) is None
    # No account, same answer.
    assert anonymous.users.create_password(email=f"{unique('nobody')}@example.com") is None

    token = server.reset_link_token(created["email"])
    with pytest.raises(BadRequestError):
        anonymous.users.retrieve_password(token="not-the-token", new_password=NEW_PASSWORD)
    assert anonymous.users.retrieve_password(token=token, new_password=NEW_PASSWORD) is None
    assert server.login(created["email"], NEW_PASSWORD).status_code == 200
    with pytest.raises(BadRequestError):
        anonymous.users.retrieve_password(token=token, new_password="another fine passphrase")
