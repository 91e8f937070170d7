"""The observation suite's parts: finding a canary in every form a leak takes, reading
pages, discovering routes, the reports, and what it says when it cannot probe."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import html
import io
import json
import struct
import zipfile
import zlib
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from childsafe.testing._leaks import Canary, body_text, forms_of, found_in, geohash
from childsafe.testing.observe import (
    Finding,
    Member,
    ObservationReport,
    ObservationSuite,
    ObserveAdapter,
    Persona,
    SyncASGITransport,
    Unprobed,
    _date_forms,
    _email_forms,
    _shared_cacheable,
    discover_routes,
)
from tests.testing import leaky_routes

PLACE = Canary("location", "kid", ("qplace12",), (51.512345, -0.123456))
NAME = Canary("name", "kid", ("qzoe1234",))


class TestLeakForms:
    @pytest.mark.parametrize(
        "body",
        [
            b'{"name": "Zo\\u00eb QZOE1234"}',
            b"<p>Zo&euml; &#81;ZOE1234</p>",
            b"<a href='/search?q=Zo%C3%AB+qzoe1234'>",
            json.dumps({"n": "qzoe1234"}).encode(),
            gzip.compress(b"name=qzoe1234"),
            zlib.compress(b"name=qzoe1234"),
            gzip.compress(gzip.compress(b"qzoe1234")),
        ],
    )
    def test_a_name_in_any_form(self, body: bytes) -> None:
        assert found_in(body, [NAME]) == [(NAME, "qzoe1234")]

    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ('{"lat": 51.512345, "lng": -0.123456}', "51.512345,-0.123456"),
            ("area 51.51,-0.12", "51.51,-0.12"),
            ("near 51.5 / -0.1", "51.5,-0.1"),
            ("GEO:51.512;-0.123", "51.512,-0.123"),
            ("truncated 51.5123,-0.1234", "51.5123,-0.1234"),
        ],
    )
    def test_coordinates_rounded_or_truncated(self, text: str, shown: str) -> None:
        assert PLACE.find(forms_of(text)) == shown

    @pytest.mark.parametrize("text", ["151.51,-0.12", "51.51 alone", "-0.12 alone", "51,0"])
    def test_not_a_location(self, text: str) -> None:
        assert PLACE.find(forms_of(text)) is None

    def test_bad_compressed_data_is_read_as_it_is(self) -> None:
        assert body_text(b"\x1f\x8bnot gzip").startswith("\x1f")
        assert body_text(b"\x78\x9cnot zlib").startswith("x")

    @given(st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40))
    def test_every_encoding_of_any_text_is_found(self, text: str) -> None:
        canary = Canary("name", "x", (text,))
        for encoded in (
            html.escape(text),
            json.dumps(text),
            quote(text),
            quote_plus(text),
            "".join(f"&#{ord(c)};" for c in text),
        ):
            assert canary.find(forms_of(encoded)) is not None, encoded

    @given(st.binary(max_size=200))
    def test_any_body_reads(self, data: bytes) -> None:
        assert isinstance(body_text(data), str)
        found_in(data, [NAME, PLACE])


class TestPersonas:
    def test_canaries_are_unique_and_reproducible(self) -> None:
        day = dt.date(2026, 6, 1)
        a = ObservationSuite(seed=5, today=day).persona("k", "child", 14, "US-TX")
        b = ObservationSuite(seed=5, today=day).persona("k", "child", 14, "US-TX")
        assert a == b
        assert a.code in a.name.lower() and a.code in a.handle
        assert a.timezone == "America/Chicago" and a.band.value == "13_15"
        assert a.form()["birth_date"] == a.birth_date.isoformat()
        assert a.email.endswith("@example.test") and a.code in a.password
        suite = ObservationSuite(seed=1, today=day)
        assert len({suite.code() for _ in range(200)}) == 200
        assert suite.persona("x", "adult_stranger", 40, "FR").timezone == "Europe/Berlin"
        assert suite.persona("x", "adult_stranger", 40, "US-XX").timezone == "UTC"
        assert suite.persona("x", "child", 16, "GB").band.value == "16_17"
        assert suite.persona("x", "child", 12, "GB").band.value == "under_13"

    def test_a_suite_needs_a_jurisdiction(self) -> None:
        with pytest.raises(ValueError, match="at least one jurisdiction"):
            ObservationSuite(jurisdictions=())


class TestDiscovery:
    def test_an_unknown_app_is_refused(self) -> None:
        with pytest.raises(TypeError, match="cannot discover the routes of object"):
            discover_routes(object())


class _Nothing(ObserveAdapter):
    """An app with one hand-listed route and a sign-up that refuses everyone."""

    extra_routes = ("GET /feed", "POST /items/<item_id>/like")

    def __init__(self) -> None:
        def app(environ: object, start_response: object) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
            return [b"nothing here"]

        self.transport = httpx.WSGITransport(app=app)

    def sign_up(self, persona: Persona) -> str | None:
        if persona.role == "parent":
            raise RuntimeError("sign-up is down")
        return None

    def sign_in(self, member: Member) -> httpx.Client:
        raise AssertionError(f"never called: nobody signed up, not even {member.id}")


def test_what_could_not_be_probed_is_listed() -> None:
    report = ObservationSuite(jurisdictions=["GB"], bands=["13_15"], fillers=0).run(_Nothing())
    found = {u.what: u.why for u in report.unprobed}
    assert "the adapter raised RuntimeError: sign-up is down" in found["sign-up of parent"]
    assert found["viewer adult_stranger"] == "its sign-up was refused"
    assert "cannot fill them" in found["POST /items/<item_id>/like"]
    assert found["connected viewers"].startswith("the adapter has no connect()")
    assert [f.check for f in report.findings] == ["signup"]
    assert "refused a 14-year-old in GB" in report.findings[0].rule


def test_an_adapter_without_sign_up_or_sign_in_is_refused_at_once() -> None:
    """An adapter missing a required hook raised a bare ``NotImplementedError`` from
    deep inside the run; it is now a ``TypeError`` naming what to implement."""
    suite = ObservationSuite(jurisdictions=["GB"], bands=["13_15"], fillers=0)

    class SignUpOnly(ObserveAdapter):
        def sign_up(self, persona: Persona) -> str | None:  # pragma: no cover - refused first
            return persona.key

    with pytest.raises(TypeError, match="SignUpOnly must implement sign_in: the suite"):
        suite.run(SignUpOnly())
    with pytest.raises(TypeError, match="ObserveAdapter must implement sign_up and sign_in"):
        suite.run(ObserveAdapter())
    with pytest.raises(TypeError, match="needs an ObserveAdapter subclass, got str"):
        suite.run("http://127.0.0.1:8000")  # type: ignore[arg-type]


def test_the_reports() -> None:
    finding = Finding(
        "read",
        "GET /x",
        "adult_stranger",
        "child-13_15-GB",
        "location",
        "location.view denied",
        "GET /x shows 'q1'",
        "curl -s http://t/x",
    )
    report = ObservationReport("minimum", (finding,), (Unprobed("GET /y", "why"),), {})
    assert not report.passed
    table = report.table()
    assert "GET /x  adult_stranger  child-13_15-GB  location  location.view denied" in table
    assert "curl -s http://t/x" in table and "GET /y: why" in table
    data = json.loads(report.to_json())
    assert data["findings"][0]["reproduce"] == "curl -s http://t/x"
    xml = report.junit_xml()
    assert 'failures="1" skipped="1"' in xml and '<skipped message="why"/>' in xml
    with pytest.raises(AssertionError, match="1 findings"):
        report.assert_passed()
    clean = ObservationReport("minimum", (), (), {"routes": 1})
    clean.assert_passed()
    assert clean.junit_xml().count("<testcase") == 1
    assert str(clean) == clean.table()


def test_the_asgi_transport() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        body = b"seen " + str(scope["method"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url="http://t") as client:
        assert client.post("/", content=b"x").text == "seen POST"
    transport.shutdown()
    transport.shutdown()


class TestLeaksOnceMissed:
    """Leaks the suite did not see before it read headers, redirects and ``HEAD``,
    whole-number coordinates, birth dates and email addresses, and searched by handle."""

    def test_the_correct_app_passes(self) -> None:
        """Every extra route, correct, shows birth dates and addresses only as allowed."""
        report = ObservationSuite(jurisdictions=["GB"], seed=5).run(leaky_routes.adapter(None))
        report.assert_passed()

    @pytest.mark.parametrize("leak", sorted(leaky_routes.LEAKS))
    def test_the_leak_is_found(self, leak: str) -> None:
        """Each leak is found on its route, as its kind, for strangers."""
        report = ObservationSuite(jurisdictions=["GB"], seed=5).run(leaky_routes.adapter(leak))
        route, kind, *viewer = leaky_routes.LEAKS[leak]
        who = viewer[0] if viewer else "adult_stranger"
        assert any(
            f.route == route and kind in f.kind and f.viewer.startswith(who)
            for f in report.findings
        ), report.table()


class TestMoreForms:
    @pytest.mark.parametrize(
        "text",
        [
            '{"latE7": 515123450, "lngE7": -1234560}',
            "51512345,-123456",
            "5151235 / -123456",
        ],
    )
    def test_coordinates_as_whole_numbers(self, text: str) -> None:
        """Coordinates scaled by 10^5 to 10^7 are a location."""
        assert PLACE.find(forms_of(text)) is not None

    @pytest.mark.parametrize("text", ["515123450 alone", "1515123450,-1234560", "5151,-1234"])
    def test_not_whole_coordinates(self, text: str) -> None:
        """One number, a longer number or too few digits are not."""
        assert PLACE.find(forms_of(text)) is None

    def test_birth_dates_are_unique(self) -> None:
        """Personas of one age get different birth dates, and keep their age."""
        day = dt.date(2026, 2, 28)
        suite = ObservationSuite(seed=1, today=day)
        people = [suite.persona(f"p{i}", "child", 14, "GB") for i in range(40)]
        assert len({p.birth_date for p in people}) == 40
        assert {p.band.value for p in people} == {"13_15"}
        assert all(
            day.year
            - p.birth_date.year
            - ((day.month, day.day) < (p.birth_date.month, p.birth_date.day))
            == 14
            for p in people
        )

    def test_a_geohash(self) -> None:
        """A geohash of 6 characters or more, as a word, is a location; a shorter one or
        one inside a longer word is not."""
        cell = geohash(51.512345, -0.123456, 9)
        assert cell == "gcpvj1w15"
        assert PLACE.find(forms_of(f'{{"cell": "{cell[:7]}"}}')) == cell[:7]
        assert PLACE.find(forms_of(f"area {cell[:5]}")) is None
        assert PLACE.find(forms_of(f"token x{cell[:8]}")) is None


def _float32(value: float) -> float:
    """``value`` as a single-precision column (MySQL ``FLOAT``) gives it back."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


class TestFormsOnceMissed:
    @pytest.mark.parametrize(
        "text",
        [
            '{"lat": "51.51234500", "lng": "-0.12345600"}',  # DECIMAL(10, 8)
            f'{{"lat": {_float32(51.512345)}, "lng": {_float32(-0.123456)}}}',
            "51.5123450000001,-0.1234559999999",
        ],
    )
    def test_coordinates_with_more_decimals(self, text: str) -> None:
        """Coordinates written with more than six decimals (zeros of a DECIMAL column,
        float32 or float noise) are the location."""
        assert PLACE.find(forms_of(text)) is not None

    @pytest.mark.parametrize(
        ("text", "found"),
        [
            ('data-lat="51,512345" data-lng="-0,123456"', True),
            ("Breite 51,51; Länge -0,12", True),
            ("51,512345,-0,123456", False),  # a list, not decimal commas
            ("1,51,512,0,12", False),
        ],
    )
    def test_decimal_commas(self, text: str, found: bool) -> None:
        """Coordinates with a decimal comma, as some locales write them."""
        assert (PLACE.find(forms_of(text)) is not None) is found

    def test_other_long_numbers_are_not(self) -> None:
        assert PLACE.find(forms_of('{"a": 51.61234500, "b": -0.22345600}')) is None

    @pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
    def test_base64(self, encode: Any) -> None:
        """Text inside base64 (a token, an image URL's properties) is read."""
        inner = json.dumps({"where": [51.512345, -0.123456], "place": "qplace12 \u2713"})
        token = encode(inner.encode()).decode().rstrip("=")
        assert PLACE.find(forms_of(f'{{"og": "https://og.test/r?p={token}"}}')) is not None

    def test_base64_garbage_is_ignored(self) -> None:
        assert forms_of("a" * 40) == ("a" * 40,)

    @pytest.mark.parametrize(
        ("headers", "shared"),
        [
            ("cache-control: public, max-age=60", True),
            ("cache-control: max-age=60", True),
            ("cache-control: s-maxage=60", True),
            ("cache-control: private, max-age=60", False),
            ("cache-control: public, max-age=60\nvary: Accept, Cookie", False),
            ("cache-control: no-store", False),
            ("cache-control: max-age=0", False),
            ("content-type: application/json", False),
        ],
    )
    def test_shared_cacheable(self, headers: str, shared: bool) -> None:
        with httpx.Client() as client:
            assert _shared_cacheable(headers, client) is shared

    def test_credentials_need_public(self) -> None:
        """A response to a request with ``Authorization`` is shared only when it says so."""
        with httpx.Client(headers={"Authorization": "Bearer t"}) as client:
            assert not _shared_cacheable("cache-control: max-age=60", client)
            assert _shared_cacheable("cache-control: public, max-age=60", client)

    def test_a_zip_archive_is_read(self) -> None:
        """A ZIP archive's members are read (deflated, even gzip inside); an archive
        inside an archive is not opened."""
        inner, outer = io.BytesIO(), io.BytesIO()
        with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("deep.txt", "qdeep123")
        with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("a.json", '{"place": "qplace12"}')
            z.writestr("b.gz", gzip.compress(b"qgzip123"))
            z.writestr("c.zip", inner.getvalue())
        text = body_text(outer.getvalue())
        assert "qplace12" in text
        assert "qgzip123" in text
        assert "qdeep123" not in text
        assert body_text(b"PK\x03\x04 not really") == "PK\x03\x04 not really"

    def test_birth_date_forms(self) -> None:
        """Short month names and the epoch seconds and milliseconds of its midnight."""
        forms = _date_forms(dt.date(2012, 3, 5), "Europe/London")
        assert {"Mar 5, 2012", "5 Mar 2012", "1330905600", "1330905600000"} <= set(forms)

    def test_email_digests(self) -> None:
        """An email address's Gravatar digests betray it."""
        forms = _email_forms(" Kid@Example.test")
        assert forms[1] == hashlib.md5(b"kid@example.test", usedforsecurity=False).hexdigest()
        assert forms[2] == hashlib.sha256(b"kid@example.test").hexdigest()
