from passlib.hash import sha512_crypt

from bunkhouse.reservations.passwords import hash_password, verify_password


def test_hash_is_a_salted_sha512_crypt_that_verifies():
    first = hash_password("correct horse")
    second = hash_password("correct horse")
    assert first.startswith("$6$")
    assert first != second  # a fresh salt every time
    assert "correct horse" not in first
    assert sha512_crypt.verify("correct horse", first)
    assert verify_password("correct horse", second)
    assert not verify_password("wrong horse", first)
