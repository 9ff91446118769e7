"""The screenshots the flows took: every main page at desktop and phone width, non-empty PNGs
under target/ui-screenshots/ for a person to look at. Runs after every other test."""

from __future__ import annotations

import pytest

from conftest import SCREENSHOT_DIR, SESSION_STARTED, SIZES

MAIN_PAGES = ["signin", "signup", "verify", "account", "tokens", "two-factor", "sessions",
              "admin-users", "admin-user", "admin-audit", "admin-mail", "setup"]


#: The tests that take the MAIN_PAGES screenshots.
SHOOTERS = {"test_new_user_signs_up_verifies_by_link_signs_in_and_uses_a_token",
            "test_totp_enrolment_and_sign_in_with_it",
            "test_admin_disables_a_user_and_sees_the_audit_event"}


@pytest.fixture
def whole_suite(request):
    ran = {item.name for item in request.session.items}
    if not SHOOTERS <= ran:
        pytest.skip(f"only a part of the suite ran; the screenshots come from {sorted(SHOOTERS)}")


@pytest.mark.last
def test_screenshots_of_the_main_pages_saved(whole_suite):
    missing = []
    for page in MAIN_PAGES:
        for label, *_ in SIZES:
            path = SCREENSHOT_DIR / f"{page}-{label}.png"
            if (not path.is_file() or path.stat().st_size == 0
                    or path.stat().st_mtime < SESSION_STARTED - 1):
                missing.append(path.name)
            else:
                assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert not missing, f"missing, empty or older than this run in {SCREENSHOT_DIR}: {missing}"


@pytest.mark.last
def test_no_page_is_wider_than_a_phone(whole_suite):
    # Measured by Browser.shot at 390 CSS pixels; a wide table may scroll inside its own box,
    # but the page itself must not scroll sideways.
    from conftest import PHONE_OVERFLOW

    assert not PHONE_OVERFLOW, f"pages wider than the phone screen (CSS px): {PHONE_OVERFLOW}"
