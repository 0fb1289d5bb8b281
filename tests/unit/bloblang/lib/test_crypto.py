"""AES, password-hash and RS/ES JSON Web Token methods: documented examples, vectors, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from streamforge.bloblang.errors import MappingError

CLAIMS = {"iat": 1516239022, "mood": "Disdainful", "sub": "1234567890"}
CLAIMS_B64 = "eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9"

# ---------------------------------------------------------------------------------------
# AES

DOC_KEYS = (
    'let key = "2b7e151628aed2a6abf7158809cf4f3c".decode("hex")\n'
    'let vector = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff".decode("hex")\n'
)


def test_aes_documented_examples(run: Any) -> None:
    mapping = (
        DOC_KEYS + 'root.encrypted = this.value.encrypt_aes("ctr", $key, $vector).encode("hex")'
    )
    assert run(mapping, {"value": "hello world!"}) == {"encrypted": "84e9b31ff7400bdf80be7254"}
    mapping = (
        DOC_KEYS
        + 'root.decrypted = this.value.decode("hex").decrypt_aes("ctr", $key, $vector).string()'
    )
    assert run(mapping, {"value": "84e9b31ff7400bdf80be7254"}) == {"decrypted": "hello world!"}


# NIST SP 800-38A (F.2.1, F.4.1, F.5.1) and the GCM specification's test case 2.
@pytest.mark.parametrize(
    ("scheme", "key", "iv", "plain", "cipher"),
    [
        (
            "cbc",
            "2b7e151628aed2a6abf7158809cf4f3c",
            "000102030405060708090a0b0c0d0e0f",
            "6bc1bee22e409f96e93d7e117393172a",
            "7649abac8119b246cee98e9b12e9197d",
        ),
        (
            "ofb",
            "2b7e151628aed2a6abf7158809cf4f3c",
            "000102030405060708090a0b0c0d0e0f",
            "6bc1bee22e409f96e93d7e117393172a",
            "3b3fd92eb72dad20333449f8e83cfb4a",
        ),
        (
            "ctr",
            "2b7e151628aed2a6abf7158809cf4f3c",
            "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
            "6bc1bee22e409f96e93d7e117393172a",
            "874d6191b620e3261bef6864990db6ce",
        ),
        (
            "gcm",
            "00000000000000000000000000000000",
            "000000000000000000000000",
            "00000000000000000000000000000000",
            "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
        ),
    ],
)
def test_aes_standard_vectors(
    run: Any, scheme: str, key: str, iv: str, plain: str, cipher: str
) -> None:
    args = f'"{scheme}", this.k.decode("hex"), this.iv.decode("hex")'
    doc = {"k": key, "iv": iv, "p": plain, "c": cipher}
    assert run(f'root = this.p.decode("hex").encrypt_aes({args}).encode("hex")', doc) == cipher
    assert run(f'root = this.c.decode("hex").decrypt_aes({args}).encode("hex")', doc) == plain


@pytest.mark.parametrize("scheme", ["ctr", "ofb", "gcm"])
def test_aes_round_trips_text_of_any_length(run: Any, scheme: str) -> None:
    iv = "000102030405060708090a0b" if scheme == "gcm" else "000102030405060708090a0b0c0d0e0f"
    mapping = (
        f'let k = "000102030405060708090a0b0c0d0e0f1011121314151617".decode("hex")\n'
        f'let iv = "{iv}".decode("hex")\n'
        f'root = this.v.encrypt_aes("{scheme}", $k, $iv).decrypt_aes("{scheme}", $k, $iv).string()'
    )
    assert run(mapping, {"v": "seventeen chars!!"}) == "seventeen chars!!"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('root = "x".encrypt_aes("ecb", "0123456789abcdef", "0123456789abcdef")', "ecb"),
        ('root = "x".encrypt_aes("ctr", "short", "0123456789abcdef")', "invalid key size 5"),
        ('root = "x".encrypt_aes("ctr", "0123456789abcdef", "short")', "initialisation vector"),
        (
            'root = "x".encrypt_aes("cbc", "0123456789abcdef", "0123456789abcdef")',
            "not a multiple of the block size",
        ),
        ('root = "x".encrypt_aes("gcm", "0123456789abcdef", "short")', "nonce length"),
        (
            'root = "tampered ciphertext".decrypt_aes("gcm", "0123456789abcdef", "0123456789ab")',
            "message authentication failed",
        ),
    ],
)
def test_aes_errors(run: Any, mapping: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, None)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------
# Password hashes

ARGON2_DOC = (
    "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHktbWNzYWx0ZmFjZQ"
    "$RMUMwgtS32/mbszd+ke4o4Ej1jFpYiUqY6MHWa69X7Y"
)
ARGON2I = (
    "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHktbWNzYWx0ZmFjZQ"
    "$fyLJGjF+IArVfBnQ6ihK8jQwdNv4sv1aEZGVzBu9oAs"
)
BCRYPT_DOC = "$2y$10$Dtnt5NNzVtMCOZONT705tOcS8It6krJX8bEjnDJnwxiFKsz1C.3Ay"


@pytest.mark.parametrize(
    ("secret", "match"),
    [("there-are-many-blobs-in-the-sea", True), ("will-i-ever-find-love", False)],
)
def test_password_hash_documented_examples(run: Any, secret: str, match: bool) -> None:
    for method, hashed in (("compare_argon2", ARGON2_DOC), ("compare_bcrypt", BCRYPT_DOC)):
        mapping = f'root.match = this.secret.{method}("{hashed}")'
        assert run(mapping, {"secret": secret}) == {"match": match}


def test_argon2i_hashes_and_empty_input(run: Any) -> None:
    mapping = "root = this.v.compare_argon2(this.h)"
    assert run(mapping, {"v": "some-fancy-secret", "h": ARGON2I}) is True
    assert run(mapping, {"v": "a-blobs-tale", "h": ARGON2I}) is False
    assert run(mapping, {"v": "", "h": ARGON2I}) is False


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('root = "x".compare_argon2("$argon2d$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA")', "argon2 format"),
        ('root = "x".compare_argon2("not-a-hash")', "invalid argon2 hash"),
        ('root = "x".compare_bcrypt("not-a-hash")', "bcrypt"),
    ],
)
def test_password_hash_errors(run: Any, mapping: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, None)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------
# RS* and ES* JSON Web Tokens

RSA_PUBLIC_DOC = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs/ibN8r68pLMR6gRzg4S
8v8l6Q7yi8qURjkEbcNeM1rkokC7xh0I4JVTwxYSVv/JIW8qJdyspl5NIfuAVi32
WfKvSAs+NIs+DMsNPYw3yuQals4AX8hith1YDvYpr8SD44jxhz/DR9lYKZFGhXGB
+7NqQ7vpTWp3BceLYocazWJgusZt7CgecIq57ycM5hjM93BvlrUJ8nQ1a46wfL/8
Cy4P0et70hzZrsjjN41KFhKY0iUwlyU41yEiDHvHDDsTMBxAZosWjSREGfJL6Mfp
XOInTHs/Gg6DZMkbxjQu6L06EdJ+Q/NwglJdAXM7Zo9rNELqRig6DdvG5JesdMsO
+QIDAQAB
-----END PUBLIC KEY-----"""

EC_PUBLIC_DOC = {
    "256": """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGtLqIBePHmIhQcf0JLgc+F/4W/oI
dp0Gta53G35VerNDgUUXmp78J2kfh4qLdh0XtmOMI587tCaqjvDAXfs//w==
-----END PUBLIC KEY-----""",
    "384": """-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERoz74/B6SwmLhs8X7CWhnrWyRrB13AuU
8OYeqy0qHRu9JWNw8NIavqpTmu6XPT4xcFanYjq8FbeuM11eq06C52mNmS4LLwzA
2imlFEgn85bvJoC3bnkuq4mQjwt9VxdH
-----END PUBLIC KEY-----""",
    "512": """-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAkHLdts9P56fFkyhpYQ31M/Stwt3w
vpaxhlfudxnXgTO1IP4RQRgryRxZ19EUzhvWDcG3GQIckoNMY5PelsnCGnIBT2Xh
9NQkjWF5K6xS4upFsbGSAwQ+GIyyk5IPJ2LHgOyMSCVh5gRZXV3CZLzXujx/umC9
UeYyTt05zRRWuD+p5bY=
-----END PUBLIC KEY-----""",
}

DOC_TOKENS = {
    "rs256": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    + CLAIMS_B64
    + ".b0lH3jEupZZ4zoaly4Y_GCvu94HH6UKdKY96zfGNsIkPZpQLHIkZ7jMWlLlNOAd8qXlsBGP_i8H2qCKI4zlWJBGyP"
    "ZgxXDzNRPVrTDfFpn4t4nBcA1WK2-ntXP3ehQxsaHcQU8Z_nsogId7Pme5iJRnoHWEnWtbwz5DLSXL3ZZNnRdrHM9MdI"
    "7QSDz9mojKDCaMpGN9sG7Xl-tGdBp1XzXuUOzG8S03mtZ1IgVR1uiBL2N6oohHIAunk8DIAmNWI-zgycTgzUGU7mvPkK"
    "H43qO8Ua1-13tCUBKKa8VxcotZ67Mxm1QAvBGoDnTKwWMwghLzs6d6WViXQg6eWlJcpBA",
    "rs384": "eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9."
    + CLAIMS_B64
    + ".orcXYBcjVE5DU7mvq4KKWFfNdXR4nEY_xupzWoETRpYmQZIozlZnM_nHxEk2dySvpXlAzVm7kgOPK2RFtGlOVaNRI"
    "a3x-pMMr-bhZTno4L8Hl4sYxOks3bWtjK7wql4uqUbqThSJB12psAXw2-S-I_FMngOPGIn4jDT9b802ottJSvTpXcy0-"
    "eKTjrV2PSkRRu-EYJh0CJZW55MNhqlt6kCGhAXfbhNazN3ASX-dmpd_JixyBKphrngr_zRA-FCn_Xf3QQDA-5INopb4Y"
    "p5QiJ7UxVqQEKI80X_JvJqz9WE1qiAw8pq5-xTen1t7zTP-HT1NbbD3kltcNa3G8acmNg",
    "rs512": "eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9."
    + CLAIMS_B64
    + ".rsMp_X5HMrUqKnZJIxo27aAoscovRA6SSQYR9rq7pifIj0YHXxMyNyOBDGnvVALHKTi25VUGHpfNUW0VVMmae0A4t"
    "_ObNU6hVZHguWvetKZZq4FZpW1lgWHCMqgPGwT5_uOqwYCH6r8tJuZT3pqXeL0CY4putb1AN2w6CVp620nh3l8d3XWb4j"
    "aifycd_4CEVCqHuWDmohfug4VhmoVKlIXZkYoAQowgHlozATDssBSWdYtv107Wd2AzEoiXPu6e3pflsuXULlyqQnS4EL"
    "EKPYThFLafh1NqvZDPddqozcPZ-iODBW-xf3A4DYDdivnMYLrh73AZOGHexxu8ay6nDA",
    "es256": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9."
    + CLAIMS_B64
    + ".GIRajP9JJbpTlqSCdNEz4qpQkRvzX4Q51YnTwVyxLDM9tKjR_a8ggHWn9CWj7KG0x8J56OWtmUxn112SRTZVhQ",
    "es384": "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9."
    + CLAIMS_B64
    + ".H2HBSlrvQBaov2tdreGonbBexxtQB-xzaPL4-tNQZ6TVh7VH8VBcSwcWHYa1lBAHmdsKOFcB2Wk0SB7QWeGT3ptS"
    "gr-_EhDMaZ8bA5spgdpq5DsKfaKHrd7DbbQlmxNq",
    "es512": "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9."
    + CLAIMS_B64
    + ".ACrpLuU7TKpAnncDCpN9m85nkL55MJ45NFOBl6-nEXmNT1eIxWjiP4pwWVbFH9et_BgN14119jbL_KqEJInPYc9n"
    "AXC6dDLq0aBU-dalvNl4-O5YWpP43-Y-TBGAsWnbMTrchILJ4-AEiICe73Ck5yWPleKg9c3LtkEFWfGs7BoPRguZ",
}


def _doc_key(name: str) -> str:
    return RSA_PUBLIC_DOC if name.startswith("rs") else EC_PUBLIC_DOC[name[2:]]


@pytest.mark.parametrize("name", sorted(DOC_TOKENS))
def test_parse_jwt_documented_examples(run: Any, name: str) -> None:
    mapping = f'root.claims = this.signed.parse_jwt_{name}("""{_doc_key(name)}""")'
    assert run(mapping, {"signed": DOC_TOKENS[name]}) == {"claims": CLAIMS}


def test_parse_jwt_rejects_tampering_and_other_algorithms(run: Any) -> None:
    token = DOC_TOKENS["rs256"]
    head, _, sig = token.split(".")
    claims = base64.urlsafe_b64encode(b'{"sub":"admin"}').decode().rstrip("=")
    forged = f"{head}.{claims}.{sig}"
    with pytest.raises(MappingError, match="crypto/rsa: verification error"):
        run(f'root = this.t.parse_jwt_rs256("""{RSA_PUBLIC_DOC}""")', {"t": forged})
    with pytest.raises(MappingError, match="incorrect signing method: RS256"):
        run(f'root = this.t.parse_jwt_rs384("""{RSA_PUBLIC_DOC}""")', {"t": token})
    none_token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyMTMzOCJ9."
    with pytest.raises(MappingError, match="incorrect signing method: none"):
        run(f'root = this.t.parse_jwt_rs256("""{RSA_PUBLIC_DOC}""")', {"t": none_token})
    with pytest.raises(MappingError, match="crypto/ecdsa: verification error"):
        es = DOC_TOKENS["es256"]
        run(f'root = this.t.parse_jwt_es256("""{EC_PUBLIC_DOC["256"]}""")', {"t": es[:-4] + "AAAA"})
    with pytest.raises(MappingError, match="invalid key"):
        run('root = this.t.parse_jwt_rs256("not a key")', {"t": token})


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rs": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "es256": ec.generate_private_key(ec.SECP256R1()),
        "es384": ec.generate_private_key(ec.SECP384R1()),
        "es512": ec.generate_private_key(ec.SECP521R1()),
    }


@pytest.mark.parametrize("name", ["rs256", "rs384", "rs512", "es256", "es384", "es512"])
def test_sign_jwt_round_trips_and_verifies_with_pyjwt(
    run: Any, keys: dict[str, Any], name: str
) -> None:
    key = keys["rs"] if name.startswith("rs") else keys[name]
    token = run(f'root = this.sign_jwt_{name}("""{_pem(key)}""")', CLAIMS)
    head, payload, _ = token.split(".")
    alg = name.upper()
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": alg, "typ": "JWT"}
    assert payload == CLAIMS_B64
    assert jwt.decode(token, _public_pem(key), algorithms=[alg]) == CLAIMS
    parse = f'root = this.t.parse_jwt_{name}("""{_public_pem(key)}""")'
    assert run(parse, {"t": token}) == CLAIMS


def test_sign_jwt_rs_is_deterministic_and_es_header_matches_documentation(
    run: Any, keys: dict[str, Any]
) -> None:
    mapping = f'root = this.sign_jwt_rs256("""{_pem(keys["rs"])}""")'
    assert run(mapping, {"sub": "user123"}) == run(mapping, {"sub": "user123"})
    token = run(f'root = this.sign_jwt_es384("""{_pem(keys["es384"])}""")', {"sub": "user123"})
    assert token.startswith("eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyMTIzIn0.")


def test_sign_jwt_headers_are_added_but_reserved_ones_ignored(
    run: Any, keys: dict[str, Any]
) -> None:
    mapping = (
        'root = this.claims.sign_jwt_hs256(signing_secret: "dont-tell-anyone", '
        'headers: {"kid": "my-key", "x": "y", "alg": "none", "typ": "other"})'
    )
    token = run(mapping, {"claims": {"sub": "user123"}})
    head = token.split(".")[0]
    assert base64.urlsafe_b64decode(head + "==") == (
        b'{"alg":"HS256","kid":"my-key","typ":"JWT","x":"y"}'
    )
    assert run('root = this.t.parse_jwt_hs256("dont-tell-anyone")', {"t": token}) == {
        "sub": "user123"
    }
    with pytest.raises(MappingError, match="expected object value"):
        run('root = this.sign_jwt_hs256("k", headers: "nope")', {"a": 1})


def test_sign_jwt_needs_a_private_key_and_parse_a_public_one(
    run: Any, keys: dict[str, Any]
) -> None:
    with pytest.raises(MappingError, match="not a valid RSA private key"):
        run(f'root = this.sign_jwt_rs256("""{_public_pem(keys["rs"])}""")', {"a": 1})
    token = run(f'root = this.sign_jwt_es256("""{_pem(keys["es256"])}""")', {"a": 1})
    with pytest.raises(MappingError, match="not a valid ECDSA public key"):
        run(f'root = this.t.parse_jwt_es256("""{_pem(keys["es256"])}""")', {"t": token})
