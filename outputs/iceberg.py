"""`iceberg` output: writes each batch of JSON documents to Apache Iceberg tables.

The catalog is a REST catalog (`catalog.url` is http(s)://..., as in Redpanda Connect) or a
SQL catalog, whose `url` is a database URL (`sqlite:////var/lib/plant/catalog.db`,
`postgresql://...`): the tables' metadata lives in that database and their files under
`catalog.warehouse`. A table that does not exist is created from the first batch's schema
(inferred from the documents); with `schema_evolution.enabled`, fields that appear later
are added as columns, otherwise a batch with unknown fields fails. `row_operation` makes a
message an insert, an upsert or a delete by `identifier_fields`, written copy-on-write.
Each batch is one commit per table.
"""

from __future__ import annotations

import logging
import threading
import warnings
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
from ._iceberg_rows import (
    MERGE_STRATEGIES,
    STRING_ENCODINGS,
    CaseFolder,
    Change,
    check_merge_strategy,
    check_row_operation,
    check_string_encoding,
    identifier_columns,
    key_filter,
    parse_row_operation,
    row_key,
)

__all__ = ["IcebergWriter", "catalog_properties"]

log = logging.getLogger("streamforge.outputs.iceberg")

#: the name a SQL catalog files tables under (as pyiceberg's examples use)
CATALOG_NAME = "default"

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")

#: the codecs of `parquet.compression` (pyiceberg's `write.parquet.compression-codec`)
COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed")

# a delete of keys no row has is expected (a delete of a missing key is harmless)
warnings.filterwarnings("ignore", message="Delete operation did not match any records")


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
        auth = cat.get("auth") or {}
        rest_only = [
            name
            for name, given in (
                ("auth.bearer", auth.get("bearer")),
                ("auth.oauth2", (auth.get("oauth2") or {}).get("client_id")),
                ("headers", cat.get("headers")),
            )
            if given
        ]
        if rest_only:
            used = ", catalog.".join(rest_only)
            raise ValueError(
                f"catalog.{used}: only a REST catalog (http://, https://) takes these; a SQL "
                "catalog authenticates with its database URL"
            )
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
    """Writes batches to Iceberg tables, one commit per table and batch: rows appended, and
    rows replaced or deleted by their identifier fields (copy-on-write)."""

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        require("pyiceberg", "iceberg", "the iceberg output")
        self.label = getattr(ctx, "label", "") or "iceberg"
        self.props = catalog_properties(conf)
        self.namespace = InterpolatedString(str(conf["namespace"]))
        self.table = InterpolatedString(str(conf["table"]))
        self.case_sensitive = bool(conf.get("case_sensitive_columns", True))
        self.operation = InterpolatedString(str(conf.get("row_operation") or "insert"))
        self.static_operation = ""
        if self.operation.is_static:
            self.static_operation = parse_row_operation(self.operation.render(Message(b"")))
        self.identifier_fields = [str(f) for f in conf.get("identifier_fields") or []]
        if self.static_operation in ("upsert", "delete") and not self.identifier_fields:
            raise ValueError(
                f"row_operation {self.static_operation} needs identifier_fields, the columns "
                "that identify a row"
            )
        check_merge_strategy(conf.get("merge_strategy") or "copy-on-write")
        parquet = conf.get("parquet") or {}
        check_string_encoding(parquet.get("string_encoding") or "plain")
        self.compression = str(parquet.get("compression") or "zstd")
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

    def _existing(self, namespace: str, name: str) -> Any | None:
        """The table, or None when it does not exist yet."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        key = (namespace, name)
        table = self._tables.get(key)
        if table is None:
            try:
                table = self.catalog.load_table(f"{namespace}.{name}")
            except (NoSuchTableError, NoSuchNamespaceError):
                return None
            self._tables[key] = table
        return table

    def _create(self, namespace: str, name: str, arrow_schema: Any, partition: str) -> Any:
        """Create a table, partitioned as `partition_spec` says, with the identifier fields
        as its required identifier columns, in one commit."""
        from pyiceberg.exceptions import TableAlreadyExistsError
        from pyiceberg.table.update.spec import UpdateSpec

        terms = self.static_partition
        if terms is None:
            try:
                terms = parse_partition_spec(partition)
            except ValueError as exc:
                raise ValueError(f"schema_evolution.partition_spec: {exc}") from exc
        self.catalog.create_namespace_if_not_exists(namespace)
        identifier = f"{namespace}.{name}"
        kwargs: dict[str, Any] = {
            "schema": self._new_schema(arrow_schema),
            "properties": {"write.parquet.compression-codec": self.compression},
        }
        if self.location:
            kwargs["location"] = self.location
        try:
            if not terms:
                table = self.catalog.create_table(identifier, **kwargs)
            else:
                txn = self.catalog.create_table_transaction(identifier, **kwargs)
                update: Any
                with UpdateSpec(txn, case_sensitive=self.case_sensitive) as update:
                    for term in terms:
                        try:
                            update.add_field(term.column, to_transform(term))
                        except ValueError as exc:
                            raise ValueError(
                                f"schema_evolution.partition_spec: {term.transform}"
                                f"({term.column}): {exc}"
                            ) from exc
                table = txn.commit_transaction()
        except TableAlreadyExistsError:
            table = self.catalog.load_table(identifier)
        self._tables[(namespace, name)] = table
        return table

    def _new_schema(self, arrow_schema: Any) -> Any:
        """The Iceberg schema of a new table: the rows' columns, the identifier fields
        required and registered as the table's identifier field IDs."""
        from pyiceberg.catalog import Catalog
        from pyiceberg.schema import Schema, assign_fresh_schema_ids
        from pyiceberg.types import NestedField

        schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(_storable(arrow_schema)))
        if not self.identifier_fields:
            return schema
        try:
            wanted = set(identifier_columns(schema, self.identifier_fields, self.case_sensitive))
        except ValueError as exc:
            raise ValueError(f"{exc} written first, so the table cannot be created") from exc
        fields = [
            NestedField(f.field_id, f.name, f.field_type, required=True, doc=f.doc)
            if f.name in wanted
            else f
            for f in schema.fields
        ]
        ids = [f.field_id for f in fields if f.name in wanted]
        return Schema(*fields, identifier_field_ids=ids)

    # -- writing ----------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        groups: dict[tuple[str, str], list[Change]] = {}
        partitions: dict[tuple[str, str], str] = {}
        for i, msg in enumerate(batch):
            try:
                namespace = self.namespace.render(msg, batch, i)
                name = self.table.render(msg, batch, i)
                doc = msg.value
                if not isinstance(doc, dict):
                    raise PayloadError("the message is not a JSON object")
                op = self.static_operation or parse_row_operation(
                    self.operation.render(msg, batch, i)
                )
                if op != "insert" and not self.identifier_fields:
                    raise ValueError(f"row_operation {op} needs identifier_fields")
            except Exception as exc:  # noqa: BLE001 - a message that cannot be a row fails
                failed.append(msg.fail(f"iceberg {self.label}: {describe_error(exc)}"))
                continue
            key = (namespace, name)
            if key not in partitions and key not in self._tables:
                partitions[key] = self._partition_text(msg, batch, i)
            groups.setdefault(key, []).append(Change(msg, op, doc))
        for (namespace, name), changes in groups.items():
            try:
                spec = partitions.get((namespace, name), "()")
                for msg, reason in self._write(namespace, name, changes, spec):
                    failed.append(msg.fail(f"iceberg {self.label}: {namespace}.{name}: {reason}"))
            except Exception as exc:  # noqa: BLE001 - the table's rows fail with the reason
                reason = f"iceberg {self.label}: {namespace}.{name}: {describe_error(exc)}"
                failed.extend(change.msg.fail(reason) for change in changes)
        return failed

    def _partition_text(self, msg: Message, batch: list[Message], index: int) -> str:
        """The partition spec a table created for this message gets."""
        if self.static_partition is not None:
            return ""
        try:
            return self.partition.render(msg, batch, index)
        except Exception as exc:  # noqa: BLE001 - the table's rows fail with the reason
            return f"<{describe_error(exc)}>"

    def _write(
        self, namespace: str, name: str, changes: list[Change], partition: str
    ) -> list[tuple[Message, str]]:
        """Commit the changes to one table (retrying lost races); the messages that fail on
        their own, with the reason."""
        from pyiceberg.exceptions import CommitFailedException

        backoff = Backoff(initial=0.1, maximum=10.0)
        tries = 0
        while True:
            try:
                refused = self._commit(namespace, name, changes, partition)
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
            return refused

    def _commit(
        self, namespace: str, name: str, changes: list[Change], partition: str
    ) -> list[tuple[Message, str]]:
        """Evolve the schema, delete the rows of every upserted or deleted key and append the
        inserted and upserted rows, all in one transaction."""
        import pyarrow as pa

        refused: list[tuple[Message, str]] = []
        table = self._existing(namespace, name)
        folder = CaseFolder(
            None if table is None else table.schema().as_arrow(), self.case_sensitive
        )
        rows: list[Change] = []
        for change in changes:
            try:
                rows.append(Change(change.msg, change.op, folder.apply(change.doc)))
            except ValueError as exc:
                refused.append((change.msg, str(exc)))
        written = [c.doc for c in rows if c.op != "delete"]
        if table is None:
            if not written:
                return refused  # nothing to delete from a table that does not exist
            table = self._create(namespace, name, _inferred(written), partition)

        txn = table.transaction()
        evolved = False
        if written:
            inferred = _inferred(written)
            current = table.schema().as_arrow()
            extra = [f for f in inferred if current.get_field_index(f.name) < 0]
            if extra:
                if not self.evolve:
                    names = ", ".join(f.name for f in extra)
                    raise ValueError(
                        f"field(s) {names} are not columns of the table; enable "
                        "schema_evolution to add them"
                    )
                with txn.update_schema() as update:
                    update.union_by_name(_storable(pa.schema(extra)))
                evolved = True
        schema = txn.table_metadata.schema()

        required = [f.name for f in schema.fields if f.required]
        appended: list[Change] = []
        keyed: list[Change] = []
        for change in rows:
            missing = [c for c in required if change.doc.get(c) is None]
            if change.op != "delete" and missing:
                refused.append(
                    (change.msg, f"required column(s) {', '.join(missing)} missing or null")
                )
            else:
                (appended if change.op == "insert" else keyed).append(change)
        latest: dict[tuple[Any, ...], Change] = {}
        if keyed:
            try:
                columns = identifier_columns(schema, self.identifier_fields, self.case_sensitive)
            except ValueError as exc:
                refused.extend((c.msg, str(exc)) for c in keyed)
                keyed = []
            for change in keyed:
                try:
                    key = row_key(change.doc, columns)
                except ValueError as exc:
                    refused.append((change.msg, str(exc)))
                    continue
                latest.pop(key, None)  # the last operation of a key wins
                latest[key] = change
            appended.extend(c for c in latest.values() if c.op == "upsert")

        docs = [c.doc for c in appended]
        if latest:
            txn.delete(key_filter(columns, latest), case_sensitive=True)
        if docs:
            txn.append(pa.Table.from_pylist(docs, schema=schema.as_arrow()))
        if latest or docs or evolved:
            txn.commit_transaction()
        return refused

    def close(self) -> None:
        self._stop.set()
        if self.connection is not None:
            self.connection.close()


def _inferred(docs: list[dict[str, Any]]) -> Any:
    """The Arrow schema of `docs`: every field any of them has (in the order they first
    appear), each typed from all its values."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for doc in docs:
        names.update(dict.fromkeys(doc))
    return pa.Table.from_pydict({n: [doc.get(n) for doc in docs] for n in names}).schema


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
            "case_sensitive_columns",
            "bool",
            default=True,
            advanced=True,
            description="Whether message field names must match column names exactly. With "
            "`false`, `Asset_ID` lands in an existing `asset_id` column (also inside struct "
            "columns), `identifier_fields` and partition spec columns match without case, and "
            "a message with two fields differing only in case fails.",
        ),
        ParsedField(
            "row_operation",
            "string",
            parser=check_row_operation,
            default="insert",
            interpolable=True,
            description="What each message does to its table: `insert` appends the row, "
            "`upsert` replaces the rows with the same `identifier_fields` (or appends it), "
            "`delete` removes them. Interpolated per message; empty means `insert`; a message "
            "naming another operation fails on its own. Within a batch the last `upsert` or "
            "`delete` of a key wins; `insert` is never de-duplicated.",
            examples=(
                "insert",
                "${! @op }",
                '${! if this.op == "d" { "delete" } else { "upsert" } }',
            ),
        ),
        Field(
            "identifier_fields",
            "array",
            default=[],
            item=Field("column", "string"),
            description="The columns identifying a row (its primary key), used by `upsert` and "
            "`delete`; required when `row_operation` is one of them. Top-level columns of a "
            "primitive type other than float and double. A table this output creates gets "
            "them as required identifier columns.",
            examples=(["id"], ["site", "asset_id"]),
        ),
        ParsedField(
            "merge_strategy",
            "string",
            parser=check_merge_strategy,
            default="copy-on-write",
            options=MERGE_STRATEGIES,
            description="How `upsert` and `delete` change the table: `copy-on-write` rewrites "
            "the data files holding changed rows, leaving only plain data files every engine "
            "reads. `merge-on-read` (equality-delete files) cannot be written by pyiceberg and "
            "is refused.",
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
            "parquet",
            "object",
            default={"string_encoding": "plain", "compression": "zstd"},
            advanced=True,
            description="How data files are written.",
            fields=(
                ParsedField(
                    "string_encoding",
                    "string",
                    parser=check_string_encoding,
                    default="plain",
                    options=STRING_ENCODINGS,
                    description="String and binary columns are written dictionary-encoded with "
                    "a PLAIN fallback, which readers without DELTA_LENGTH_BYTE_ARRAY support "
                    "read; `delta_length_byte_array` is refused.",
                ),
                Field(
                    "compression",
                    "string",
                    default="zstd",
                    options=COMPRESSIONS,
                    description="The codec of the tables this output creates (their "
                    "`write.parquet.compression-codec` property); tables that exist keep theirs.",
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
    summary="Writes batches of JSON documents to Apache Iceberg tables (REST or SQL catalog): "
    "appends, upserts and deletes by identifier fields.",
    description=(
        "Each batch is one commit per table. A missing namespace or table is created from the "
        "batch's schema, inferred from the documents. `row_operation` (interpolated) makes a "
        "message an `insert`, an `upsert` or a `delete` of the rows with its "
        "`identifier_fields`, written copy-on-write. Differences from Redpanda Connect: a SQL "
        "catalog (pyiceberg's, tables filed under the catalog name `default`) works besides "
        "REST; `merge_strategy` defaults to `copy-on-write` and `merge-on-read` is refused; a "
        "message with an unknown operation fails alone."
    ),
    examples=(
        "iceberg:\n  catalog:\n    url: sqlite:////var/lib/plant/catalog.db\n"
        "    warehouse: /var/lib/plant/warehouse\n  namespace: plant\n  table: readings\n"
        "  schema_evolution:\n    enabled: true\n  batching:\n    count: 1000\n    period: 10s\n",
        "iceberg:\n  catalog:\n    url: sqlite:////var/lib/plant/catalog.db\n"
        "    warehouse: /var/lib/plant/warehouse\n  namespace: plant\n  table: assets\n"
        "  row_operation: ${! @op }\n  identifier_fields: [ asset_id ]\n"
        "  merge_strategy: copy-on-write\n  schema_evolution:\n    enabled: true\n",
    ),
)
@offline_check(check_iceberg_output)
def build_iceberg_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Appends batches of JSON documents to Apache Iceberg tables (REST or SQL catalog)."""
    return with_batching(IcebergWriter(conf, ctx), conf.get("batching"), ctx)


register_feature("output", "iceberg", "storage", "iceberg")
