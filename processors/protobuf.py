"""`protobuf` processor: converts messages between protobuf and JSON using .proto files.

The .proto files under `import_paths` are compiled once, when the processor is built, with
the protoc bundled in `grpcio-tools` (no protoc binary is needed on the machine); the
message type is then looked up by its full name and each message is converted by
reflection, as ProtoJSON specifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import MissingFileError
from streamforge.plugin.optional import require

__all__ = ["ProtobufProcessor", "compile_protos"]

OPERATORS = ("to_json", "from_json")
#: seconds compiling the .proto files may take
COMPILE_TIMEOUT = 60.0


def _proto_files(import_paths: list[str]) -> list[str]:
    """Every .proto file below the import paths, relative to the path it was found in."""
    found: list[str] = []
    for root in import_paths:
        base = Path(root)
        if not base.is_dir():
            raise MissingFileError(f"import path {root!r} is not a directory")
        found += sorted(p.relative_to(base).as_posix() for p in base.rglob("*.proto"))
    if not found:
        raise ValueError(f"no .proto files found in import_paths {import_paths}")
    return list(dict.fromkeys(found))


def _protobuf(module: str) -> Any:
    """A module of the protobuf runtime (the `protobuf` extra), imported at build time."""
    return require(f"google.protobuf.{module}", "protobuf", "the protobuf processor")


def _bundled_includes() -> str:
    """The well-known types (google/protobuf/*.proto) grpcio-tools ships."""
    grpc_tools = require("grpc_tools", "protobuf", "the protobuf processor")
    return str(Path(str(grpc_tools.__file__)).parent / "_proto")


def compile_protos(import_paths: list[str]) -> Any:
    """A descriptor pool of every .proto file under `import_paths` and what they import;
    ValueError with protoc's own message when they do not compile."""
    files = _proto_files(import_paths)
    with tempfile.TemporaryDirectory(prefix="streamforge-protobuf-") as tmp:
        out = os.path.join(tmp, "descriptors.pb")
        args = [sys.executable, "-m", "grpc_tools.protoc"]
        args += [f"--proto_path={p}" for p in import_paths]
        args += [f"--proto_path={_bundled_includes()}", "--include_imports"]
        args += [f"--descriptor_set_out={out}", *files]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ValueError(f"compiling the .proto files took over {COMPILE_TIMEOUT:g}s") from None
        if done.returncode != 0:
            problem = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
            raise ValueError(f"the .proto files do not compile: {problem}")
        data = Path(out).read_bytes()
    descriptors = _protobuf("descriptor_pb2").FileDescriptorSet.FromString(data)
    pool = _protobuf("descriptor_pool").DescriptorPool()
    for file in descriptors.file:
        pool.Add(file)
    return pool


def _message_names(pool: Any, files: list[str]) -> list[str]:
    names: list[str] = []
    for name in files:
        try:
            names += [m.full_name for m in pool.FindFileByName(name).message_types_by_name.values()]
        except KeyError:
            continue
    return names


@register_processor(
    "protobuf",
    fields=[
        Field(
            "operator",
            "string",
            options=OPERATORS,
            description="`to_json` reads each message as protobuf and makes it a JSON "
            "document; `from_json` writes each JSON document as protobuf.",
        ),
        Field(
            "message",
            "string",
            description="The full name of the message type (package included).",
            examples=("testing.Person",),
        ),
        Field(
            "import_paths",
            "array",
            default=[],
            item=Field("path", "string"),
            description="Directories whose .proto files (searched recursively) define the "
            "message type; imports resolve against them and the well-known types.",
            examples=(["./schemas"],),
        ),
        Field(
            "discard_unknown",
            "bool",
            default=False,
            description="`from_json`: ignore JSON fields the message type does not have "
            "instead of failing the message.",
        ),
        Field(
            "use_proto_names",
            "bool",
            default=False,
            description="`to_json`: name fields as the .proto file does (first_name) instead "
            "of in lowerCamelCase (firstName).",
        ),
        Field(
            "use_enum_numbers",
            "bool",
            default=False,
            description="`to_json`: write enum values as numbers instead of names.",
            advanced=True,
        ),
    ],
    summary="Converts messages between protobuf and JSON using .proto files.",
    description=(
        "The .proto files are compiled once when the stream is built (with the protoc "
        "bundled in `grpcio-tools`). JSON follows ProtoJSON: lowerCamelCase names unless "
        "`use_proto_names`, 64-bit integers as strings, fields at their default value left "
        "out; `from_json` accepts both name forms. A message that cannot be converted keeps "
        "its content and is flagged with the reason. Benthos' `bsr` (Buf Schema Registry) "
        "is not supported."
    ),
    examples=(
        "protobuf:\n  operator: from_json\n  message: testing.Person\n"
        "  import_paths: [ testing/schema ]\n",
        "protobuf:\n  operator: to_json\n  message: testing.Person\n"
        "  import_paths: [ testing/schema ]\n  use_proto_names: true\n",
    ),
)
class ProtobufProcessor(Processor):
    """Converts messages between protobuf and JSON using .proto files."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.operator = str(conf["operator"])
        if self.operator not in OPERATORS:
            raise ValueError(f"operator {self.operator!r}: expected one of {', '.join(OPERATORS)}")
        paths = [str(p) for p in conf.get("import_paths") or []]
        if not paths:
            raise ValueError("import_paths must name at least one directory of .proto files")
        self.pool = compile_protos(paths)
        name = str(conf["message"]).strip().lstrip(".")
        try:
            descriptor = self.pool.FindMessageTypeByName(name)
        except KeyError:
            known = _message_names(self.pool, _proto_files(paths))
            raise ValueError(
                f"message type {name!r} not found in the .proto files; they define: "
                f"{', '.join(known) or 'none'}"
            ) from None
        self.message_class = _protobuf("message_factory").GetMessageClass(descriptor)
        self._json = _protobuf("json_format")
        self._decode_error = _protobuf("message").DecodeError
        self.name = name
        self.discard_unknown = bool(conf.get("discard_unknown", False))
        self.use_proto_names = bool(conf.get("use_proto_names", False))
        self.use_enum_numbers = bool(conf.get("use_enum_numbers", False))

    def to_json(self, data: bytes) -> Any:
        """A protobuf message as its ProtoJSON value."""
        decoded = self.message_class.FromString(data)
        return self._json.MessageToDict(  # type: ignore[no-any-return]
            decoded,
            preserving_proto_field_name=self.use_proto_names,
            use_integers_for_enums=self.use_enum_numbers,
            descriptor_pool=self.pool,
        )

    def from_json(self, value: Any) -> bytes:
        """A JSON value as the serialised protobuf message."""
        built = self._json.ParseDict(
            value,
            self.message_class(),
            ignore_unknown_fields=self.discard_unknown,
            descriptor_pool=self.pool,
        )
        return built.SerializeToString()  # type: ignore[no-any-return]

    def process_batch(self, batch: list[Message]) -> list[Message]:
        to_json = self.operator == "to_json"
        for msg in batch:
            if msg.error is not None:
                continue
            try:
                if to_json:
                    msg.set_value(self.to_json(msg.payload))
                else:
                    msg.set_payload(self.from_json(msg.value))
            except self._decode_error as exc:
                msg.error = f"protobuf: failed to read the message as {self.name}: {exc}"
            except self._json.ParseError as exc:
                msg.error = f"protobuf: failed to write the message as {self.name}: {exc}"
            except PayloadError as exc:
                msg.error = f"protobuf: {exc}"
        return batch
