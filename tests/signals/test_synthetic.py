"""The synthetic stream generator: reproducible, labelled, every pattern and look-alike."""

from __future__ import annotations

from childsafe.signals._synthetic import (
    EVALUATION_SEED,
    HARMFUL_PATTERNS,
    LOOK_ALIKES,
    generate,
)


class TestGenerator:
    def test_reproducible_and_ordered(self) -> None:
        """One seed, one stream; events in time order; other seeds differ."""
        a = generate(7, benign_adults=300, instances=21, children=500, teen_events=200)
        b = generate(7, benign_adults=300, instances=21, children=500, teen_events=200)
        c = generate(8, benign_adults=300, instances=21, children=500, teen_events=200)
        assert a.events == b.events
        assert a.events != c.events
        assert [e.t for e in a.events] == sorted(e.t for e in a.events)

    def test_labels(self) -> None:
        """Every pattern and look-alike appears; instances name their accounts."""
        s = generate(EVALUATION_SEED, benign_adults=2000, instances=70, children=2000,
                     teen_events=100)  # fmt: skip
        assert {i.pattern for i in s.instances} == set(HARMFUL_PATTERNS)
        assert set(s.benign.values()) == set(LOOK_ALIKES)
        harmful = {a for i in s.instances for a in i.accounts}
        assert not harmful & set(s.benign)
        assert all(s.accounts[a][0] == "adult" for a in harmful)
        assert sum(s.mix.values()) == len(s.events)
        returning = [i for i in s.instances if i.pattern == "return_after_block"]
        assert all(len(i.accounts) == 2 for i in returning)
        assert all(s.accounts[i.accounts[0]][1] == s.accounts[i.accounts[1]][1] for i in returning)
