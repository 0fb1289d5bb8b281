"""`iceberg` output: appends each batch of JSON documents to an Apache Iceberg table.

The catalog is a REST catalog (`catalog.url` is http(s)://..., as in Redpanda Connect) or a
SQL catalog, whose `url` is a database URL (`sqlite:////var/lib/plant/catalog.db`,
`postgresql://...`): the tables' metadata lives in that database and their files under
`catalog.warehouse`. A table that does not exist is created from the first batch's schema
(inferred from the documents); with `schema_evolution.enabled`, fields that appear later
are added as columns, otherwise a batch with unknown fields fails. Each batch is one commit.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from streamforge.interpolation import InterpolatedString
from streamforge.license.catalog import register_feature
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import BatchPolicy, batching_field, with_batching
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.errors import describe_error
from streamforge.plugin.optional import require
from streamforge.plugin.spec import ParsedField, offline_check

from ._iceberg_partition import PartitionTerm, parse_partition_spec, to_transform

__all__ = ["IcebergWriter", "catalog_properties"]

log = logging.getLogger("streamforge.outputs.iceberg")

#: the name a SQL catalog files tables under (as pyiceberg's examples use)
CATALOG_NAME = "default"

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def catalog_properties(conf: dict[str, Any]) -> dict[str, str]:
    """pyiceberg catalog properties for the `catalog` and `storage` fields."""
    cat = conf.get("catalog") or {}
    url = str(cat.get("url") or "")
    if not url:
        raise ValueError("catalog.url: a catalog URL is required")
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    props: dict[str, str] = {}
    if scheme in ("http", "https"):
        props["type"] = "rest"
        props["uri"] = url
        auth = cat.get("auth") or {}
        if auth.get("bearer"):
            props["token"] = str(auth["bearer"])
        oauth = auth.get("oauth2") or {}
        if oauth.get("client_id"):
            props["credential"] = f"{oauth['client_id']}:{oauth.get('client_secret') or ''}"
            if oauth.get("server_uri"):
                props["oauth2-server-uri"] = str(oauth["server_uri"])
            if oauth.get("scope"):
                props["scope"] = str(oauth["scope"])
        for name, value in (cat.get("headers") or {}).items():
            props[f"header.{name}"] = str(value)
    elif scheme in _SQL_SCHEMES:
        props["type"] = "sql"
        if scheme == "postgres" or (scheme == "postgresql" and "+" not in url.split(":", 1)[0]):
            url = "postgresql+psycopg:" + url.split(":", 1)[1]
        elif scheme in ("mysql", "mariadb") and "+" not in url.split(":", 1)[0]:
            url = "mysql+pymysql:" + url.split(":", 1)[1]
        props["uri"] = url
        if not str(cat.get("warehouse") or ""):
            raise ValueError("catalog.warehouse: a SQL catalog needs a warehouse location")
    else:
        raise ValueError(
            f"catalog.url: {url!r} is neither a REST catalog (http://, https://) nor a SQL "
            "catalog database (sqlite:///..., postgresql://..., mysql://...)"
        )
    if str(cat.get("warehouse") or ""):
        warehouse = str(cat["warehouse"])
        if props["type"] == "sql" and warehouse.startswith("/"):
            warehouse = "file://" + warehouse
        props["warehouse"] = warehouse
    s3 = (conf.get("storage") or {}).get("aws_s3") or {}
    if s3:
        if s3.get("endpoint"):
            props["s3.endpoint"] = str(s3["endpoint"])
        if s3.get("region"):
            props["s3.region"] = str(s3["region"])
        creds = s3.get("credentials") or {}
        if creds.get("id"):
            props["s3.access-key-id"] = str(creds["id"])
            props["s3.secret-access-key"] = str(creds.get("secret") or "")
        if creds.get("token"):
            props["s3.session-token"] = str(creds["token"])
        if s3.get("force_path_style_urls"):
            props["s3.force-virtual-addressing"] = "false"
    return props


class IcebergWriter(Output):
    """Appends batches to Iceberg tables, one commit per table and batch."""

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        require("pyiceberg", "iceberg", "the iceberg output")
        self.label = getattr(ctx, "label", "") or "iceberg"
        self.props = catalog_properties(conf)
        self.namespace = InterpolatedString(str(conf["namespace"]))
        self.table = InterpolatedString(str(conf["table"]))
        evolution = conf.get("schema_evolution") or {}
        self.evolve = bool(evolution.get("enabled", False))
        self.location = str(evolution.get("table_location") or "")
        spec = str(evolution.get("partition_spec") or "()")
        self.partition = InterpolatedString(spec)
        self.static_partition: list[PartitionTerm] | None = None
        if self.partition.is_static:
            try:
                self.static_partition = parse_partition_spec(spec)
            except ValueError as exc:
                raise ValueError(f"schema_evolution.partition_spec: {exc}") from exc
        commit = conf.get("commit") or {}
        self.max_retries = max(int(commit.get("max_retries", 3) or 0), 0)
        self._catalog: Any = None
        self._tables: dict[tuple[str, str], Any] = {}
        self._stop = threading.Event()
        self.connection: Connection | None = None
        if connect:
            stream = getattr(ctx, "stream", "") or "stream"
            where = self.props.get("uri", "")
            self.connection = connection(stream, self.label, where.split("@")[-1])

    # -- catalog ----------------------------------------------------------------------------
    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            from pyiceberg.catalog import load_catalog

            self._catalog = load_catalog(CATALOG_NAME, **self.props)
        return self._catalog

    def _table(self, namespace: str, name: str, schema: Any, partition: str) -> Any:
        key = (namespace, name)
        table = self._tables.get(key)
        if table is None:
            from pyiceberg.exceptions import NoSuchTableError

            catalog = self.catalog
            catalog.create_namespace_if_not_exists(namespace)
            identifier = f"{namespace}.{name}"
            try:
                table = catalog.load_table(identifier)
            except NoSuchTableError:
                table = self._create(identifier, schema, partition)
            self._tables[key] = table
        return table

    def _create(self, identifier: str, schema: Any, partition: str) -> Any:
        """Create a table, partitioned as `partition_spec` says, in one commit."""
        from pyiceberg.exceptions import TableAlreadyExistsError

        terms = self.static_partition
        if terms is None:
            try:
                terms = parse_partition_spec(partition)
            except ValueError as exc:
                raise ValueError(f"schema_evolution.partition_spec: {exc}") from exc
        kwargs: dict[str, Any] = {"schema": _storable(schema)}
        if self.location:
            kwargs["location"] = self.location
        try:
            if not terms:
                return self.catalog.create_table(identifier, **kwargs)
            txn = self.catalog.create_table_transaction(identifier, **kwargs)
            with txn.update_spec() as update:
                for term in terms:
                    try:
                        update.add_field(term.column, to_transform(term))
                    except ValueError as exc:
                        raise ValueError(
                            f"schema_evolution.partition_spec: {term.transform}({term.column}): "
                            f"{exc}"
                        ) from exc
            return txn.commit_transaction()
        except TableAlreadyExistsError:
            return self.catalog.load_table(identifier)

    # -- writing ----------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        groups: dict[tuple[str, str], list[tuple[Message, dict[str, Any]]]] = {}
        partitions: dict[tuple[str, str], str] = {}
        for i, msg in enumerate(batch):
            try:
                namespace = self.namespace.render(msg, batch, i)
                name = self.table.render(msg, batch, i)
                doc = msg.value
                if not isinstance(doc, dict):
                    raise PayloadError("the message is not a JSON object")
            except Exception as exc:  # noqa: BLE001 - a message that cannot be a row fails
                failed.append(msg.fail(f"iceberg {self.label}: {describe_error(exc)}"))
                continue
            key = (namespace, name)
            if key not in partitions and key not in self._tables:
                partitions[key] = self._partition_text(msg, batch, i)
            groups.setdefault(key, []).append((msg, doc))
        for (namespace, name), rows in groups.items():
            try:
                spec = partitions.get((namespace, name), "()")
                self._append(namespace, name, [doc for _, doc in rows], spec)
            except Exception as exc:  # noqa: BLE001 - the table's rows fail with the reason
                reason = f"iceberg {self.label}: {namespace}.{name}: {describe_error(exc)}"
                failed.extend(msg.fail(reason) for msg, _ in rows)
        return failed

    def _partition_text(self, msg: Message, batch: list[Message], index: int) -> str:
        """The partition spec a table created for this message gets."""
        if self.static_partition is not None:
            return ""
        try:
            return self.partition.render(msg, batch, index)
        except Exception as exc:  # noqa: BLE001 - the table's rows fail with the reason
            return f"<{describe_error(exc)}>"

    def _append(
        self, namespace: str, name: str, docs: list[dict[str, Any]], partition: str
    ) -> None:
        import pyarrow as pa
        from pyiceberg.exceptions import CommitFailedException

        inferred = pa.Table.from_pylist(docs).schema
        backoff = Backoff(initial=0.1, maximum=10.0)
        tries = 0
        while True:
            try:
                table = self._table(namespace, name, inferred, partition)
                schema = table.schema().as_arrow()
                extra = [f for f in inferred if schema.get_field_index(f.name) < 0]
                if extra:
                    if not self.evolve:
                        names = ", ".join(f.name for f in extra)
                        raise ValueError(
                            f"field(s) {names} are not columns of the table; enable "
                            "schema_evolution to add them"
                        )
                    with table.update_schema() as update:
                        update.union_by_name(_storable(pa.schema(extra)))
                    schema = table.schema().as_arrow()
                table.append(pa.Table.from_pylist(docs, schema=schema))
            except CommitFailedException:
                tries += 1
                self._tables.pop((namespace, name), None)
                if tries > self.max_retries:
                    raise
                backoff.sleep(self._stop)
                continue
            except Exception as exc:
                if not _data_problem(exc) and not self._stop.is_set():
                    self._catalog = None
                    self._tables.clear()
                    if self.connection is not None:
                        self.connection.down(describe_error(exc))
                    log.warning("iceberg %s: %s; trying again", self.label, describe_error(exc))
                    if backoff.sleep(self._stop):
                        continue
                raise
            if self.connection is not None:
                self.connection.up()
            return

    def close(self) -> None:
        self._stop.set()
        if self.connection is not None:
            self.connection.close()


def _storable(schema: Any) -> Any:
    """An Arrow schema Iceberg can store: columns that were all null become strings."""
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.string(), nullable=True) if pa.types.is_null(f.type) else f
        for f in schema
    ]
    return pa.schema(fields)


def _data_problem(exc: BaseException) -> bool:
    """Whether the rows themselves cannot be written (they fail; anything else, such as a
    catalog or storage that cannot be reached or a table being created elsewhere, is waited
    out with back-pressure)."""
    import pyarrow as pa
    from pyiceberg.exceptions import ResolveError, ValidationError

    data = (ValueError, TypeError, KeyError, pa.ArrowException, ResolveError, ValidationError)
    return isinstance(exc, data)


def check_partition_spec(value: Any) -> Any:
    """A partition spec without interpolation must read (one with it is read per table)."""
    text = str(value or "")
    if InterpolatedString(text).is_static:
        parse_partition_spec(text)
    return value


def check_iceberg_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    """Every check building the output makes, without reaching the catalog."""
    IcebergWriter(conf, ctx, connect=False)
    batching = conf.get("batching") or {}
    BatchPolicy.from_conf(batching)
    if ctx is not None:
        for proc in ctx.build_processors(list(batching.get("processors") or [])):
            proc.close()


_S3_STORAGE = Field(
    "aws_s3",
    "object",
    default={},
    description="Table files in S3 (or an S3-compatible store).",
    fields=(
        Field(
            "bucket",
            "string",
            default="",
            description="The bucket (informational; the warehouse location names it).",
        ),  # fmt: skip
        Field("region", "string", default="", description="The region."),
        Field("endpoint", "string", default="", description="A custom endpoint URL."),
        Field(
            "force_path_style_urls",
            "bool",
            default=False,
            description="Address buckets by path (most S3-compatible stores).",
        ),  # fmt: skip
        Field(
            "credentials",
            "object",
            default={},
            description="Static credentials; the environment's otherwise.",
            fields=(
                Field("id", "string", default="", description="The access key ID."),
                Field(
                    "secret",
                    "string",
                    default="",
                    secret=True,
                    description="The secret access key.",
                ),  # fmt: skip
                Field(
                    "token", "string", default="", secret=True, description="A session token."
                ),  # fmt: skip
            ),
        ),
    ),
)


@register_output(
    "iceberg",
    fields=[
        Field(
            "catalog",
            "object",
            description="Where the tables are catalogued.",
            fields=(
                Field(
                    "url",
                    "string",
                    description="A REST catalog (http://...) or a SQL catalog's database URL "
                    "(sqlite:////path/catalog.db, postgresql://user@host/db).",
                    examples=("http://localhost:8181", "sqlite:////var/lib/plant/catalog.db"),
                ),
                Field(
                    "warehouse",
                    "string",
                    default="",
                    description="Where table files go (a path or s3://bucket/prefix); required "
                    "with a SQL catalog.",
                    examples=("/var/lib/plant/warehouse", "s3://plant-lake/warehouse"),
                ),
                Field(
                    "auth",
                    "object",
                    default={},
                    advanced=True,
                    description="REST catalog authentication.",
                    fields=(
                        Field(
                            "bearer",
                            "string",
                            default="",
                            secret=True,
                            description="A bearer token.",
                        ),  # fmt: skip
                        Field(
                            "oauth2",
                            "object",
                            default={},
                            description="OAuth 2 client credentials.",
                            fields=(
                                Field(
                                    "server_uri",
                                    "string",
                                    default="/v1/oauth/tokens",
                                    description="The token endpoint.",
                                ),  # fmt: skip
                                Field(
                                    "client_id", "string", default="", description="The client ID."
                                ),  # fmt: skip
                                Field(
                                    "client_secret",
                                    "string",
                                    default="",
                                    secret=True,
                                    description="The client secret.",
                                ),  # fmt: skip
                                Field(
                                    "scope",
                                    "string",
                                    default="",
                                    description="The scope asked for.",
                                ),  # fmt: skip
                            ),
                        ),
                    ),
                ),
                Field(
                    "headers",
                    "map",
                    default={},
                    advanced=True,
                    description="Extra headers sent to a REST catalog.",
                ),
            ),
        ),
        Field(
            "namespace",
            "string",
            interpolable=True,
            description="The table's namespace (dots separate levels); interpolated.",
            examples=("plant", "plant.${! @line }"),
        ),
        Field(
            "table",
            "string",
            interpolable=True,
            description="The table; interpolated per message.",
            examples=("readings", "readings_${! @asset_type }"),
        ),
        Field(
            "storage",
            "object",
            default={},
            advanced=True,
            description="Credentials and endpoint of the table files' storage.",
            fields=(_S3_STORAGE,),
        ),
        Field(
            "schema_evolution",
            "object",
            default={"enabled": False, "table_location": "", "partition_spec": "()"},
            description="Add new fields as columns.",
            fields=(
                Field(
                    "enabled",
                    "bool",
                    default=False,
                    description="Add fields that are not columns yet; without it such a batch "
                    "fails.",
                ),
                ParsedField(
                    "partition_spec",
                    "string",
                    parser=check_partition_spec,
                    default="()",
                    interpolable=True,
                    description="How a table this output creates is partitioned: "
                    "`(day(ts), bucket(16, asset), line)` — columns (identity) or `year`, "
                    "`month`, `day`, `hour`, `bucket(N, c)`, `truncate(W, c)`, `identity`, "
                    "`void` of a column; nested columns as `a.b`, names with dots in "
                    "backticks. Interpolated with the first message written to the new "
                    "table; existing tables keep their spec.",
                    examples=("(day(ts))", "(day(ts), bucket(4, asset_id))", "(line, hour(ts))"),
                ),
                Field(
                    "table_location",
                    "string",
                    default="",
                    advanced=True,
                    description="Where new tables put their files (the warehouse's default "
                    "otherwise).",
                ),
            ),
        ),
        Field(
            "commit",
            "object",
            default={"max_retries": 3},
            advanced=True,
            description="Commit behaviour.",
            fields=(
                Field(
                    "max_retries",
                    "int",
                    default=3,
                    description="Commits tried again when another writer committed first.",
                ),
            ),
        ),
        Field(
            "max_in_flight",
            "int",
            default=4,
            description="Accepted for compatibility; each worker commits one batch at a time.",
        ),
        batching_field(),
    ],
    summary="Appends batches of JSON documents to Apache Iceberg tables (REST or SQL catalog).",
    description=(
        "Each batch is one append commit per table. A missing namespace or table is created "
        "from the batch's schema, inferred from the documents. Differences from Redpanda "
        "Connect: a SQL catalog (pyiceberg's, tables filed under the catalog name `default`) "
        "works besides REST."
    ),
    examples=(
        "iceberg:\n  catalog:\n    url: sqlite:////var/lib/plant/catalog.db\n"
        "    warehouse: /var/lib/plant/warehouse\n  namespace: plant\n  table: readings\n"
        "  schema_evolution:\n    enabled: true\n  batching:\n    count: 1000\n    period: 10s\n",
    ),
)
@offline_check(check_iceberg_output)
def build_iceberg_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Appends batches of JSON documents to Apache Iceberg tables (REST or SQL catalog)."""
    return with_batching(IcebergWriter(conf, ctx), conf.get("batching"), ctx)


register_feature("output", "iceberg", "storage", "iceberg")
