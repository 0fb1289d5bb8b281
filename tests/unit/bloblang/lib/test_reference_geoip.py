"""Benthos' reference for the "GeoIP" methods, against small MaxMind databases written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError, ParseError

#: the methods Redpanda Connect lists under "GeoIP"
REFERENCE_METHODS = [
    "geoip_anonymous_ip", "geoip_asn", "geoip_city", "geoip_connection_type", "geoip_country",
    "geoip_domain", "geoip_enterprise", "geoip_isp",
]  # fmt: skip

_CITY_RECORD = {
    "city": {"names": {"en": "Lyon", "fr": "Lyon"}, "geoname_id": 2996944},
    "country": {"iso_code": "FR", "names": {"en": "France"}, "is_in_european_union": True},
    "location": {"latitude": 45.75, "longitude": 4.85, "time_zone": "Europe/Paris"},
    "subdivisions": [{"iso_code": "ARA", "names": {"en": "Auvergne-Rhone-Alpes"}}],
}

#: database type -> (network, record) written into a test database of that type
_DATABASES: dict[str, tuple[str, dict[str, Any]]] = {
    "GeoIP2-City": ("192.0.2.0/24", _CITY_RECORD),
    "GeoIP2-Country": ("2001:db8::/32", {"country": {"iso_code": "NL", "names": {"en": "NL"}}}),
    "GeoLite2-ASN": (
        "198.51.100.0/24",
        {"autonomous_system_number": 64500, "autonomous_system_organization": "Example AS"},
    ),
    "GeoIP2-Enterprise": (
        "203.0.113.0/24",
        {
            "city": {"names": {"en": "Oslo"}, "confidence": 60},
            "traits": {"isp": "Example Telecom", "user_type": "business", "static_ip_score": 1.5},
        },
    ),
    "GeoIP2-Anonymous-IP": ("192.0.2.0/24", {"is_anonymous": True, "is_tor_exit_node": True}),
    "GeoIP2-Connection-Type": ("192.0.2.0/24", {"connection_type": "Cellular"}),
    "GeoIP2-Domain": ("192.0.2.0/24", {"domain": "example.net"}),
    "GeoIP2-ISP": ("192.0.2.0/24", {"isp": "Example ISP", "autonomous_system_number": 64501}),
}


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A test .mmdb file per database type; returns type -> path."""
    folder = tmp_path_factory.mktemp("mmdb")
    paths = {}
    for database_type, (network, record) in _DATABASES.items():
        writer = MMDBWriter(ip_version=6, database_type=database_type, ipv4_compatible=True)
        writer.insert_network(IPSet([network]), record)
        path = folder / f"{database_type}.mmdb"
        writer.to_db_file(str(path))
        paths[database_type] = str(path)
    return paths


def _lookup(method: str, path: str, ip: str, field: str = "") -> Any:
    return parse(f'root = this.ip.{method}("{path}"){field}').query({"ip": ip})


def test_every_reference_method_is_registered() -> None:
    assert [name for name in REFERENCE_METHODS if name not in registry.methods] == []


def test_geoip_city(databases: dict[str, str]) -> None:
    path = databases["GeoIP2-City"]
    assert _lookup("geoip_city", path, "192.0.2.7", ".City.Names.en") == "Lyon"
    city = _lookup("geoip_city", path, "192.0.2.7")
    assert city["City"] == {"Names": {"en": "Lyon", "fr": "Lyon"}, "GeoNameID": 2996944}
    assert city["Country"] == {"Names": {"en": "France"}, "IsoCode": "FR", "GeoNameID": 0,
                               "IsInEuropeanUnion": True}  # fmt: skip
    assert city["Location"]["Latitude"] == 45.75
    assert city["Location"]["TimeZone"] == "Europe/Paris"
    assert city["Subdivisions"][0]["IsoCode"] == "ARA"
    assert city["Postal"] == {"Code": ""}
    assert city["Traits"] == {"IsAnonymousProxy": False, "IsAnycast": False,
                              "IsSatelliteProvider": False}  # fmt: skip


def test_an_address_not_in_the_database_gives_zero_values(databases: dict[str, str]) -> None:
    city = _lookup("geoip_city", databases["GeoIP2-City"], "10.1.2.3")
    assert city["City"] == {"Names": None, "GeoNameID": 0}
    assert city["Subdivisions"] is None


def test_geoip_country_asn_enterprise_and_isp(databases: dict[str, str]) -> None:
    country = _lookup("geoip_country", databases["GeoIP2-Country"], "2001:db8::1")
    assert country["Country"]["IsoCode"] == "NL"
    assert set(country) == {"Continent", "Country", "RegisteredCountry", "RepresentedCountry",
                            "Traits"}  # fmt: skip
    assert _lookup("geoip_country", databases["GeoIP2-City"], "192.0.2.1", ".Country.IsoCode") == (
        "FR"
    )
    asn = _lookup("geoip_asn", databases["GeoLite2-ASN"], "198.51.100.9")
    assert asn == {"AutonomousSystemOrganization": "Example AS", "AutonomousSystemNumber": 64500}
    traits = _lookup("geoip_enterprise", databases["GeoIP2-Enterprise"], "203.0.113.5", ".Traits")
    assert traits["ISP"] == "Example Telecom" and traits["UserType"] == "business"
    assert traits["StaticIPScore"] == 1.5 and traits["IsLegitimateProxy"] is False
    assert _lookup("geoip_enterprise", databases["GeoIP2-Enterprise"], "203.0.113.5",
                   ".City.Confidence") == 60  # fmt: skip
    isp = _lookup("geoip_isp", databases["GeoIP2-ISP"], "192.0.2.9")
    assert isp["ISP"] == "Example ISP" and isp["MobileCountryCode"] == ""
    assert _lookup("geoip_asn", databases["GeoIP2-ISP"], "192.0.2.9") == {
        "AutonomousSystemOrganization": "",
        "AutonomousSystemNumber": 64501,
    }


def test_geoip_anonymous_ip_connection_type_and_domain(databases: dict[str, str]) -> None:
    anon = _lookup("geoip_anonymous_ip", databases["GeoIP2-Anonymous-IP"], "192.0.2.1")
    assert anon == {"IsAnonymous": True, "IsAnonymousVPN": False, "IsHostingProvider": False,
                    "IsPublicProxy": False, "IsResidentialProxy": False,
                    "IsTorExitNode": True}  # fmt: skip
    path = databases["GeoIP2-Connection-Type"]
    assert _lookup("geoip_connection_type", path, "192.0.2.1") == {"ConnectionType": "Cellular"}
    assert _lookup("geoip_domain", databases["GeoIP2-Domain"], "192.0.2.1") == {
        "Domain": "example.net"
    }


def test_the_path_may_be_dynamic_and_the_address_bytes(databases: dict[str, str]) -> None:
    exe = parse('root = meta("ip").geoip_city(this.db).City.Names.en')
    assert exe.query({"db": databases["GeoIP2-City"]}, {"ip": b"192.0.2.200"}) == "Lyon"


def test_errors(databases: dict[str, str]) -> None:
    with pytest.raises(MappingError, match="value nonsense does not appear to be a valid v4 or "
                                           "v6 IP address"):  # fmt: skip
        _lookup("geoip_city", databases["GeoIP2-City"], "nonsense")
    with pytest.raises(MappingError, match="geoip2: the ASN method does not support the "
                                           "GeoIP2-City database"):  # fmt: skip
        _lookup("geoip_asn", databases["GeoIP2-City"], "192.0.2.1")
    with pytest.raises(MappingError, match="expected string value, got number"):
        parse(f'root = this.ip.geoip_city("{databases["GeoIP2-City"]}")').query({"ip": 5})


def test_a_missing_database_file_is_an_error_at_parse_time(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="no such file or directory"):
        parse(f'root = "192.0.2.1".geoip_city("{tmp_path / "absent.mmdb"}")')
