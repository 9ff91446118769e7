"""Gatehouse's FreeChat account API, driven by the real freechat-sdk 0.1.0 client."""

from __future__ import annotations

import secrets
import string
import struct
import time
import zlib
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import requests

import freechat_sdk as fc
from freechat_sdk.exceptions import (
    BadRequestException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)

from conftest import TOKEN_RE, Account, api_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


# ---------------------------------------------------------------------------
# helpers


def make_png(width: int, height: int) -> bytes:
    """A valid RGB PNG (a small gradient), built with zlib + struct only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(
        b"\x00" + b"".join(bytes(((x * 40) % 256, (y * 40) % 256, 128)) for x in range(width))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE, f"not a PNG: starts with {data[:16]!r}"
    assert data[12:16] == b"IHDR", "PNG without IHDR first"
    return struct.unpack(">II", data[16:24])


def tamper(token: str, index: int) -> str:
    """The token with one base62 character replaced (same length, still well-formed)."""
    c = token[index]
    repl = BASE62[(BASE62.index(c) + 7) % 62]
    return token[:index] + repl + token[index + 1:]


def random_token_like(token: str) -> str:
    """A well-formed token of the same shape that was never issued."""
    body_len = len(token) - 3
    return "gh_" + "".join(secrets.choice(BASE62) for _ in range(body_len))


def assert_refused(api: fc.AccountApi) -> None:
    with pytest.raises(UnauthorizedException) as ei:
        api.get_user_details()
    assert ei.value.status == 401


def assert_masks_ok(masks, secrets_: list[str]) -> None:
    assert isinstance(masks, list)
    for m in masks:
        assert isinstance(m, str) and m, f"bad mask {m!r}"
        for s in secrets_:
            assert m != s, "list_tokens returned a token secret"
            assert s not in m, f"list_tokens entry {m!r} contains a token secret"
            assert len(m) < len(s) or m != s


def as_utc_naive(d: datetime) -> datetime:
    if d.tzinfo is not None:
        d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return d


# ---------------------------------------------------------------------------
# create_token / create_token_with_duration


def test_create_token_returns_plain_token_that_authenticates(account: Account):
    resp = account.api.create_token_with_http_info()
    assert resp.status_code == 200
    content_type = resp.headers.get("content-type") or resp.headers.get("Content-Type")
    assert content_type is not None and content_type.startswith("text/plain"), content_type
    new = resp.data
    assert isinstance(new, str)
    assert resp.raw_data.decode() == new, "token body must be the raw, unquoted token"
    assert TOKEN_RE.match(new), f"new token {new!r} is not gh_ + base62"
    assert new != account.token

    details = account.api_with(new).get_user_details()
    assert details.username == account.username
    assert details.email == account.email

    again = account.api.create_token()
    assert TOKEN_RE.match(again)
    assert again not in (new, account.token)
    # A token made with the API can itself make tokens.
    third = account.api_with(new).create_token()
    assert account.api_with(third).get_user_basic(account.username).username == account.username


def test_create_token_with_duration_expires(account: Account):
    short = account.api.create_token_with_duration(2)
    assert isinstance(short, str) and TOKEN_RE.match(short), short
    assert short != account.token
    short_api = account.api_with(short)
    assert short_api.get_user_details().username == account.username
    masks_before = account.api.list_tokens()
    assert len(masks_before) == 2
    assert_masks_ok(masks_before, [account.token, short])

    time.sleep(3.2)

    assert_refused(short_api)
    with pytest.raises(UnauthorizedException):
        short_api.list_tokens()
    masks_after = account.api.list_tokens()
    assert len(masks_after) == 1, f"expired token still listed: {masks_after!r}"
    assert set(masks_after) < set(masks_before)
    # The long-lived token is unaffected.
    assert account.api.get_user_details().username == account.username


@pytest.mark.parametrize("duration", [0, -1, -3600])
def test_create_token_with_non_positive_duration_is_bad_request(account: Account, duration: int):
    with pytest.raises(BadRequestException) as ei:
        account.api.create_token_with_duration(duration)
    assert ei.value.status == 400
    # Nothing was created.
    assert len(account.api.list_tokens()) == 1


# ---------------------------------------------------------------------------
# list_tokens


def test_list_tokens_masks_each_valid_token(account: Account):
    first = account.api.list_tokens()
    assert len(first) == 1, f"fresh user with one token lists {first!r}"
    assert_masks_ok(first, [account.token])

    t1 = account.api.create_token()
    t2 = account.api.create_token_with_duration(3600)
    masks = account.api.list_tokens()
    assert len(masks) == 3, masks
    assert len(set(masks)) == 3, f"masks must tell tokens apart: {masks!r}"
    assert set(first) < set(masks)
    assert_masks_ok(masks, [account.token, t1, t2])

    # The same list whichever of the user's tokens asks.
    assert sorted(account.api_with(t1).list_tokens()) == sorted(masks)
    assert sorted(account.api_with(t2).list_tokens()) == sorted(masks)


def test_list_tokens_shows_only_own_tokens(new_account):
    a = new_account()
    b = new_account()
    b.api.create_token()
    a_masks = a.api.list_tokens()
    b_masks = b.api.list_tokens()
    assert len(a_masks) == 1
    assert len(b_masks) == 2
    assert not set(a_masks) & set(b_masks)
    assert_masks_ok(a_masks, [a.token, b.token])


# ---------------------------------------------------------------------------
# delete_token / disable_token


def _new_token_and_mask(acc: Account) -> tuple[str, str]:
    before = set(acc.api.list_tokens())
    tok = acc.api.create_token()
    after = set(acc.api.list_tokens())
    added = after - before
    assert len(added) == 1, f"one new token should add one mask: {before!r} -> {after!r}"
    return tok, added.pop()


@pytest.mark.parametrize("op", ["delete_token", "disable_token"])
def test_revoke_by_full_token(account: Account, op: str):
    tok, mask = _new_token_and_mask(account)
    tok_api = account.api_with(tok)
    assert tok_api.get_user_details().username == account.username

    returned = getattr(account.api, op)(tok)
    assert returned == tok

    assert_refused(tok_api)
    masks = account.api.list_tokens()
    assert mask not in masks, f"{op}d token still listed: {masks!r}"
    assert len(masks) == 1
    assert account.api.get_user_details().username == account.username


@pytest.mark.parametrize("op", ["delete_token", "disable_token"])
def test_revoke_by_mask(account: Account, op: str):
    tok, mask = _new_token_and_mask(account)
    tok_api = account.api_with(tok)
    assert tok_api.get_user_details().username == account.username

    returned = getattr(account.api, op)(mask)
    assert returned == mask

    assert_refused(tok_api)
    with pytest.raises(UnauthorizedException):
        tok_api.create_token()
    masks = account.api.list_tokens()
    assert mask not in masks, f"{op}d token still listed: {masks!r}"
    assert len(masks) == 1
    assert account.api.get_user_details().username == account.username


@pytest.mark.parametrize("op", ["delete_token", "disable_token"])
def test_revoke_the_calling_token(account: Account, op: str):
    other = account.api.create_token()
    assert getattr(account.api, op)(account.token) == account.token
    assert_refused(account.api)
    other_api = account.api_with(other)
    assert other_api.get_user_details().username == account.username
    assert len(other_api.list_tokens()) == 1


@pytest.mark.parametrize("op", ["delete_token", "disable_token"])
def test_revoke_token_of_another_user_is_forbidden(new_account, op: str):
    a = new_account()
    b = new_account()
    b_masks = b.api.list_tokens()
    assert len(b_masks) == 1

    for target in (b.token, b_masks[0]):
        with pytest.raises(ForbiddenException) as ei:
            getattr(a.api, op)(target)
        assert ei.value.status == 403, f"{op}({target!r}) by another user"

    # B's token is untouched, and A's own token too.
    assert b.api.get_user_details().username == b.username
    assert b.api.list_tokens() == b_masks
    assert a.api.get_user_details().username == a.username


@pytest.mark.parametrize("op", ["delete_token", "disable_token"])
def test_revoke_unknown_token_is_forbidden(account: Account, op: str):
    for target in (random_token_like(account.token), "gh_0000000000", "not-a-token"):
        with pytest.raises(ForbiddenException) as ei:
            getattr(account.api, op)(target)
        assert ei.value.status == 403, target
    assert len(account.api.list_tokens()) == 1


def test_revoked_token_cannot_be_revoked_again_or_reused(account: Account):
    tok, _mask = _new_token_and_mask(account)
    assert account.api.delete_token(tok) == tok
    with pytest.raises(ForbiddenException):
        account.api.delete_token(tok)
    tok2, _ = _new_token_and_mask(account)
    assert account.api.disable_token(tok2) == tok2
    with pytest.raises(UnauthorizedException):
        account.api_with(tok2).list_tokens()
    with pytest.raises(UnauthorizedException):
        account.api_with(tok2).disable_token(account.token)
    # The refused calls above revoked nothing.
    assert account.api.get_user_details().username == account.username


# ---------------------------------------------------------------------------
# get_user_basic / get_user_details / update_user_info


def test_get_user_basic(new_account):
    a = new_account()
    b = new_account()
    own = a.api.get_user_basic(a.username)
    assert isinstance(own, fc.UserBasicInfoDTO)
    assert own.username == a.username
    assert own.nickname in (None, "")
    assert own.picture in (None, "")

    other = a.api.get_user_basic(b.username)
    assert other.username == b.username

    assert b.api.update_user_info(fc.UserDetailsDTO(nickname="Bee Nickname")) is True
    assert a.api.get_user_basic(b.username).nickname == "Bee Nickname"


def test_get_user_basic_unknown_user_is_not_found(account: Account):
    with pytest.raises(NotFoundException) as ei:
        account.api.get_user_basic("nosuchuser" + account.username)
    assert ei.value.status == 404


def test_get_user_details(account: Account):
    d = account.api.get_user_details()
    assert isinstance(d, fc.UserDetailsDTO)
    assert d.username == account.username
    assert d.email == account.email
    assert d.enabled is True
    assert d.locked is not True
    assert d.nickname in (None, "")
    assert d.picture in (None, "")


def test_update_user_info(account: Account):
    birth = datetime(1990, 5, 1, tzinfo=timezone.utc)
    ok = account.api.update_user_info(fc.UserDetailsDTO(
        nickname="Ally",
        given_name="Alice",
        family_name="Liddell",
        locale="en-GB",
        birthdate=birth,
    ))
    assert ok is True

    d = account.api.get_user_details()
    assert d.username == account.username
    assert d.email == account.email
    assert d.nickname == "Ally"
    assert d.given_name == "Alice"
    assert d.family_name == "Liddell"
    assert d.locale == "en-GB"
    assert d.birthdate is not None
    assert as_utc_naive(d.birthdate).date() == date(1990, 5, 1)
    assert as_utc_naive(d.birthdate) == datetime(1990, 5, 1)

    basic = account.api.get_user_basic(account.username)
    assert basic.nickname == "Ally"


def test_update_user_info_only_changes_given_fields(account: Account):
    assert account.api.update_user_info(fc.UserDetailsDTO(
        nickname="First", given_name="Grace", family_name="Hopper")) is True
    # The SDK sends only non-null fields; absent fields must be left alone.
    assert account.api.update_user_info(fc.UserDetailsDTO(nickname="Second")) is True
    d = account.api.get_user_details()
    assert d.nickname == "Second"
    assert d.given_name == "Grace"
    assert d.family_name == "Hopper"
    assert d.username == account.username
    assert d.email == account.email


def test_update_user_info_more_profile_fields(account: Account):
    ok = account.api.update_user_info(fc.UserDetailsDTO(
        middle_name="Brewster",
        preferred_username="gracie",
        profile="https://example.com/grace",
        website="https://grace.example.com",
        gender="female",
        zoneinfo="Europe/London",
        phone_number="+44 20 7946 0000",
        address="1 Example Street, London",
    ))
    assert ok is True
    d = account.api.get_user_details()
    assert d.middle_name == "Brewster"
    assert d.preferred_username == "gracie"
    assert d.profile == "https://example.com/grace"
    assert d.website == "https://grace.example.com"
    assert d.gender == "female"
    assert d.zoneinfo == "Europe/London"
    assert d.phone_number == "+44 20 7946 0000"
    assert d.address == "1 Example Street, London"
    assert d.username == account.username


def test_update_user_info_does_not_touch_other_users(new_account):
    a = new_account()
    b = new_account()
    assert a.api.update_user_info(fc.UserDetailsDTO(nickname="OnlyA")) is True
    assert b.api.get_user_details().nickname in (None, "")
    assert b.api.get_user_basic(a.username).nickname == "OnlyA"


# ---------------------------------------------------------------------------
# upload_user_picture


def test_upload_user_picture(account: Account, tmp_path: Path):
    png = make_png(8, 6)
    path = tmp_path / "avatar.png"
    path.write_bytes(png)

    url = account.api.upload_user_picture(str(path))
    assert isinstance(url, str)
    assert url.startswith(account.server.base_url + "/"), url

    r = requests.get(url, timeout=10)
    assert r.status_code == 200, (url, r.status_code, r.text[:200])
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "image/png"
    assert r.content[:8] == PNG_SIGNATURE
    assert png_size(r.content) == (8, 6)

    assert account.api.get_user_details().picture == url
    assert account.api.get_user_basic(account.username).picture == url

    # A second picture replaces the first.
    path2 = tmp_path / "avatar2.png"
    path2.write_bytes(make_png(5, 7))
    url2 = account.api.upload_user_picture(str(path2))
    assert url2.startswith(account.server.base_url + "/"), url2
    r2 = requests.get(url2, timeout=10)
    assert r2.status_code == 200
    assert png_size(r2.content) == (5, 7)
    assert account.api.get_user_details().picture == url2
    assert account.api.get_user_basic(account.username).picture == url2


def test_upload_non_image_is_bad_request(account: Account, tmp_path: Path):
    path = tmp_path / "not-really.png"
    path.write_text("this is plain text, not a PNG image\n" * 4)
    with pytest.raises(BadRequestException) as ei:
        account.api.upload_user_picture(str(path))
    assert ei.value.status == 400
    assert account.api.get_user_details().picture in (None, "")


# ---------------------------------------------------------------------------
# authentication


def _bad_tokens(valid: str) -> dict:
    return {
        "none": None,
        "garbage": "garbage",
        "prefix-only": "gh_",
        "wrong-checksum-last": tamper(valid, len(valid) - 1),
        "wrong-checksum-middle": tamper(valid, len(valid) // 2),
        "unissued": random_token_like(valid),
    }


ENDPOINTS = {
    "create_token": lambda api, acc, tmp: api.create_token(),
    "create_token_with_duration": lambda api, acc, tmp: api.create_token_with_duration(60),
    "list_tokens": lambda api, acc, tmp: api.list_tokens(),
    "delete_token": lambda api, acc, tmp: api.delete_token(acc.token),
    "disable_token": lambda api, acc, tmp: api.disable_token(acc.token),
    "get_user_basic": lambda api, acc, tmp: api.get_user_basic(acc.username),
    "get_user_details": lambda api, acc, tmp: api.get_user_details(),
    "update_user_info": lambda api, acc, tmp: api.update_user_info(
        fc.UserDetailsDTO(nickname="Intruder")),
    "upload_user_picture": lambda api, acc, tmp: api.upload_user_picture(str(tmp)),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_bad_credentials_are_unauthorized(account: Account, tmp_path: Path, endpoint: str):
    png = tmp_path / "p.png"
    png.write_bytes(make_png(2, 2))
    call = ENDPOINTS[endpoint]
    for label, tok in _bad_tokens(account.token).items():
        assert tok != account.token
        with pytest.raises(UnauthorizedException) as ei:
            call(account.api_with(tok), account, png)
        assert ei.value.status == 401, f"{endpoint} with {label} token"

    # None of the refused calls had an effect.
    d = account.api.get_user_details()
    assert d.nickname in (None, "")
    assert d.picture in (None, "")
    assert len(account.api.list_tokens()) == 1


def test_deleted_token_is_refused_everywhere(account: Account, tmp_path: Path):
    tok = account.api.create_token()
    assert account.api.delete_token(tok) == tok
    dead = account.api_with(tok)
    png = tmp_path / "p.png"
    png.write_bytes(make_png(2, 2))
    for name, call in ENDPOINTS.items():
        try:
            call(dead, account, png)
        except UnauthorizedException:
            continue
        pytest.fail(f"{name} accepted a deleted token")
    assert account.api.get_user_details().nickname in (None, "")
