"""The local test age-token issuer shipped with the examples, and the data directory."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from examples.common.age_issuer import (
    AUDIENCE,
    ISSUER,
    KEY_FILE,
    AgeIssuer,
    create_file_once,
    main,
)
from examples.common.playground import SECRET_FILE, Playground, default_data_dir
from examples.common.socialdb import SocialDB

from childsafe.assurance import IssuerConfig, TokenError, TokenVerifier


def verifier_for(issuer: AgeIssuer) -> TokenVerifier:
    """A verifier trusting ``issuer``'s published keys."""
    config = IssuerConfig(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], jwks=issuer.jwks()
    )
    return TokenVerifier([config])


class TestAgeIssuer:
    def test_key_pair_is_private_and_ignored_by_git(self, tmp_path: Path) -> None:
        """The private key is owner-only, and the data directory ignores everything in it."""
        AgeIssuer(tmp_path / "data")

        key = tmp_path / "data" / KEY_FILE
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
        assert (tmp_path / "data" / ".gitignore").read_text().splitlines()[-1] == "*"
        assert b"PRIVATE KEY" in key.read_bytes()

    def test_key_pair_is_kept_between_starts(self, tmp_path: Path) -> None:
        """A second issuer over the same directory has the same key: old tokens still verify."""
        first = AgeIssuer(tmp_path)
        token = first.issue("sam", age_band="13_15")

        second = AgeIssuer(tmp_path)

        assert second.key_id == first.key_id
        assert verifier_for(second).verify(token).band.value == "13_15"

    def test_another_directory_has_another_key(self, tmp_path: Path) -> None:
        """Tokens of an issuer with other keys are refused (the signature does not verify)."""
        token = AgeIssuer(tmp_path / "a").issue("sam", age_band="13_15")
        other = AgeIssuer(tmp_path / "b")

        with pytest.raises(TokenError) as refused:
            verifier_for(other).verify(token)

        assert refused.value.code == "unknown_key"  # its kid names a key the set lacks

    def test_jwks_holds_only_the_public_key(self, tmp_path: Path) -> None:
        """The published key set has the public EC key with its thumbprint id."""
        issuer = AgeIssuer(tmp_path)

        [key] = issuer.jwks()["keys"]

        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["kid"]) == ("EC", "P-256", issuer.key_id)

    def test_command_line_prints_a_token(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``python -m examples.common.age_issuer`` prints a token the apps accept."""
        main(["sam", "--data-dir", str(tmp_path), "--age-band", "13_15", "--minutes", "5"])

        token = capsys.readouterr().out.strip()
        verified = verifier_for(AgeIssuer(tmp_path)).verify(token)
        assert (verified.subject, verified.band.value) == ("sam", "13_15")

    def test_command_line_needs_an_age_claim(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The command line refuses a token that would say nothing about an age."""
        with pytest.raises(SystemExit):
            main(["sam", "--data-dir", "unused"])

        assert "give at least one of" in capsys.readouterr().err


class TestDataDirectory:
    def test_files_are_created_once_under_concurrency(self, tmp_path: Path) -> None:
        """Workers starting together all end up with the same secret."""
        target = tmp_path / "secret"
        seen: list[bytes] = []

        def create(n: int) -> None:
            seen.append(create_file_once(target, bytes([n]) * 32))

        threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(set(seen)) == 1
        assert target.read_bytes() == seen[0]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]  # no leftovers

    def test_playground_keeps_its_state_next_to_the_database(self, tmp_path: Path) -> None:
        """The consent secret, revocations and issuer key live in ``<db>-data``."""
        db_path = tmp_path / "playground.sqlite3"

        Playground(SocialDB(db_path), default_data_dir(db_path))

        data = tmp_path / "playground-data"
        assert sorted(p.name for p in data.iterdir()) == sorted(
            [".gitignore", KEY_FILE, SECRET_FILE, "revocations.sqlite3"]
        )
        assert len((data / SECRET_FILE).read_bytes()) == 32
