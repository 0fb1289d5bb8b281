"""Bloblang encryption, password-hash and JSON Web Token methods.

`encrypt_aes`/`decrypt_aes` (ctr, gcm, ofb, cbc) use `cryptography`; `compare_bcrypt` and
`compare_argon2` use `bcrypt` and `argon2-cffi`; the RS*/ES* token methods sign and verify with
PyJWT's algorithms, HS* with the standard library's HMAC. Tokens are assembled here so that
headers and claims serialise as Go does (sorted keys), as Benthos' tokens are.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import argon2
import bcrypt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

try:  # newer releases keep OFB among the "decrepit" modes
    from cryptography.hazmat.decrepit.ciphers.modes import OFB
except ImportError:  # pragma: no cover - older cryptography
    OFB = modes.OFB  # type: ignore[misc,assignment]

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.lib.parsing import go_json_dumps
from streamforge.bloblang.lib.strings import as_bytes
from streamforge.bloblang.registry import Param, method

ENCODING_CATEGORY = "encoding"
STRING_CATEGORY = "string_manipulation"
JWT_CATEGORY = "jwt"

# ---------------------------------------------------------------------------------------
# AES


def _aes(key: Any) -> bytes:
    k = as_bytes(key)
    if len(k) not in (16, 24, 32):
        raise MappingError(f"crypto/aes: invalid key size {len(k)}")
    return k


def _stream_iv(scheme: str, iv: bytes) -> None:
    if scheme in ("ctr", "ofb", "cbc") and len(iv) != 16:
        raise MappingError("the key must match the initialisation vector size")


def _gcm(key: bytes, iv: bytes) -> AESGCM:
    if len(iv) != 12:
        raise MappingError("crypto/cipher: incorrect nonce length given to GCM")
    return AESGCM(key)


def _block_mode(scheme: str, iv: bytes) -> Any:
    if scheme == "ctr":
        return modes.CTR(iv)
    if scheme == "ofb":
        return OFB(iv)
    return modes.CBC(iv)


_AES_SCHEMES = ("ctr", "gcm", "ofb", "cbc")
_AES_PARAMS = [Param("scheme", "string"), Param("key", "any"), Param("iv", "any")]


@method("encrypt_aes", _AES_PARAMS, category=ENCODING_CATEGORY)
def encrypt_aes(target: Any, scheme: Any, key: Any, iv: Any) -> bytes:
    """Encrypt a string or bytes with AES in ctr, gcm, ofb or cbc mode."""
    if scheme not in _AES_SCHEMES:
        raise MappingError(f"unrecognized encryption type: {scheme}")
    k, nonce, data = _aes(key), as_bytes(iv), as_bytes(target)
    _stream_iv(scheme, nonce)
    if scheme == "gcm":
        return _gcm(k, nonce).encrypt(nonce, data, None)
    if scheme == "cbc" and len(data) % 16:
        raise MappingError("plaintext is not a multiple of the block size")
    enc = Cipher(algorithms.AES(k), _block_mode(scheme, nonce)).encryptor()
    return enc.update(data) + enc.finalize()


@method("decrypt_aes", _AES_PARAMS, category=ENCODING_CATEGORY)
def decrypt_aes(target: Any, scheme: Any, key: Any, iv: Any) -> bytes:
    """Decrypt bytes encrypted with AES in ctr, gcm, ofb or cbc mode."""
    if scheme not in _AES_SCHEMES:
        raise MappingError(f"unrecognized decryption type: {scheme}")
    k, nonce, data = _aes(key), as_bytes(iv), as_bytes(target)
    _stream_iv(scheme, nonce)
    if scheme == "gcm":
        try:
            return _gcm(k, nonce).decrypt(nonce, data, None)
        except Exception:  # noqa: BLE001 - InvalidTag, or a ciphertext shorter than the tag
            raise MappingError(
                "gcm decrypting failed: cipher: message authentication failed"
            ) from None
    if scheme == "cbc" and len(data) % 16:
        raise MappingError("ciphertext is not a multiple of the block size")
    dec = Cipher(algorithms.AES(k), _block_mode(scheme, nonce)).decryptor()
    return dec.update(data) + dec.finalize()


# ---------------------------------------------------------------------------------------
# Password hashes

_ARGON2 = argon2.PasswordHasher()


@method("compare_argon2", [Param("hashed_secret", "string")], category=STRING_CATEGORY)
def compare_argon2(target: Any, hashed_secret: Any) -> bool:
    """Whether a string matches an Argon2 (argon2i or argon2id) encoded hash."""
    secret = as_bytes(target)
    if not secret:
        return False
    parts = hashed_secret.split("$")
    if len(parts) != 6:
        raise MappingError("invalid argon2 hash")
    if parts[1] not in ("argon2i", "argon2id"):
        raise MappingError("invalid argon2 hash: unrecognised argon2 format")
    try:
        return _ARGON2.verify(hashed_secret, secret)
    except argon2.exceptions.VerifyMismatchError:
        return False
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError) as e:
        raise MappingError(f"invalid argon2 hash: {e}") from None


@method("compare_bcrypt", [Param("hashed_secret", "string")], category=STRING_CATEGORY)
def compare_bcrypt(target: Any, hashed_secret: Any) -> bool:
    """Whether a string matches a bcrypt hash."""
    secret = as_bytes(target)
    if len(secret) > 72:
        raise MappingError("bcrypt: password length exceeds 72 bytes")
    try:
        return bcrypt.checkpw(secret, hashed_secret.encode("utf-8"))
    except ValueError:
        raise MappingError("crypto/bcrypt: hashedSecret is not a valid bcrypt hash") from None


# ---------------------------------------------------------------------------------------
# JSON Web Tokens

_RESERVED_HEADERS = frozenset({"alg", "typ", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Signer(ABC):
    """How one JWT algorithm turns a secret into keys, signs and verifies."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        self._keys: dict[tuple[str, bool], Any] = {}

    @abstractmethod
    def load(self, secret: bytes, private: bool) -> Any:
        """The key object for a PEM or raw secret."""

    def key(self, secret: Any, private: bool) -> Any:
        raw = as_bytes(secret)
        cache_key = (raw.decode("latin-1"), private)
        key = self._keys.get(cache_key)
        if key is None:
            key = self.load(raw, private)
            if len(self._keys) >= 64:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    @abstractmethod
    def sign(self, key: Any, msg: bytes) -> bytes:
        """The signature of `msg`."""

    @abstractmethod
    def verify(self, key: Any, msg: bytes, sig: bytes) -> str | None:
        """None when the signature is valid, else the reason it is not."""


class _HMAC(_Signer):
    def __init__(self, alg: str, digest: str) -> None:
        super().__init__(alg)
        self.digest = digest

    def load(self, secret: bytes, private: bool) -> Any:
        return secret

    def sign(self, key: Any, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.digest).digest()

    def verify(self, key: Any, msg: bytes, sig: bytes) -> str | None:
        ok = hmac.compare_digest(hmac.new(key, msg, self.digest).digest(), sig)
        return None if ok else "signature is invalid"


class _PyJWTAlg(_Signer):
    def __init__(self, alg: str, impl: RSAAlgorithm | ECAlgorithm, family: str) -> None:
        super().__init__(alg)
        self.impl = impl
        self.family = family

    def load(self, secret: bytes, private: bool) -> Any:
        is_rsa = self.family == "rsa"
        want: tuple[type, ...]
        if is_rsa:
            want = (rsa.RSAPrivateKey,) if private else (rsa.RSAPublicKey,)
        else:
            want = (ec.EllipticCurvePrivateKey,) if private else (ec.EllipticCurvePublicKey,)
        kind = "PKCS1 or PKCS8" if is_rsa else "PKCS1 or PKCS8 EC"
        try:
            key = self.impl.prepare_key(secret)
        except Exception:  # noqa: BLE001 - any PEM the library cannot read
            raise MappingError(f"invalid key: Key must be a PEM encoded {kind} key") from None
        if not isinstance(key, want):
            name = "RSA" if is_rsa else "ECDSA"
            which = "private" if private else "public"
            raise MappingError(f"key is not a valid {name} {which} key")
        return key

    def sign(self, key: Any, msg: bytes) -> bytes:
        return self.impl.sign(msg, key)

    def verify(self, key: Any, msg: bytes, sig: bytes) -> str | None:
        try:
            ok = self.impl.verify(msg, key, sig)
        except Exception:  # noqa: BLE001 - a key of another curve, a malformed signature
            ok = False
        return None if ok else f"crypto/{self.family}: verification error"


def _parser(signer: _Signer) -> Callable[[Any, Any], Any]:
    def parse_jwt(target: Any, signing_secret: Any) -> Any:
        token = target if type(target) is str else as_bytes(target).decode("utf-8", "replace")
        key = signer.key(signing_secret, private=False)
        parts = token.split(".")
        if len(parts) != 3:
            raise MappingError(
                "failed to parse JWT string: token contains an invalid number of segments"
            )
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error) as e:
            raise MappingError(f"failed to parse JWT string: token is malformed: {e}") from None
        alg = header.get("alg") if isinstance(header, dict) else None
        if alg != signer.alg:
            raise MappingError(f"failed to parse JWT string: incorrect signing method: {alg}")
        if not isinstance(claims, dict):
            raise MappingError("failed to parse JWT string: token claims are not an object")
        problem = signer.verify(key, f"{parts[0]}.{parts[1]}".encode(), signature)
        if problem is not None:
            raise MappingError(f"failed to parse JWT string: {problem}")
        return claims

    parse_jwt.__doc__ = (
        f"Parse the claims of a JWT signed with {signer.alg} (claims are not validated)."
    )
    return parse_jwt


def _signer(signer: _Signer) -> Callable[..., str]:
    def sign_jwt(target: Any, signing_secret: Any, headers: Any = None) -> str:
        if type(target) is not dict:
            raise type_error("object", target)
        if headers is not None and type(headers) is not dict:
            raise type_error("object", headers)
        key = signer.key(signing_secret, private=True)
        head = {k: v for k, v in (headers or {}).items() if k not in _RESERVED_HEADERS}
        head.update(alg=signer.alg, typ="JWT")
        header_b64 = _b64url(go_json_dumps(head).encode())
        signing_input = f"{header_b64}.{_b64url(go_json_dumps(target).encode())}"
        return f"{signing_input}.{_b64url(signer.sign(key, signing_input.encode()))}"

    sign_jwt.__doc__ = f"Sign an object of JWT claims with {signer.alg}."
    return sign_jwt


def _register(prefix: str, signer: _Signer) -> None:
    bits = signer.alg[2:]
    method(f"parse_jwt_{prefix}{bits}", [Param("signing_secret", "string")], category=JWT_CATEGORY)(
        _parser(signer)
    )
    sign_params = [Param("signing_secret", "string"), Param("headers", "any", None)]
    method(f"sign_jwt_{prefix}{bits}", sign_params, category=JWT_CATEGORY)(_signer(signer))


for _bits in ("256", "384", "512"):
    _register("hs", _HMAC(f"HS{_bits}", f"sha{_bits}"))
    _hash = getattr(RSAAlgorithm, f"SHA{_bits}")
    _register("rs", _PyJWTAlg(f"RS{_bits}", RSAAlgorithm(_hash), "rsa"))
    _register("es", _PyJWTAlg(f"ES{_bits}", ECAlgorithm(_hash), "ecdsa"))
