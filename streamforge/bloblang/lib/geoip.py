"""The `geoip_*` methods: look an IP address up in a MaxMind database (.mmdb) file.

Results have the shape Benthos gives them (the JSON of geoip2-golang's records): Go field
names (`City.Names.en`, `Traits.ISP`, `IsTorExitNode`) and zero values for what the
database does not hold, including for an address it does not contain.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

import maxminddb

from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib.strings import as_str
from streamforge.bloblang.registry import Param, method

CATEGORY = "geoip"

#: a record field: (Go name, mmdb key, kind); kind is a scalar kind, a nested record
#: or ("list", record)
_Field = tuple[str, str, Any]
_Record = tuple[_Field, ...]

_NAMES: _Field = ("Names", "names", "names")
_GEONAME: _Field = ("GeoNameID", "geoname_id", "int")
_CONFIDENCE: _Field = ("Confidence", "confidence", "int")
_EU: _Field = ("IsInEuropeanUnion", "is_in_european_union", "bool")
_ISO: _Field = ("IsoCode", "iso_code", "str")

_CONTINENT: _Record = (_NAMES, ("Code", "code", "str"), _GEONAME)
_COUNTRY: _Record = (_NAMES, _ISO, _GEONAME, _EU)
_REPRESENTED: _Record = (_NAMES, _ISO, ("Type", "type", "str"), _GEONAME, _EU)
_LOCATION: _Record = (
    ("TimeZone", "time_zone", "str"),
    ("Latitude", "latitude", "float"),
    ("Longitude", "longitude", "float"),
    ("MetroCode", "metro_code", "int"),
    ("AccuracyRadius", "accuracy_radius", "int"),
)
_PROXY_TRAITS: _Record = (
    ("IsAnonymousProxy", "is_anonymous_proxy", "bool"),
    ("IsAnycast", "is_anycast", "bool"),
    ("IsSatelliteProvider", "is_satellite_provider", "bool"),
)
_ASN_FIELDS: tuple[_Field, _Field] = (
    ("AutonomousSystemOrganization", "autonomous_system_organization", "str"),
    ("AutonomousSystemNumber", "autonomous_system_number", "int"),
)

_CITY: _Record = (
    ("City", "city", (_NAMES, _GEONAME)),
    ("Postal", "postal", (("Code", "code", "str"),)),
    ("Continent", "continent", _CONTINENT),
    ("Subdivisions", "subdivisions", ("list", (_NAMES, _ISO, _GEONAME))),
    ("RepresentedCountry", "represented_country", _REPRESENTED),
    ("Country", "country", _COUNTRY),
    ("RegisteredCountry", "registered_country", _COUNTRY),
    ("Location", "location", _LOCATION),
    ("Traits", "traits", _PROXY_TRAITS),
)
_COUNTRY_RECORD: _Record = (
    ("Continent", "continent", _CONTINENT),
    ("Country", "country", _COUNTRY),
    ("RegisteredCountry", "registered_country", _COUNTRY),
    ("RepresentedCountry", "represented_country", _REPRESENTED),
    ("Traits", "traits", _PROXY_TRAITS),
)
_ENTERPRISE_COUNTRY: _Record = (_NAMES, _ISO, _GEONAME, _CONFIDENCE, _EU)
_ENTERPRISE: _Record = (
    ("City", "city", (_NAMES, _GEONAME, _CONFIDENCE)),
    ("Postal", "postal", (("Code", "code", "str"), _CONFIDENCE)),
    ("Continent", "continent", _CONTINENT),
    ("Subdivisions", "subdivisions", ("list", (_NAMES, _ISO, _GEONAME, _CONFIDENCE))),
    ("RepresentedCountry", "represented_country", _REPRESENTED),
    ("Country", "country", _ENTERPRISE_COUNTRY),
    ("RegisteredCountry", "registered_country", _ENTERPRISE_COUNTRY),
    (
        "Traits",
        "traits",
        (
            _ASN_FIELDS[0],
            ("ConnectionType", "connection_type", "str"),
            ("Domain", "domain", "str"),
            ("ISP", "isp", "str"),
            ("MobileCountryCode", "mobile_country_code", "str"),
            ("MobileNetworkCode", "mobile_network_code", "str"),
            ("Organization", "organization", "str"),
            ("UserType", "user_type", "str"),
            _ASN_FIELDS[1],
            ("StaticIPScore", "static_ip_score", "float"),
            ("IsAnonymousProxy", "is_anonymous_proxy", "bool"),
            ("IsAnycast", "is_anycast", "bool"),
            ("IsLegitimateProxy", "is_legitimate_proxy", "bool"),
            ("IsSatelliteProvider", "is_satellite_provider", "bool"),
        ),
    ),
    ("Location", "location", _LOCATION),
)
_ANONYMOUS_IP: _Record = (
    ("IsAnonymous", "is_anonymous", "bool"),
    ("IsAnonymousVPN", "is_anonymous_vpn", "bool"),
    ("IsHostingProvider", "is_hosting_provider", "bool"),
    ("IsPublicProxy", "is_public_proxy", "bool"),
    ("IsResidentialProxy", "is_residential_proxy", "bool"),
    ("IsTorExitNode", "is_tor_exit_node", "bool"),
)
_ISP: _Record = (
    _ASN_FIELDS[0],
    ("ISP", "isp", "str"),
    ("MobileCountryCode", "mobile_country_code", "str"),
    ("MobileNetworkCode", "mobile_network_code", "str"),
    ("Organization", "organization", "str"),
    _ASN_FIELDS[1],
)

_ZERO = {"str": "", "int": 0, "float": 0.0, "bool": False, "names": None}


def _convert(record: _Record, data: Any) -> dict[str, Any]:
    """A geoip2-golang record from the decoded mmdb data (missing fields are zero)."""
    data = data if isinstance(data, dict) else {}
    out: dict[str, Any] = {}
    for go_name, key, kind in record:
        value = data.get(key)
        if isinstance(kind, str):
            if value is None or (kind == "names" and not isinstance(value, dict)):
                value = _ZERO[kind]
            elif kind == "names":
                value = {str(k): str(v) for k, v in value.items()}
            out[go_name] = value
        elif kind[0] == "list":
            out[go_name] = (
                [_convert(kind[1], item) for item in value] if isinstance(value, list) else None
            )
        else:
            out[go_name] = _convert(kind, value)
    return out


#: what each database type answers, as geoip2-golang decides from the metadata
_CITY_TYPES = frozenset({"city", "country"})
_EXACT_TYPES: dict[str, frozenset[str]] = {
    "GeoIP2-Anonymous-IP": frozenset({"anonymous_ip"}),
    "GeoLite2-ASN": frozenset({"asn"}),
    "DBIP-ASN-Lite (compat=GeoLite2-ASN)": frozenset({"asn"}),
    "GeoIP2-Connection-Type": frozenset({"connection_type"}),
    "GeoIP2-Domain": frozenset({"domain"}),
    "GeoIP2-Enterprise": frozenset({"enterprise", "city", "country"}),
    "DBIP-ISP (compat=Enterprise)": frozenset({"enterprise", "city", "country"}),
    "DBIP-Location-ISP (compat=Enterprise)": frozenset({"enterprise", "city", "country"}),
    "GeoIP2-ISP": frozenset({"isp", "asn"}),
    "GeoIP2-Precision-ISP": frozenset({"isp", "asn"}),
}


def _lookups_of(database_type: str) -> frozenset[str]:
    if database_type in _EXACT_TYPES:
        return _EXACT_TYPES[database_type]
    if "City" in database_type or "Country" in database_type:
        return _CITY_TYPES
    raise MappingError(f"geoip2: reader does not support the {database_type!r} database type")


class GeoIPDatabase:
    """An opened MaxMind database; pickles as its path and opens again when loaded."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._reader = maxminddb.open_database(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise MappingError(f"open {path}: {reason[:1].lower()}{reason[1:]}") from None
        except (ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise MappingError(f"open {path}: {exc}") from None
        self.database_type = str(self._reader.metadata().database_type)
        self.lookups = _lookups_of(self.database_type)

    def __reduce__(self) -> tuple[Any, ...]:
        return (GeoIPDatabase, (self.path,))

    def get(self, address: str) -> Any:
        return self._reader.get(address)


_OPENED: dict[str, GeoIPDatabase] = {}
_OPENED_LOCK = threading.Lock()


def open_database(path: Any) -> GeoIPDatabase:
    """The database at `path`, opened once per process."""
    if isinstance(path, GeoIPDatabase):
        return path
    text = as_str(path)
    with _OPENED_LOCK:
        db = _OPENED.get(text)
        if db is None:
            db = _OPENED[text] = GeoIPDatabase(text)
        return db


def _register(name: str, go_method: str, lookup: str, record: _Record, entity: str) -> None:
    def impl(target: Any, path: Any) -> dict[str, Any]:
        db = open_database(path)
        text = as_str(target)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise MappingError(
                f"value {text} does not appear to be a valid v4 or v6 IP address"
            ) from None
        if lookup not in db.lookups:
            raise MappingError(
                f"geoip2: the {go_method} method does not support the {db.database_type} database"
            )
        return _convert(record, db.get(text))

    impl.__doc__ = f"Look the IP address up in a MaxMind database; an object of its {entity}."
    method(
        name,
        [Param("path", "string", prepare=open_database, description="A path to an mmdb file.")],
        category=CATEGORY,
    )(impl)


_register("geoip_city", "City", "city", _CITY, "city")
_register("geoip_country", "Country", "country", _COUNTRY_RECORD, "country")
_register("geoip_asn", "ASN", "asn", _ASN_FIELDS, "ASN")
_register("geoip_enterprise", "Enterprise", "enterprise", _ENTERPRISE, "enterprise data")
_register("geoip_anonymous_ip", "AnonymousIP", "anonymous_ip", _ANONYMOUS_IP, "anonymity")
_register(
    "geoip_connection_type",
    "ConnectionType",
    "connection_type",
    (("ConnectionType", "connection_type", "str"),),
    "connection type",
)
_register("geoip_domain", "Domain", "domain", (("Domain", "domain", "str"),), "domain")
_register("geoip_isp", "ISP", "isp", _ISP, "ISP")
