"""General Bloblang functions: identifiers (`uuid_v4`, `nanoid`, `ksuid`, ...), `counter`,
`random_int`, `range`, and the environment functions `env`, `file` and `hostname`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.lib.numbers import INT64_MAX, to_int64
from streamforge.bloblang.registry import DELETED, NOTHING, ExecContext, Param, function

__all__ = ["ksuid_string", "nanoid_string"]

GENERAL = "general"
ENVIRONMENT = "environment"


def _resolve(arg: Any, this: Any) -> Any:
    """Evaluate a query argument against `this`; plain values pass through."""
    return arg(this) if callable(arg) else arg


def _context_value(ctx: ExecContext) -> Any:
    return ctx.this


# -- counter ------------------------------------------------------------------------------


def _counter_factory(*_: Any) -> Callable[..., Any]:
    state: dict[str, int] = {}
    lock = threading.Lock()

    def counter(ctx: ExecContext, min_: Any = 1, max_: Any = INT64_MAX, set_: Any = None) -> int:
        this = _context_value(ctx)
        with lock:
            if "next" not in state:
                try:
                    low = to_int64(_resolve(min_, this))
                except MappingError as exc:
                    raise MappingError(f"failed to resolve min argument: {exc.reason}") from None
                if low < 0:
                    raise MappingError(f"min argument must be >0, got {low}")
                try:
                    high = to_int64(_resolve(max_, this))
                except MappingError as exc:
                    raise MappingError(f"failed to resolve max argument: {exc.reason}") from None
                if high < 0 or high <= low:
                    raise MappingError(f"max argument must be >0 and >min, got {high}")
                state.update(min=low, max=high, next=low - 1)
            if set_ is not None:
                try:
                    target = _resolve(set_, this)
                except MappingError as exc:
                    raise MappingError(f"failed to resolve set argument: {exc.reason}") from None
                if target is None:
                    return state["next"]
                if target is DELETED:
                    state["next"] = state["min"] - 1
                elif target is not NOTHING:
                    if isinstance(target, bool) or not isinstance(target, (int, float)):
                        raise MappingError(
                            "failed to resolve set argument: " + type_error("number", target).reason
                        )
                    state["next"] = int(target)
                    return state["next"]
            state["next"] += 1
            value = state["next"]
            if value >= state["max"]:
                state["next"] = state["min"] - 1
            return value

    def resume_state() -> dict[str, int]:
        with lock:
            return dict(state)

    def resume(saved: dict[str, int]) -> None:
        with lock:
            state.clear()
            state.update(saved)

    counter.resume_state = resume_state  # type: ignore[attr-defined]
    counter.resume = resume  # type: ignore[attr-defined]
    return counter


function(
    "counter",
    [Param("min", "query", 1), Param("max", "query", INT64_MAX), Param("set", "query", None)],
    category=GENERAL,
    needs_ctx=True,
    per_call_site=True,
    description=(
        "An incrementing integer with its own count per call site, starting at `min` and "
        "wrapping after `max`; `set` may reset (number), peek (null) or restart (deleted)."
    ),
)(_counter_factory)


# -- random_int ---------------------------------------------------------------------------


def _random_int_factory(*_: Any) -> Callable[..., Any]:
    state: dict[str, random.Random] = {}
    lock = threading.Lock()

    def random_int(
        ctx: ExecContext, seed: Any = 0, min_: Any = 0, max_: Any = INT64_MAX - 1
    ) -> int:
        low = to_int64(min_)
        high = to_int64(max_)
        if low < 0:
            raise MappingError(f"min ({low}) must be a positive number")
        if high < low:
            raise MappingError(f"min ({low}) must be smaller or equal than max ({high})")
        if high == INT64_MAX:
            raise MappingError(
                f"max must be smaller than the max allowed for an int64 ({INT64_MAX})"
            )
        with lock:
            rng = state.get("rng")
            if rng is None:
                try:
                    seed_value = to_int64(_resolve(seed, _context_value(ctx)))
                except MappingError as exc:
                    raise MappingError(
                        f"failed to seed random number generator: {exc.reason}"
                    ) from None
                rng = state["rng"] = random.Random(seed_value)
            return rng.randint(low, high)

    def resume_state() -> Any:
        with lock:
            rng = state.get("rng")
            return None if rng is None else rng.getstate()

    def resume(saved: Any) -> None:
        with lock:
            state.clear()
            if saved is not None:
                rng = random.Random()
                rng.setstate(saved)
                state["rng"] = rng

    random_int.resume_state = resume_state  # type: ignore[attr-defined]
    random_int.resume = resume  # type: ignore[attr-defined]
    return random_int


function(
    "random_int",
    [Param("seed", "query", 0), Param("min", "int", 0), Param("max", "int", INT64_MAX - 1)],
    category=GENERAL,
    needs_ctx=True,
    per_call_site=True,
    description=(
        "A pseudo-random non-negative integer between `min` and `max`; the generator of each "
        "call site is seeded once from `seed`."
    ),
)(_random_int_factory)


# -- range --------------------------------------------------------------------------------


@function("range", [Param("start", "int"), Param("stop", "int"), Param("step", "int", 1)])
def range_(start: Any, stop: Any, step: Any = 1) -> list[int]:
    """The integers from `start` up to (not including) `stop`, `step` apart."""
    start, stop, step = to_int64(start), to_int64(stop), to_int64(step)
    if step == 0:
        raise MappingError("step must be greater than or less than 0")
    if step < 0:
        if stop > start:
            raise MappingError(f"with negative step arg stop ({stop}) must be <= start ({start})")
    elif start >= stop:
        raise MappingError(f"with positive step arg start ({start}) must be < stop ({stop})")
    return list(range(start, stop, step))


# -- identifiers --------------------------------------------------------------------------


@function("uuid_v4", category=GENERAL)
def uuid_v4() -> str:
    """A random RFC 4122 version 4 UUID."""
    return str(uuid.uuid4())


@function("uuid_v7", [Param("time", "timestamp", None)], category=GENERAL)
def uuid_v7(at: Any = None) -> str:
    """A time-ordered RFC 9562 version 7 UUID, for now or for the timestamp given."""
    if at is None:
        millis = time.time_ns() // 1_000_000
    else:
        from streamforge.bloblang.lib.timestamps import ts_unix_milli

        millis = ts_unix_milli(at)
        if millis < 0:
            raise MappingError("uuid_v7 time must not be before the unix epoch")
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version
    value |= (rand >> 68) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))


@function("bytes", [Param("length", "int")], category=GENERAL)
def zero_bytes(length: Any) -> bytes:
    """A byte array of `length` zero bytes."""
    n = to_int64(length)
    if n < 0:
        raise MappingError(f"length must be non-negative, got {n}")
    return bytes(n)


_SCHEMA_ID_MAX = 0xFFFFFFFF


@function(
    "with_schema_registry_header",
    [Param("schema_id"), Param("message")],
    category="encoding",
)
def with_schema_registry_header(schema_id: Any, message: Any) -> bytes:
    """The message prefixed with the Confluent Schema Registry wire header: a zero magic
    byte and the schema ID as four big-endian bytes."""
    sid = to_int64(schema_id)
    if not 0 <= sid <= _SCHEMA_ID_MAX:
        raise MappingError(f"schema ID {sid} is out of range (0 to {_SCHEMA_ID_MAX})")
    if isinstance(message, str):
        payload = message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray)):
        payload = bytes(message)
    else:
        raise type_error("bytes", message)
    return b"\x00" + sid.to_bytes(4, "big") + payload


NANOID_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def nanoid_string(length: int = 21, alphabet: str = NANOID_ALPHABET) -> str:
    """A random id of `length` characters drawn uniformly from `alphabet`."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


@function("nanoid", [Param("length", "int", None), Param("alphabet", "string", None)])
def nanoid(length: Any = None, alphabet: Any = None) -> str:
    """A random URL-safe nanoid (21 characters unless `length` is given)."""
    if alphabet is not None and length is None:
        raise MappingError("field length must be specified when an alphabet is specified")
    size = 21 if length is None else to_int64(length)
    if size <= 0:
        raise MappingError("size must be positive integer")
    if alphabet is None:
        return nanoid_string(size)
    if not isinstance(alphabet, str):
        raise type_error("string", alphabet)
    if not 0 < len(alphabet) <= 255:
        raise MappingError("alphabet must not be empty and contain no more than 255 chars")
    return nanoid_string(size, alphabet)


KSUID_EPOCH = 1_400_000_000
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def ksuid_string(timestamp: float | None = None, payload: bytes | None = None) -> str:
    """A KSUID: 32-bit seconds since 2014-05-13 and 128 random bits, base62, 27 characters."""
    seconds = int(time.time() if timestamp is None else timestamp) - KSUID_EPOCH
    body = payload if payload is not None else secrets.token_bytes(16)
    number = int.from_bytes((seconds & 0xFFFFFFFF).to_bytes(4, "big") + body, "big")
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars)).rjust(27, "0")


@function("ksuid", category=GENERAL)
def ksuid() -> str:
    """A new K-sortable unique identifier."""
    return ksuid_string()


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@function(
    "ulid",
    [Param("encoding", "string", "crockford"), Param("random_source", "string", "secure_random")],
    category=GENERAL,
)
def ulid(encoding: Any = "crockford", random_source: Any = "secure_random") -> str:
    """A ULID: 48-bit milliseconds and 80 random bits, Crockford base32 (or hex)."""
    if random_source == "secure_random":
        entropy = secrets.token_bytes(10)
    elif random_source == "fast_random":
        entropy = random.getrandbits(80).to_bytes(10, "big")
    else:
        raise MappingError(f"invalid ulid random source: {random_source}")
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + entropy
    if encoding == "hex":
        return raw.hex()
    if encoding != "crockford":
        raise MappingError(f"invalid ulid encoding: {encoding}")
    number = int.from_bytes(raw, "big")
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


# -- environment --------------------------------------------------------------------------


#: distinct keys a call site remembers; dynamic keys beyond this are looked up every time
_CACHE_LIMIT = 256


def _cached_lookup(load: Callable[[str], Any]) -> Callable[..., Callable[..., Any]]:
    """Factory of per-call-site implementations that cache by key unless `no_cache` is set."""

    def factory(*_: Any) -> Callable[..., Any]:
        cache: dict[str, Any] = {}

        def impl(key: Any, no_cache: Any = False) -> Any:
            if isinstance(key, (bytes, bytearray)):
                key = bytes(key).decode("utf-8", "replace")
            if not isinstance(key, str):
                raise type_error("string", key)
            if no_cache:
                return load(key)
            if key in cache:
                return cache[key]
            value = load(key)
            if len(cache) < _CACHE_LIMIT:
                cache[key] = value
            return value

        return impl

    return factory


def _read_env(name: str) -> str | None:
    return os.environ.get(name)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise MappingError(f"open {path}: {exc.strerror or exc}") from None


function(
    "env",
    [Param("name", "string"), Param("no_cache", "bool", False)],
    category=ENVIRONMENT,
    per_call_site=True,
    description="The value of an environment variable, or null when it is not set.",
)(_cached_lookup(_read_env))

function(
    "file",
    [Param("path", "string"), Param("no_cache", "bool", False)],
    category=ENVIRONMENT,
    per_call_site=True,
    description="The contents of a file as bytes; relative paths start at the working directory.",
)(_cached_lookup(_read_file))


@function("hostname", category=ENVIRONMENT)
def hostname() -> str:
    """The hostname of the machine."""
    return socket.gethostname()


def _file_rel_factory(mapping_dir: str | None = None, *_: Any) -> Callable[..., Any]:
    """`file_rel` for one call site: relative paths start at the mapping's directory."""

    def read(path: str) -> bytes:
        if mapping_dir and not os.path.isabs(path):
            path = os.path.join(mapping_dir, path)
        return _read_file(path)

    return _cached_lookup(read)()


function(
    "file_rel",
    [Param("path", "string"), Param("no_cache", "bool", False)],
    category=ENVIRONMENT,
    per_call_site=True,
    description="The contents of a file as bytes; relative paths start at the mapping's directory.",
)(_file_rel_factory)


# -- snowflake_id, typeid -----------------------------------------------------------------

#: Twitter's snowflake epoch (2010-11-04T01:42:54.657Z) in milliseconds, as Benthos uses
SNOWFLAKE_EPOCH_MS = 1288834974657
_SNOWFLAKE_NODE_MAX = 1023
_SNOWFLAKE_STEP_MASK = 4095


def _snowflake_factory(*_: Any) -> Callable[..., Any]:
    state = {"ms": 0, "step": 0}
    lock = threading.Lock()

    def snowflake_id(node_id: Any = 1) -> str:
        node = to_int64(node_id)
        if not 0 <= node <= _SNOWFLAKE_NODE_MAX:
            raise MappingError(f"Node number must be between 0 and {_SNOWFLAKE_NODE_MAX}")
        with lock:
            now = time.time_ns() // 1_000_000
            if now <= state["ms"]:
                now = state["ms"]
                state["step"] = (state["step"] + 1) & _SNOWFLAKE_STEP_MASK
                if state["step"] == 0:  # 4096 ids in this millisecond: take the next one
                    now += 1
            else:
                state["step"] = 0
            state["ms"] = now
            step = state["step"]
        return str(((now - SNOWFLAKE_EPOCH_MS) << 22) | (node << 12) | step)

    return snowflake_id


function(
    "snowflake_id",
    [Param("node_id", "int", 1)],
    category=GENERAL,
    per_call_site=True,
    description="A new Twitter-style snowflake ID (time, node, sequence) as a string.",
)(_snowflake_factory)

_TYPEID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TYPEID_PREFIX_MAX = 63


def typeid_string(prefix: str, value: uuid.UUID) -> str:
    """A TypeID: `prefix_` (none when empty) and the UUID in 26 Crockford base32 characters."""
    if len(prefix) > _TYPEID_PREFIX_MAX:
        raise MappingError(f"typeid prefix is longer than {_TYPEID_PREFIX_MAX} characters")
    if prefix and (
        not prefix.isascii()
        or any(not (c.islower() or c == "_") for c in prefix)
        or prefix[0] == "_"
        or prefix[-1] == "_"
    ):
        raise MappingError(
            f"typeid prefix {prefix!r} must be lowercase ASCII letters and underscores, "
            "starting and ending with a letter"
        )
    n = value.int
    suffix = "".join(_TYPEID_ALPHABET[(n >> (5 * i)) & 31] for i in range(25, -1, -1))
    return f"{prefix}_{suffix}" if prefix else suffix


@function("typeid", [Param("prefix", "string", "")], category=GENERAL)
def typeid(prefix: Any = "") -> str:
    """A new TypeID: a type prefix and a UUIDv7 in base32 (`user_01h455vb4pex5vsknk084sn02q`)."""
    if not isinstance(prefix, str):
        raise type_error("string", prefix)
    return typeid_string(prefix, uuid.UUID(uuid_v7()))


# -- fake ---------------------------------------------------------------------------------

_ROMAN = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)  # fmt: skip


def _roman(n: int) -> str:
    out = []
    for value, numeral in _ROMAN:
        while n >= value:
            out.append(numeral)
            n -= value
    return "".join(out)


def _fake_jwt(f: Any) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    claims = {"sub": f.uuid4(), "name": f.name(), "iat": int(f.unix_time())}
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secrets.token_bytes(32), f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{b64(sig.digest())}"


_CARD_TYPES = ("VISA", "MasterCard", "American Express", "Discover", "JCB", "Diners Club")


def _fake_generators() -> dict[str, Callable[[], Any]]:
    """The fake-data kinds Benthos documents (go-faker names), backed by the Faker library."""
    from faker import Faker  # imported when a mapping first uses fake(), not per message

    f = Faker("en_US")
    zh = Faker("zh_CN")
    return {
        "latitude": lambda: float(f.latitude()),
        "longitude": lambda: float(f.longitude()),
        "unix_time": lambda: int(f.unix_time()),
        "date": lambda: f.date(),
        "time_string": lambda: f.time(),
        "month_name": lambda: f.month_name(),
        "year_string": lambda: f.year(),
        "day_of_week": lambda: f.day_of_week(),
        "day_of_month": lambda: str(int(f.day_of_month())),
        "timestamp": lambda: f.date_time().strftime("%Y-%m-%d %H:%M:%S"),
        "century": lambda: _roman(random.randint(1, 21)),
        "timezone": lambda: f.timezone(),
        "time_period": lambda: f.am_pm(),
        "email": lambda: f.email(),
        "mac_address": lambda: f.mac_address(),
        "domain_name": lambda: f.domain_name(),
        "url": lambda: f.url(),
        "username": lambda: f.user_name(),
        "ipv4": lambda: f.ipv4(),
        "ipv6": lambda: f.ipv6(),
        "password": lambda: f.password(length=50, special_chars=False),
        "jwt": lambda: _fake_jwt(f),
        "word": lambda: f.word(),
        "sentence": lambda: f.sentence(),
        "paragraph": lambda: f.paragraph(),
        "cc_type": lambda: random.choice(_CARD_TYPES),
        "cc_number": lambda: f.credit_card_number(),
        "currency": lambda: f.currency_code(),
        "amount_with_currency": lambda: (
            f"{f.currency_code()} {f.pyfloat(min_value=0, max_value=10000, right_digits=2):.2f}"
        ),
        "title_male": lambda: f.prefix_male(),
        "title_female": lambda: f.prefix_female(),
        "first_name": lambda: f.first_name(),
        "first_name_male": lambda: f.first_name_male(),
        "first_name_female": lambda: f.first_name_female(),
        "last_name": lambda: f.last_name(),
        "name": lambda: f.name(),
        "gender": lambda: random.choice(("Male", "Female")),
        "chinese_first_name": lambda: zh.first_name(),
        "chinese_last_name": lambda: zh.last_name(),
        "chinese_name": lambda: zh.last_name() + zh.first_name(),
        "phone_number": lambda: f.numerify("###-###-####"),
        "toll_free_phone_number": lambda: f.numerify("(888) ###-####"),
        "e164_phone_number": lambda: f.numerify("+1##########"),
        "uuid_hyphenated": lambda: str(uuid.uuid4()),
        "uuid_digit": lambda: uuid.uuid4().hex,
    }


#: the kinds `fake()` accepts; the generators are built on first use
FAKE_KINDS = (
    "latitude", "longitude", "unix_time", "date", "time_string", "month_name", "year_string",
    "day_of_week", "day_of_month", "timestamp", "century", "timezone", "time_period", "email",
    "mac_address", "domain_name", "url", "username", "ipv4", "ipv6", "password", "jwt", "word",
    "sentence", "paragraph", "cc_type", "cc_number", "currency", "amount_with_currency",
    "title_male", "title_female", "first_name", "first_name_male", "first_name_female",
    "last_name", "name", "gender", "chinese_first_name", "chinese_last_name", "chinese_name",
    "phone_number", "toll_free_phone_number", "e164_phone_number", "uuid_hyphenated",
    "uuid_digit",
)  # fmt: skip

_fake_table: dict[str, Callable[[], Any]] = {}
_fake_lock = threading.Lock()


def _fake_factory(*_: Any) -> Callable[..., Any]:
    with _fake_lock:
        if not _fake_table:
            _fake_table.update(_fake_generators())
    table = _fake_table

    def fake(kind: Any = "") -> Any:
        gen = table.get(kind) if isinstance(kind, str) else None
        if gen is None:
            raise MappingError(f"invalid faker function: {kind}")
        return gen()

    return fake


function(
    "fake",
    [Param("function", "string", "")],
    category="fake data generation",
    per_call_site=True,
    description=(
        "A fake value of the named kind (`email`, `name`, `ipv4`, `uuid_hyphenated`, ...; "
        "the go-faker names Benthos documents)."
    ),
)(_fake_factory)
