"""The profile page: saving claims, and a picture chosen in the browser (previewed from a blob:
URL, which the CSP must allow), uploaded, and shown back as img#avatar."""

from __future__ import annotations

import struct
import zlib

from conftest import PASSWORD, unique


def png(width: int = 64, height: int = 64) -> bytes:
    """A small valid RGB PNG (a colour gradient), made without an imaging library."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 4 % 256, 160))
                                       for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def loaded(b, css: str) -> None:
    img = b.el(css)
    b.wait(lambda d: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img),
        f"{css} did not load (src {img.get_attribute('src')[:60]!r})")


def signed_in(server, b) -> str:
    username = unique("face")
    server.create_user(username, f"{username}@example.com")
    b.signin(username, PASSWORD)
    b.wait_path("/account")
    return username


def test_profile_saves_claims_leaving_the_other_boxes_empty(server, browser):
    b = browser
    signed_in(server, b)
    b.fill("form#profile-form input[name=given_name]", "Ada")
    b.fill("form#profile-form input[name=locale]", "en-GB")
    b.submit("#save-profile")
    errors = {e.get_attribute("id"): e.text for e in b.els("p.error")}
    assert not errors, f"saving the profile with the other boxes empty: {errors}"
    assert b.has("p#note"), "no note after saving the profile"
    b.open("/account")
    assert b.el("form#profile-form input[name=given_name]").get_attribute("value") == "Ada"
    assert b.el("form#profile-form input[name=locale]").get_attribute("value") == "en-GB"


def test_picture_previewed_uploaded_and_shown(server, browser, tmp_path):
    b = browser
    signed_in(server, b)

    picture = tmp_path / "face.png"
    picture.write_bytes(png())
    b.el("input#picture").send_keys(str(picture))
    b.wait(lambda d: b.el("img#avatar-preview").is_displayed(), "img#avatar-preview stayed hidden")
    loaded(b, "img#avatar-preview")
    b.submit("#upload-picture")
    assert not b.has("p.error"), [e.text for e in b.els("p.error")]
    loaded(b, "img#avatar")
    b.shot("account-picture")
    problems = [e["message"] for e in b.severe_console()]
    assert not problems, problems
