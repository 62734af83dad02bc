"""The ABIS matcher port over the built-in gallery: insert, identify, delete, count."""

from __future__ import annotations

import numpy as np
import pytest

from crms.errors import ValidationError
from crms.fingerprint import synthetic_templates as S
from crms.fingerprint.abis import BuiltinABIS, MatcherPort
from crms.fingerprint.shards import ShardedGallery


@pytest.mark.parametrize("sharded", [False, True])
def test_abis_verbs(sharded):
    rng = np.random.default_rng(31)
    abis: MatcherPort = BuiltinABIS(ShardedGallery(2, "local") if sharded else None)
    people = {f"ref-{i}": [S.master(rng) for _ in range(3)] for i in range(8)}
    for ref, fs in people.items():
        assert abis.insert(ref, [(p + 1, t) for p, t in enumerate(fs)]) == 3
    assert abis.count() == 8
    probe = [(2, S.impression(people["ref-5"][1], rng))]
    ans = abis.identify(probes=probe, max_results=3)
    assert ans.candidates[0].reference_id == "ref-5" and ans.hits == [ans.candidates[0]]
    assert len(ans.candidates) == 3
    # a second enrolment of ref-5's fingers under another reference: identify by reference finds it
    abis.insert("ref-dup", [(p + 1, S.impression(t, rng)) for p, t in enumerate(people["ref-5"])])
    ans = abis.identify(reference_id="ref-dup", max_results=2)
    assert ans.hits[0].reference_id == "ref-5" and "ref-dup" not in [c.reference_id for c in ans.candidates]
    assert abis.delete("ref-5") and not abis.delete("ref-5")
    assert abis.count() == 8
    ans = abis.identify(probes=probe, max_results=3)
    assert ans.candidates[0].reference_id == "ref-dup"
    with pytest.raises(ValidationError):
        abis.identify(reference_id="nope")
    with pytest.raises(ValidationError):
        abis.insert("bad", [(11, people["ref-1"][0])])
    assert abis.count() == 8
