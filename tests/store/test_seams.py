"""The store's randomness seam: uids and generated names drawn from one seeded generator."""

from __future__ import annotations

import random
import uuid

from hypothesis import given
from hypothesis import strategies as st

from store.seams import make_rng, random_suffix, random_uid


@given(st.integers(0, 2**32))
def test_a_uid_is_the_version_4_uuid_of_the_next_128_bits(seed: int) -> None:
    drawn, reference = make_rng(seed), random.Random(seed)
    for _ in range(3):
        uid = random_uid(drawn)
        assert uid == str(uuid.UUID(int=reference.getrandbits(128), version=4))
        assert uuid.UUID(uid).version == 4
    assert drawn.getstate() == reference.getstate()


def test_uids_and_suffixes_repeat_with_the_seed() -> None:
    first, second = make_rng(7), make_rng(7)
    assert [random_uid(first), random_suffix(first)] == [random_uid(second), random_suffix(second)]
