"""The demo's pages as each persona sees them, in headless Chromium.

Both example apps run on real servers on 127.0.0.1 (the Flask demo as ``python3 dev.py
demo`` starts it, the Django project on waitress). For every demo account the test
signs in through the sign-in form, follows each link of the navigation and the profile
pages reachable from it, opens an error page, and on each page:

* reads the text a person sees and fails on an internal code: a band id, a setting's
  or a value's ``snake_case`` code, a decision or setting-change reason code, or the
  word "floor" (the list is built from the library, so a new setting, value or reason
  is checked without editing this file);
* runs axe-core and fails on a serious or critical accessibility violation;
* keeps a screenshot under ``.cache/screenshots/`` (``demo-<app>-<persona>-<page>``).

It also walks the flows a newcomer tries: a parent's change (the message names the child
and the lock), a teenager's loosening behind its safety tip, a stranger's refused
friend request, and the sign-in page with an unknown account.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.common.socialdb import SEED_PEOPLE

from childsafe import CHANGE_REASONS, SETTINGS, AgeBand, Reason
from childsafe._settings import EnumDomain
from tests.browser import describe, overflowing, run_axe, screenshot

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = tuple(ident for ident, *_ in SEED_PEOPLE)
CHILDREN = tuple(ident for ident, _, age, _ in SEED_PEOPLE if age is not None and age < 18)
START_TIMEOUT = 60.0


def _codes() -> list[str]:
    """Every internal code a person must never read. Codes that are also plain words
    ("off", "public", "blocked") cannot be told from the words around them, so the
    check covers those with an underscore: band ids, setting names, value codes and
    reason codes."""
    values = [
        v for s in SETTINGS.values() if isinstance(s.domain, EnumDomain) for v in s.domain.values
    ]
    found = {
        *(band.value for band in AgeBand),
        *SETTINGS,
        *values,
        *(reason.value for reason in Reason),
        *CHANGE_REASONS,
    }
    return sorted(code for code in found if "_" in code)


CODES = _codes()
JARGON = re.compile(r"\b(?:" + "|".join(map(re.escape, CODES)) + r")\b|\bfloors?\b", re.IGNORECASE)


def test_codes_come_from_the_library() -> None:
    """The forbidden list holds each kind of code, and the pattern finds them in text."""
    for code in ("13_15", "under_13", "location_sharing", "connections_coarse",
                 "approval_required", "not_connected", "parent_required"):  # fmt: skip
        assert code in CODES
        assert JARGON.search(f"the {code} thing")
    assert JARGON.search("below the floor")
    assert not JARGON.search("Connections see the town, not the exact place")


# -- servers -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **extra}


def _serve(command: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the server did not start:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def _running(app: str, tmp: Path) -> Iterator[str]:
    """The base URL of ``app`` running on a free port."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    if app == "flask":
        command = [sys.executable, "dev.py", "demo", "--port", str(port)]
        env = _env()
    else:
        command = [sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}",
                   "examples.django_app.wsgi:application"]  # fmt: skip
        env = _env(
            DJANGO_SETTINGS_MODULE="examples.django_app.settings",
            PLAYGROUND_DB=str(tmp / "django.sqlite3"),
            PLAYGROUND_SECRET_KEY=secrets.token_hex(32),
        )
    process = _serve(command, env, url, tmp / "server.log")
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture(name="flask_url", scope="module")
def _flask_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Flask demo, started as `python3 dev.py demo --port N`."""
    with _running("flask", tmp_path_factory.mktemp("demo-flask")) as url:
        yield url


@pytest.fixture(name="django_url", scope="module")
def _django_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Django twin on waitress."""
    with _running("django", tmp_path_factory.mktemp("demo-django")) as url:
        yield url


@pytest.fixture(name="server", params=["flask", "django"])
def _server(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(app name, base URL) of each example app in turn."""
    app: str = request.param
    return app, str(request.getfixturevalue(f"{app}_url"))


# -- looking at pages --------------------------------------------------------------------


def _look(page: Any, axe_script: str, name: str) -> list[str]:
    """Problems a person would meet on the page now open: internal codes in its text and
    serious accessibility violations. Keeps its screenshot."""
    screenshot(page, name)
    problems = []
    text = page.inner_text("body")
    for match in JARGON.finditer(text):
        around = text[max(0, match.start() - 40) : match.end() + 40].replace("\n", " ")
        problems.append(f"{name}: internal code {match[0]!r} in ...{around}...")
    violations = run_axe(page, axe_script)
    if violations:
        problems.append(f"{name}: {describe(violations)}")
    return problems


def _sign_in(page: Any, url: str, persona: str) -> None:
    page.goto(f"{url}/login")
    page.check(f"input[name=account][value={persona}]")
    page.click("form[action='/login'] button")
    page.wait_for_url(f"{url}/")


def _pages(page: Any, url: str) -> list[str]:
    """The nav's pages and the profile pages linked from home and suggestions."""
    page.goto(f"{url}/")
    paths = [a.get_attribute("href") for a in page.query_selector_all("nav a")]
    found = [p for p in paths if p]
    for start in ("/", "/suggestions"):
        page.goto(f"{url}{start}")
        found += [
            href
            for a in page.query_selector_all("main a[href^='/users/']")
            if (href := a.get_attribute("href"))
        ][:2]
    return list(dict.fromkeys(found))


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"


def _walk(app: str, url: str, page: Any, axe_script: str, persona: str) -> None:
    """Each page a persona can reach: no internal code in its text, no serious or
    critical axe-core violation; the sign-in and error pages too."""
    page.goto(f"{url}/login")
    problems = _look(page, axe_script, f"demo-{app}-signin")
    _sign_in(page, url, persona)
    visited = _pages(page, url)
    for path in visited:
        response = page.goto(f"{url}{path}")
        assert response is not None
        assert response.status == 200, path
        problems += _look(page, axe_script, f"demo-{app}-{persona}-{_slug(path)}")
    response = page.goto(f"{url}/no-such-page")
    assert response is not None
    assert response.status == 404
    assert "Page not found" in page.inner_text("main")
    problems += _look(page, axe_script, f"demo-{app}-{persona}-404")

    assert {"/", "/settings", "/messages"} <= set(visited)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("persona", PERSONAS)
def test_flask_pages_read_plainly_and_are_accessible(
    flask_url: str, page: Any, axe_script: str, persona: str
) -> None:
    """Every persona's pages on the Flask demo: plain words, no serious violations."""
    _walk("flask", flask_url, page, axe_script, persona)


@pytest.mark.parametrize("persona", CHILDREN)
def test_django_pages_read_plainly_and_are_accessible(
    django_url: str, page: Any, axe_script: str, persona: str
) -> None:
    """Each child persona's pages on the Django twin: plain words, no serious violations."""
    _walk("django", django_url, page, axe_script, persona)


def test_parent_change_names_the_child_and_the_lock(
    server: tuple[str, str], page: Any, axe_script: str
) -> None:
    """A parent loosens Sam's location sharing from the Parent page: the message names
    Sam and says it is locked, and Sam's own page then says who locked it."""
    app, url = server
    _sign_in(page, url, "parent_pat")
    page.goto(f"{url}/parent")
    row = page.locator("#child-sam #setting-location_sharing")
    row.locator("select").select_option("connections_coarse")
    row.locator("button", has_text="Save").click()
    page.wait_for_url(f"{url}/parent")
    notice = page.inner_text("main .notice")
    problems = _look(page, axe_script, f"demo-{app}-parent_pat-saved")
    _sign_in(page, url, "sam")
    page.goto(f"{url}/settings")
    sam_row = page.inner_text("#setting-location_sharing")
    problems += _look(page, axe_script, f"demo-{app}-sam-locked")
    # Put it back (unlocked), so the other tests see the seeded state.
    _sign_in(page, url, "parent_pat")
    page.goto(f"{url}/parent")
    row = page.locator("#child-sam #setting-location_sharing")
    row.locator("select").select_option("off")
    row.locator("button", has_text="Save").click()
    page.locator("#child-sam #setting-location_sharing button", has_text="Unlock").click()

    assert "Sam's “Who can see where you are” setting is changed" in notice
    assert "locked" in notice
    assert "locked by Pat (parent)" in sam_row
    assert "Connections see the town, not the exact place" in sam_row
    assert problems == [], "\n".join(problems)


def test_safety_tip_before_loosening(server: tuple[str, str], page: Any, axe_script: str) -> None:
    """Alex (17) loosens location sharing without ticking the box: the page explains, as
    information, what it exposes, keeping the choice; ticking the box then saves."""
    app, url = server
    _sign_in(page, url, "alex")
    page.goto(f"{url}/settings")
    row = page.locator("#setting-location_sharing")
    tip = row.locator(".tip").inner_text()
    row.locator("select").select_option("connections_coarse")
    row.locator("button", has_text="Save").click()
    first = page.inner_text("main")
    problems = _look(page, axe_script, f"demo-{app}-alex-prompt")
    row = page.locator("#setting-location_sharing")
    kept = row.locator("select").input_value()
    row.locator("input[name=confirmed]").check()
    row.locator("button", has_text="Save").click()
    second = page.inner_text("main .notice")
    row = page.locator("#setting-location_sharing")
    row.locator("select").select_option("off")
    row.locator("button", has_text="Save").click()

    assert "where you live" in tip
    assert "Read this first" in first
    assert kept == "connections_coarse"  # the choice waits for the box to be ticked
    assert "Safety tip:" in first
    assert "is changed" in second
    assert problems == [], "\n".join(problems)


def test_rows_without_a_possible_change_have_no_save(server: tuple[str, str], page: Any) -> None:
    """Maya (12) sees Save only on the rows she can change, and the reason elsewhere."""
    _, url = server
    _sign_in(page, url, "maya")
    page.goto(f"{url}/settings")
    rows = page.locator("table.settings tbody tr")
    saves = page.locator("table.settings tbody tr button", has_text="Save")
    tagging = page.inner_text("#setting-tagging")

    assert 0 < saves.count() < rows.count()
    assert page.locator("#setting-location_sharing button").count() == 0
    assert "Only Pat (parent) can loosen" in tagging


def test_refused_request_page(server: tuple[str, str], page: Any, axe_script: str) -> None:
    """A stranger's friend request to Maya, sent from a browser form, gets the styled
    refusal page: plain words and what to do, no code."""
    app, url = server
    _sign_in(page, url, "stranger")
    page.goto(f"{url}/users/maya")
    token = page.locator("input[name=csrfmiddlewaretoken]").first
    hidden = token.get_attribute("value") if token.count() else ""
    # Wait for the refusal page itself: the form's navigation starts after evaluate()
    # returns, so waiting for a load state could still see the profile page.
    with page.expect_navigation():
        page.evaluate(
            """([path, token]) => {
                const form = document.createElement('form');
                form.method = 'post'; form.action = path;
                if (token) { const i = document.createElement('input');
                    i.type = 'hidden'; i.name = 'csrfmiddlewaretoken'; i.value = token;
                    form.appendChild(i); }
                document.body.appendChild(form); form.submit();
            }""",
            ["/users/maya/friend-request", hidden],
        )
    text = page.inner_text("main")
    problems = _look(page, axe_script, f"demo-{app}-stranger-refused")

    assert "Not allowed" in text
    assert problems == [], "\n".join(problems)


def test_unknown_account_and_phone_width(
    server: tuple[str, str], page: Any, axe_script: str
) -> None:
    """Signing in as an account that does not exist says so; the sign-in and settings
    pages fit a 375 px phone screen."""
    app, url = server
    page.goto(f"{url}/login")
    page.evaluate(
        "() => { const r = document.querySelector('input[name=account]'); r.value = 'zed'; }"
    )
    page.click("form[action='/login'] button")
    alert = page.inner_text("[role=alert]")
    problems = _look(page, axe_script, f"demo-{app}-signin-unknown")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{url}/login")
    wide = overflowing(page)
    screenshot(page, f"demo-{app}-signin-375")
    _sign_in(page, url, "sam")
    page.goto(f"{url}/settings")
    wide += overflowing(page)
    screenshot(page, f"demo-{app}-sam-settings-375")

    assert "no demo account called “zed”" in alert
    assert problems == [], "\n".join(problems)
    assert wide == []


# -- photo messages -----------------------------------------------------------------------


def _pick_and_send(page: Any, picture: str, to: str) -> None:
    """On the photos page: pick a gallery picture and press "Send to <to>"."""
    page.check(f"input[name=demo][value={picture}]")
    page.click(f"button[formaction='/photos/to/{to}']")


def test_photo_intervention_blur_and_refusal(
    server: tuple[str, str], page: Any, axe_script: str
) -> None:
    """In the browser: Sam (15) picks the flagged picture and meets the intervention
    (what can happen, where to get help, send anyway / don't send), then sends it anyway;
    a listed picture is refused in plain words; Maya (12) receives a flagged picture from
    her aunt blurred, with the three choices, and sees it once she chooses to. The photos
    page fits a 375 px screen. On Django the page's script posts the form's CSRF token."""
    app, url = server
    _sign_in(page, url, "sam")
    page.goto(f"{url}/photos")
    problems = _look(page, axe_script, f"demo-{app}-sam-photos")
    _pick_and_send(page, "flagged", "aunt_jo")
    page.wait_for_selector("#intervention:not([hidden])")
    intervention = page.inner_text("#intervention")
    problems += _look(page, axe_script, f"demo-{app}-sam-photo-intervention")
    with page.expect_navigation():
        page.click("#intervention [data-send-anyway]")
    sent_notice = page.inner_text("main .notice")

    _pick_and_send(page, "listed", "aunt_jo")
    page.wait_for_selector("#refused:not([hidden])")
    refused = page.inner_text("#refused")
    problems += _look(page, axe_script, f"demo-{app}-sam-photo-refused")

    _sign_in(page, url, "aunt_jo")
    page.goto(f"{url}/photos")
    _pick_and_send(page, "flagged", "maya")
    page.wait_for_url(re.compile(r".*/photos\?sent=maya"))

    _sign_in(page, url, "maya")
    page.goto(f"{url}/photos")
    box = page.locator(".blurred").first
    blurred_text = box.inner_text()
    blurred_src = box.locator("img").get_attribute("src") or ""
    problems += _look(page, axe_script, f"demo-{app}-maya-photo-blurred")
    page.set_viewport_size({"width": 375, "height": 800})
    wide = overflowing(page)
    screenshot(page, f"demo-{app}-maya-photos-375")
    page.set_viewport_size({"width": 1280, "height": 800})
    box.locator("[data-view]").click()
    page.wait_for_function("() => document.querySelector('.blurred img').src.startsWith('blob:')")
    shown = page.evaluate(
        "() => { const i = document.querySelector('.blurred img');"
        " return [i.naturalWidth, i.alt]; }"
    )
    problems += _look(page, axe_script, f"demo-{app}-maya-photo-shown")

    assert "can't take it back" in intervention
    assert "Childline" in intervention
    assert "Send anyway" in intervention
    assert "Don't send" in intervention
    assert sent_notice.startswith("Photo sent to")
    assert "This image can't be shared here." in refused
    assert "might show nudity or something upsetting" in blurred_text
    for choice in ("View", "Don't view", "Block and report"):
        assert choice in blurred_text
    assert blurred_src.endswith("/blurred")
    assert shown[0] == 320
    assert shown[1].startswith("A photo from")
    assert problems == [], "\n".join(problems)
    assert wide == []


def test_moderators_page_counts_the_images(
    server: tuple[str, str], page: Any, axe_script: str
) -> None:
    """An adult's listed picture is refused; the moderators' page then shows the match
    case and the images figures, accessibly."""
    app, url = server
    _sign_in(page, url, "stranger")
    page.goto(f"{url}/photos")
    _pick_and_send(page, "listed", "riley")
    page.wait_for_selector("#refused:not([hidden])")
    _sign_in(page, url, "riley")
    page.goto(f"{url}/admin/reports")
    images = page.inner_text("#images")
    own = page.inner_text("#own-initiative")
    newest = page.inner_text("[aria-label='Newest cases']")
    cases = page.inner_text("main")
    screenshot(page, f"demo-{app}-riley-admin-images")
    violations = run_axe(page, axe_script)

    assert "Matched a known-abuse hash list (refused)" in images
    assert "Our own detection" in cases
    assert "matched the known-abuse hash list" in cases
    # The summary counts the detection's cases, apart from the users' reports, and
    # the platform is shown without an age band.
    assert own.startswith("Our own detection opened ")
    assert "case" in own
    assert " open" in own
    assert "age unknown" not in newest
    assert violations == [], describe(violations)


def _post_form(page: Any, path: str, fields: dict[str, str]) -> None:
    """Send a form to ``path`` from the page now open, as a browser does (with the page's
    CSRF token on Django), and wait for the answer's page."""
    token = page.locator("input[name=csrfmiddlewaretoken]").first
    hidden = token.get_attribute("value") if token.count() else ""
    with page.expect_navigation():
        page.evaluate(
            """([path, token, fields]) => {
                const form = document.createElement('form');
                form.method = 'post'; form.action = path;
                const all = token ? {...fields, csrfmiddlewaretoken: token} : fields;
                for (const [name, value] of Object.entries(all)) {
                    const i = document.createElement('input');
                    i.type = 'hidden'; i.name = name; i.value = value; form.appendChild(i);
                }
                document.body.appendChild(form); form.submit();
            }""",
            [path, hidden, fields],
        )


def test_refusal_page_speaks_the_browsers_language(
    server: tuple[str, str], page: Any, axe_script: str
) -> None:
    """A browser asking for French gets the refusal page's explanation and its own
    words in French, marked ``lang="fr"`` for screen readers."""
    app, url = server
    _sign_in(page, url, "stranger")
    page.set_extra_http_headers({"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    page.goto(f"{url}/users/maya")
    _post_form(page, "/users/maya/friend-request", {})
    card = page.locator("main .card").first
    text = card.inner_text()
    lang = card.get_attribute("lang")
    problems = _look(page, axe_script, f"demo-{app}-stranger-refused-fr")

    assert "Pas autorisé" in text
    assert "invitation" in text
    assert "Not allowed" not in text
    assert "Back home" not in text
    assert lang == "fr"
    assert problems == [], "\n".join(problems)


def test_age_page_words_for_a_child(server: tuple[str, str], page: Any, axe_script: str) -> None:
    """Maya (12) pasting a broken age token reads why in plain words, not the token
    error's code or a decoder's message (those are folded away for developers)."""
    app, url = server
    _sign_in(page, url, "maya")
    page.goto(f"{url}/age")
    _post_form(page, "/age", {"token": "abc.def.ghi"})
    page.goto(f"{url}/age")
    shown = page.inner_text("main")
    problems = _look(page, axe_script, f"demo-{app}-maya-age-refused")

    assert "This doesn't look like an age token" in shown
    assert "malformed" not in shown
    assert "codec" not in shown
    assert problems == [], "\n".join(problems)


def test_home_check_in_field_has_a_label(server: tuple[str, str], page: Any) -> None:
    """The check-in field is named by a visible label, not only by its placeholder."""
    _, url = server
    _sign_in(page, url, "sam")
    label = page.inner_text("label[for=check-in-place]")
    field = page.locator("#check-in-place").get_attribute("name")

    assert label == "Where are you?"
    assert field == "place"


def test_moderators_figures_stay_in_their_columns(server: tuple[str, str], page: Any) -> None:
    """On a desktop screen the moderators' figure tables do not run over each other or
    out of their card."""
    app, url = server
    _sign_in(page, url, "riley")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}/admin/reports")
    screenshot(page, f"demo-{app}-riley-admin-1280")
    spill: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('main .card:first-of-type .grid > div')]
            .filter(box => [...box.querySelectorAll('table')].some(t =>
                t.getBoundingClientRect().right > box.getBoundingClientRect().right + 1
                && getComputedStyle(box).overflowX === 'visible'))
            .map(box => box.querySelector('h2').textContent)"""
    )
    visible: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('main .card:first-of-type .grid > div')]
            .filter(box => box.scrollWidth > box.clientWidth + 1)
            .map(box => box.querySelector('h2').textContent)"""
    )

    assert spill == []
    assert visible == []


def test_an_oversized_photo_is_refused_not_a_server_error(
    server: tuple[str, str], page: Any
) -> None:
    """A photo over the media body cap, sent to the demo on waitress, is a 413 problem
    document, not a 500 (waitress refuses a WSGI response with a ``Connection`` header)."""
    app, url = server
    _sign_in(page, url, "sam")
    page.goto(f"{url}/photos")
    token = page.locator("input[name=csrfmiddlewaretoken]").first
    fields = {"csrfmiddlewaretoken": token.get_attribute("value") or ""} if token.count() else {}
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (30 * 1024 * 1024)
    response = page.request.post(
        f"{url}/photos/to/aunt_jo",
        multipart={**fields, "photo": {"name": "big.png", "mimeType": "image/png", "buffer": big}},
        headers={"Referer": f"{url}/photos"},
        max_redirects=0,
    )

    assert response.status == 413, (app, response.status, response.text()[:300])
    assert response.json()["status"] == 413


def test_citations_are_folded_away_for_a_child(server: tuple[str, str], page: Any) -> None:
    """Maya (12) reads her settings without the standards' clause numbers ("Ofcom ICU
    F1"); they are one click away, under "Where this rule comes from"."""
    _, url = server
    _sign_in(page, url, "maya")
    page.goto(f"{url}/settings")
    before = page.inner_text("main")
    page.locator("details summary").first.click()
    opened = page.inner_text("main details[open]")

    assert "Ofcom ICU" not in before
    assert "Where this rule comes from" in before
    assert "Ofcom ICU" in opened


def test_a_too_big_photo_is_explained_in_plain_words(server: tuple[str, str], page: Any) -> None:
    """Sam choosing a 30 MB file on the photos page reads that it is too big, not the
    body check's bytes and route."""
    app, url = server
    _sign_in(page, url, "sam")
    page.goto(f"{url}/photos")
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (30 * 1024 * 1024)
    page.set_input_files(
        "#photo-file", files=[{"name": "big.png", "mimeType": "image/png", "buffer": big}]
    )
    page.click("button[formaction='/photos/to/aunt_jo']")
    page.wait_for_selector("#refused:not([hidden])")
    refused = page.inner_text("#refused")
    screenshot(page, f"demo-{app}-sam-photo-too-big")

    assert "This picture is too big to send." in refused
    assert "bytes" not in refused
    assert "route" not in refused


def test_moderators_figures_name_their_column_on_a_phone(
    server: tuple[str, str], page: Any
) -> None:
    """On a phone the tables' header rows are hidden, so each figure of the moderators'
    page says which column it is ("Reports: 0"), not a bare number."""
    app, url = server
    _sign_in(page, url, "riley")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{url}/admin/reports")
    screenshot(page, f"demo-{app}-riley-admin-375")
    labels: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('main .grid table tbody td:not(:first-child)')]
            .map(td => getComputedStyle(td, '::before').content)"""
    )
    wide = overflowing(page)

    assert labels
    assert [c for c in labels if c in ("none", "normal", "")] == []
    assert '"Reports: "' in labels or "Reports" in " ".join(labels)
    assert wide == []


def test_the_moderator_finds_the_reports_page(server: tuple[str, str], page: Any) -> None:
    """Riley (the demo's safety team) is told so on the sign-in page and reaches the
    moderators' page from the navigation; a child's navigation has no such link."""
    _, url = server
    page.goto(f"{url}/login")
    riley = page.locator(".person", has=page.locator("input[value=riley]")).inner_text()
    _sign_in(page, url, "riley")
    page.click("nav a[href='/admin/reports']")
    heading = page.inner_text("main h1")
    _sign_in(page, url, "maya")
    links = [a.get_attribute("href") for a in page.query_selector_all("nav a")]

    assert "Open Reports" in riley
    assert heading == "Reports this year"
    assert "/admin/reports" not in links
