"""The published SDK (`cloudsmith_api` 2.0.42, `UserApi`) against a real Gatehouse process.

The SDK checks answers against its models (`client_side_validation` is on by default), so
each successful call also checks the shape: no `""` names, `results` present, parseable
`created` dates.
"""

from __future__ import annotations

import datetime
import json

import cloudsmith_api
import pytest
from cloudsmith_api.rest import ApiException

from conftest import PASSWORD, current_step, sdk, wrong_code


def error(excinfo) -> dict:
    return json.loads(excinfo.value.body)


# --------------------------------------------------------------------- user_self


def test_user_self_anonymous(server):
    for host in (server.host, server.base_url):  # with /v1, and the SDK's bare-origin default
        me = sdk(server, host=host).user_self()
        assert me.authenticated is False
        assert (me.email, me.name, me.slug, me.slug_perm, me.self_url, me.profile_url) == \
            (None, None, None, None, None, None)


def test_user_self_with_a_key(server, account):
    for host in (server.host, server.base_url):
        me = sdk(server, key=account.key, host=host).user_self()
        assert me.authenticated is True
        assert me.email == account.email
        assert me.name == account.username  # no profile name: the username, never ""
        assert me.slug == account.username
        assert me.slug_perm == account.user_id.replace("-", "")
        assert me.self_url == f"{host}/user/self/"
        assert me.profile_url is None


def test_user_self_with_basic_credentials(server, account):
    for login in (account.username, account.email):
        me = sdk(server, username=login, password=PASSWORD).user_self()
        assert me.authenticated is True
        assert me.slug == account.username


def test_a_bad_key_or_password_is_401_with_a_detail(server, account):
    for api in (sdk(server, key="gh_not_a_real_key"),
                sdk(server, username=account.username, password="wrong password")):
        with pytest.raises(ApiException) as excinfo:
            api.user_self()
        assert excinfo.value.status == 401
        assert error(excinfo)["detail"]


# --------------------------------------------------------------------- user_tokens_*


def test_user_tokens_list(server, account):
    page = sdk(server, key=account.key).user_tokens_list()
    assert isinstance(page, cloudsmith_api.InlineResponse2004)
    assert len(page.results) == 1
    token = page.results[0]
    assert isinstance(token, cloudsmith_api.UserAuthenticationToken)
    assert token.key.startswith("gh_") and "..." in token.key and token.key != account.key
    assert len(token.slug_perm) == 32
    assert isinstance(token.created, datetime.datetime) and token.created.tzinfo is not None
    # page/page_size are honoured (one token: page 1 of size 1; page 2 does not exist).
    assert len(sdk(server, key=account.key).user_tokens_list(page=1, page_size=1).results) == 1
    with pytest.raises(ApiException) as excinfo:
        sdk(server, key=account.key).user_tokens_list(page=2, page_size=1)
    assert excinfo.value.status == 404
    assert error(excinfo)["detail"] == "Invalid page."


def test_user_tokens_create_once_then_already_created(server, account):
    api = sdk(server, key=account.key)
    created = api.user_tokens_create()
    assert created.key.startswith("gh_") and "..." not in created.key
    assert sdk(server, key=created.key).user_self().slug == account.username
    with pytest.raises(ApiException) as excinfo:
        api.user_tokens_create()
    assert excinfo.value.status == 400
    assert "User has already created an API key" in error(excinfo)["detail"]
    # The new key is listed first.
    assert api.user_tokens_list().results[0].slug_perm == created.slug_perm


def test_user_tokens_refresh_rotates_the_key(server, account):
    api = sdk(server, key=account.key)
    slug = api.user_tokens_list().results[0].slug_perm
    refreshed = api.user_tokens_refresh(slug)
    assert refreshed.slug_perm == slug
    assert refreshed.key.startswith("gh_") and refreshed.key != account.key
    with pytest.raises(ApiException) as excinfo:
        sdk(server, key=account.key).user_self()
    assert excinfo.value.status == 401
    assert sdk(server, key=refreshed.key).user_self().authenticated is True
    # The new key works on the native API too.
    assert server.native("GET", "/auth/v1/me", refreshed.key).status_code == 200
    with pytest.raises(ApiException) as excinfo:
        sdk(server, key=refreshed.key).user_tokens_refresh("0" * 32)
    assert excinfo.value.status == 404
    assert error(excinfo)["detail"] == "Not found."


def test_token_calls_need_credentials(server):
    api = sdk(server)
    for call in (api.user_tokens_list, api.user_tokens_create):
        with pytest.raises(ApiException) as excinfo:
            call()
        assert excinfo.value.status == 401
        assert error(excinfo)["detail"]


# --------------------------------------------------------------------- user_token_create


def test_user_token_create_with_basic(server, account):
    token = sdk(server, username=account.email, password=PASSWORD).user_token_create()
    assert isinstance(token, cloudsmith_api.UserAuthToken)
    assert token.token.startswith("gh_")
    assert sdk(server, key=token.token).user_self().slug == account.username
    assert server.native("GET", "/auth/v1/me", token.token).status_code == 200


def test_user_token_create_with_the_body(server, account):
    data = cloudsmith_api.UserAuthTokenRequest(email=account.email, password=PASSWORD)
    token = sdk(server).user_token_create(data=data)
    assert sdk(server, key=token.token).user_self().email == account.email


def test_user_token_create_with_a_wrong_password(server, account):
    data = cloudsmith_api.UserAuthTokenRequest(email=account.email, password="wrong password")
    with pytest.raises(ApiException) as excinfo:
        sdk(server).user_token_create(data=data)
    assert excinfo.value.status == 401
    assert error(excinfo)["detail"]


def test_user_token_create_with_two_factor(server, totp_account):
    acct = totp_account
    data = cloudsmith_api.UserAuthTokenRequest(email=acct.email, password=PASSWORD)
    with pytest.raises(ApiException) as excinfo:
        sdk(server).user_token_create(data=data)
    assert excinfo.value.status == 422
    body = error(excinfo)
    assert body["two_factor_required"] is True
    challenge = body["two_factor_token"]

    step = current_step()
    with pytest.raises(ApiException) as excinfo:
        sdk(server).user_token_create(
            data={"totp_token": wrong_code(acct.code(step)), "two_factor_token": challenge})
    assert excinfo.value.status == 400
    assert error(excinfo)["fields"]["totp_token"]

    token = sdk(server).user_token_create(
        data={"totp_token": acct.code(step), "two_factor_token": challenge})
    assert sdk(server, key=token.token).user_self().slug == acct.username

    # A password alone (HTTP basic) is never enough for this account...
    with pytest.raises(ApiException) as excinfo:
        sdk(server, username=acct.username, password=PASSWORD).user_self()
    assert excinfo.value.status == 401
    assert "two-factor" in error(excinfo)["detail"]
    # ... but password and a fresh code in one request are (the model has all three).
    data = cloudsmith_api.UserAuthTokenRequest(email=acct.username, password=PASSWORD,
                                               totp_token=acct.code(step + 1))
    token = sdk(server).user_token_create(data=data)
    assert token.token.startswith("gh_")
