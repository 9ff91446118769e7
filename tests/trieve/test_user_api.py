"""trieve-python-client 1.0.0's `UserApi` against a real Gatehouse process.

The SDK reads every answer into pydantic models with strict types (`StrictStr`, `StrictInt`,
`StrictBool`) and required fields, so each successful call here also checks the shape of
the JSON; the assertions then check the values.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
import trieve_python_client as tc
from trieve_python_client.exceptions import (
    BadRequestException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)

NIL_UUID = "00000000-0000-0000-0000-000000000000"


def naive(value) -> None:
    """Trieve's timestamps are `NaiveDateTime`s: the SDK reads them without a timezone."""
    assert isinstance(value, datetime), value
    assert value.tzinfo is None, value


def native_or_skip(response, what: str):
    """The native files/chunks endpoints set up data; skip where this build lacks them."""
    if response.status_code == 404 and "no such endpoint" in response.text:
        pytest.skip(f"this build has no native {what} endpoint; the Rust tests cover it")
    assert response.status_code in (200, 201), response.text
    return response.json()


# ---------------------------------------------------------------------------
# Keys


def test_set_user_api_key_returns_a_key_that_works(server, alice):
    created = alice.api.set_user_api_key(tc.SetUserApiKeyRequest(name="ci"))
    assert isinstance(created, tc.SetUserApiKeyResponse)
    assert created.api_key.startswith("gh_")
    me = server.user_api(created.api_key).update_user(tc.UpdateUserData())
    assert isinstance(me, tc.SlimUser)
    assert me.id == alice.id
    assert me.email == alice.email


def test_a_missing_or_wrong_key_is_unauthorized(server, alice):
    with pytest.raises(UnauthorizedException):
        server.user_api(None).update_user(tc.UpdateUserData())
    with pytest.raises(UnauthorizedException):
        server.user_api("gh_not_a_real_key").set_user_api_key(
            tc.SetUserApiKeyRequest(name="x"))
    with pytest.raises(UnauthorizedException):
        server.user_api("not even a key").get_user_files_handler(alice.id)


def test_the_key_may_also_come_as_a_bearer(server, alice):
    me = server.user_api(f"Bearer {alice.key}").update_user(tc.UpdateUserData())
    assert me.id == alice.id


def test_delete_user_api_key_returns_the_remaining_keys(server, alice):
    first = alice.api.set_user_api_key(tc.SetUserApiKeyRequest(name="first")).api_key
    second = alice.api.set_user_api_key(tc.SetUserApiKeyRequest(name="second")).api_key

    # By the key itself: all the SDK ever learns of a key.
    remaining = alice.api.delete_user_api_key(tc.DeleteUserApiKeyRequest(api_key_id=first))
    assert all(isinstance(k, tc.ApiKeyDTO) for k in remaining)
    assert sorted(k.name for k in remaining) == ["second", "trieve-suite"]
    for key in remaining:
        assert key.user_id == alice.id
        uuid.UUID(key.id)
        naive(key.created_at)
        naive(key.updated_at)
    with pytest.raises(UnauthorizedException):
        server.user_api(first).update_user(tc.UpdateUserData())

    # By the id the previous answer listed.
    second_id = next(k.id for k in remaining if k.name == "second")
    remaining = alice.api.delete_user_api_key(
        tc.DeleteUserApiKeyRequest(api_key_id=second_id))
    assert [k.name for k in remaining] == ["trieve-suite"]
    with pytest.raises(UnauthorizedException):
        server.user_api(second).update_user(tc.UpdateUserData())
    # The caller's own key still works.
    assert alice.api.update_user(tc.UpdateUserData()).id == alice.id


def test_delete_user_api_key_refuses_unknown_and_foreign_keys(alice, bob):
    with pytest.raises(NotFoundException):
        alice.api.delete_user_api_key(
            tc.DeleteUserApiKeyRequest(api_key_id=str(uuid.uuid4())))
    with pytest.raises(NotFoundException):
        alice.api.delete_user_api_key(tc.DeleteUserApiKeyRequest(api_key_id=bob.key))
    with pytest.raises(BadRequestException) as refused:
        alice.api.delete_user_api_key(tc.DeleteUserApiKeyRequest(api_key_id="nonsense"))
    # A 400 body is the SDK's DefaultError.
    assert isinstance(refused.value.data, tc.DefaultError)
    assert "api_key_id" in refused.value.data.message
    # Bob's key survived.
    assert bob.api.update_user(tc.UpdateUserData()).id == bob.id


# ---------------------------------------------------------------------------
# update_user


def test_update_user_changes_the_own_profile(alice):
    new_username = alice.username + "x"
    me = alice.api.update_user(tc.UpdateUserData(
        name="Alice Liddell", username=new_username, website="https://alice.example.com",
        visible_email=False))
    assert isinstance(me, tc.SlimUser)
    assert me.id == alice.id
    assert me.email == alice.email
    assert me.name == "Alice Liddell"
    assert me.username == new_username
    assert me.website == "https://alice.example.com"
    assert me.visible_email is False  # stored; she still sees her own address
    assert me.orgs == [] and me.user_orgs == []

    # Only the fields sent change.
    again = alice.api.update_user(tc.UpdateUserData(website="https://other.example.com"))
    assert again.name == "Alice Liddell"
    assert again.website == "https://other.example.com"
    assert again.visible_email is False


def test_a_hidden_address_is_not_shown_to_an_administrator(alice, root):
    alice.api.update_user(tc.UpdateUserData(visible_email=False))
    theirs = root.api.get_user_with_chunks_by_id(alice.id, 1)
    assert theirs.visible_email is False
    assert theirs.email is None
    assert alice.api.get_user_with_chunks_by_id(alice.id, 1).email == alice.email
    alice.api.update_user(tc.UpdateUserData(visible_email=True))
    assert root.api.get_user_with_chunks_by_id(alice.id, 1).email == alice.email


def test_update_user_refuses_bad_input(alice, bob):
    with pytest.raises(BadRequestException) as refused:
        alice.api.update_user(tc.UpdateUserData(website="javascript:alert(1)"))
    assert "website" in refused.value.data.message
    with pytest.raises(BadRequestException):
        alice.api.update_user(tc.UpdateUserData(username=bob.username))
    with pytest.raises(BadRequestException):
        alice.api.update_user(tc.UpdateUserData(user_id=bob.id, role=1))  # no TR-Organization


def test_owners_change_roles_and_members_cannot(server, make_account):
    owner = make_account("owner")
    carol = make_account("carol")
    dave = make_account("dave")
    org = server.create_org(f"Acme {uuid.uuid4().hex[:6]}")
    server.add_member(org, owner.username, "owner")
    server.add_member(org, carol.username, "member")
    server.add_member(org, dave.username, "member")
    in_org = {"TR-Organization": org}

    mine = owner.api.update_user(tc.UpdateUserData(), _headers=in_org)
    assert [o.id for o in mine.orgs] == [org]
    assert mine.orgs[0].name.startswith("Acme")
    naive(mine.orgs[0].created_at)
    naive(mine.orgs[0].updated_at)
    assert mine.user_orgs[0].organization_id == org
    assert mine.user_orgs[0].user_id == owner.id
    assert mine.user_orgs[0].role == 2

    carol_now = owner.api.update_user(tc.UpdateUserData(user_id=carol.id, role=1),
                                      _headers=in_org)
    assert carol_now.id == carol.id
    assert [(m.organization_id, m.role) for m in carol_now.user_orgs] == [(org, 1)]
    # Carol sees her new role in her own answer.
    assert carol.api.update_user(tc.UpdateUserData()).user_orgs[0].role == 1

    with pytest.raises(ForbiddenException):
        dave.api.update_user(tc.UpdateUserData(user_id=carol.id, role=0), _headers=in_org)
    with pytest.raises(ForbiddenException):
        dave.api.update_user(tc.UpdateUserData(role=2), _headers=in_org)
    assert carol.api.update_user(tc.UpdateUserData()).user_orgs[0].role == 1

    # An organisation the caller is not in.
    with pytest.raises(ForbiddenException):
        dave.api.update_user(tc.UpdateUserData(),
                             _headers={"TR-Organization": server.create_org("Elsewhere")})


# ---------------------------------------------------------------------------
# Files and chunks


def test_get_user_files_handler_for_a_user_without_files(alice):
    assert alice.api.get_user_files_handler(alice.id) == []


def test_get_user_files_handler_lists_uploads(server, alice):
    created = native_or_skip(server.native(
        "POST", "/files", alice.key,
        files={"file": ("notes.txt", b"hello", "text/plain")},
        data={"link": "https://example.com/doc", "tag_set": "a,b", "metadata": '{"k": "v"}'},
    ), "files")
    files = alice.api.get_user_files_handler(alice.id)
    assert len(files) == 1
    f = files[0]
    assert isinstance(f, tc.File)
    assert f.id == created["id"]
    assert f.file_name == "notes.txt"
    assert f.size == 5
    assert f.user_id == alice.id
    assert f.dataset_id == NIL_UUID
    assert f.link == "https://example.com/doc"
    assert f.tag_set == "a,b"
    assert f.metadata == {"k": "v"}
    assert f.time_stamp is None
    naive(f.created_at)
    naive(f.updated_at)


def test_another_users_files_are_forbidden_except_to_admins(alice, bob, root):
    with pytest.raises(ForbiddenException):
        bob.api.get_user_files_handler(alice.id)
    assert root.api.get_user_files_handler(alice.id) == []
    with pytest.raises(NotFoundException):
        root.api.get_user_files_handler(str(uuid.uuid4()))


def test_get_user_with_chunks_by_id_for_a_user_without_chunks(alice):
    page = alice.api.get_user_with_chunks_by_id(alice.id, 1)
    assert isinstance(page, tc.UserDTOWithChunks)
    assert page.id == alice.id
    assert page.email == alice.email
    assert page.username == alice.username
    assert page.visible_email is True
    assert page.total_chunks_created == 0
    assert page.chunks == []
    naive(page.created_at)


def test_get_user_with_chunks_by_id_pages_by_ten(server, alice):
    for n in range(12):
        native_or_skip(server.native("POST", "/chunks", alice.key, json={
            "content": f"chunk {n}", "chunk_html": f"<p>{n}</p>", "link": f"https://e.x/{n}",
            "metadata": {"n": n}, "tag_set": "t", "weight": n + 0.5,
            "tracking_id": f"track-{n}",
        }), "chunks")

    first = alice.api.get_user_with_chunks_by_id(alice.id, 1)
    second = alice.api.get_user_with_chunks_by_id(alice.id, 2)
    past_the_end = alice.api.get_user_with_chunks_by_id(alice.id, 3)
    assert [len(p.chunks) for p in (first, second, past_the_end)] == [10, 2, 0]
    assert {p.total_chunks_created for p in (first, second, past_the_end)} == {12}
    contents = [c.content for c in first.chunks + second.chunks]
    assert sorted(contents) == sorted(f"chunk {n}" for n in range(12))

    chunk = next(c for c in first.chunks if c.content == "chunk 11")
    assert isinstance(chunk, tc.ChunkMetadataWithFileData)
    assert chunk.qdrant_point_id == chunk.id
    assert chunk.chunk_html == "<p>11</p>"
    assert chunk.link == "https://e.x/11"
    assert chunk.metadata == {"n": 11}
    assert chunk.tag_set == "t"
    assert chunk.tracking_id == "track-11"
    assert chunk.weight == 11.5
    assert chunk.file_id is None
    naive(chunk.created_at)
    naive(chunk.updated_at)
    assert isinstance(chunk.author, tc.UserDTO)
    assert chunk.author.id == alice.id


def test_chunk_pages_start_at_one_and_are_the_owners(alice, bob, root):
    with pytest.raises(BadRequestException) as refused:
        alice.api.get_user_with_chunks_by_id(alice.id, 0)
    assert "page" in refused.value.data.message
    with pytest.raises(ForbiddenException):
        bob.api.get_user_with_chunks_by_id(alice.id, 1)
    page = root.api.get_user_with_chunks_by_id(alice.id, 1)
    assert page.id == alice.id
    with pytest.raises(NotFoundException):
        root.api.get_user_with_chunks_by_id(str(uuid.uuid4()), 1)
