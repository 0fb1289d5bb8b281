"""Benthos' AWS connection fields (`region`, `endpoint`, `credentials` ...) and a boto3 client
built from them, shared by the AWS components (S3, SQS) and the CloudWatch metrics."""

from __future__ import annotations

from typing import Any

from streamforge.plugin.spec import Field

__all__ = ["aws_fields", "make_client"]

_PATH_STYLE = Field(
    "force_path_style_urls",
    "bool",
    default=False,
    advanced=True,
    description="Address buckets as http://endpoint/bucket instead of "
    "http://bucket.endpoint (most S3-compatible stores need this).",
)


def aws_fields(*, path_style: bool = True) -> list[Field]:
    """`region`, `endpoint`, `credentials`, `force_path_style_urls` (S3 only, `path_style`)
    and `tcp` (accepted), as Benthos' AWS components declare them."""
    fields = [
        Field(
            "region",
            "string",
            default="",
            description="The AWS region; empty uses the environment's (or us-east-1).",
            examples=("eu-central-1",),
        ),
        Field(
            "endpoint",
            "string",
            default="",
            description="A custom endpoint URL, for S3-compatible stores (MinIO, Ceph ...).",
            examples=("http://localhost:9000",),
        ),
        Field(
            "credentials",
            "object",
            default={},
            advanced=True,
            description="Credentials; without any, the environment's (variables, profile, "
            "instance role) are used.",
            fields=(
                Field("profile", "string", default="", description="A profile of ~/.aws."),
                Field("id", "string", default="", description="The access key ID."),
                Field(
                    "secret",
                    "string",
                    default="",
                    secret=True,
                    description="The secret access key.",
                ),
                Field(
                    "token",
                    "string",
                    default="",
                    secret=True,
                    description="A session token for temporary credentials.",
                ),
                Field(
                    "from_ec2_role",
                    "bool",
                    default=False,
                    description="Use the instance's role (the default chain does that anyway).",
                ),
                Field("role", "string", default="", description="A role ARN to assume."),
                Field(
                    "role_external_id",
                    "string",
                    default="",
                    description="The external ID when assuming `role`.",
                ),
            ),
        ),
        Field(
            "tcp",
            "map",
            default={},
            advanced=True,
            description="Accepted for Benthos compatibility; TCP settings are the system's.",
        ),
    ]
    if path_style:
        fields.insert(3, _PATH_STYLE)
    return fields


def make_client(
    conf: dict[str, Any],
    *,
    timeout: float = 30.0,
    service: str = "s3",
    connect_timeout: float | None = None,
    attempts: int = 3,
) -> Any:
    """A boto3 client of `service` (S3 unless said) for a component's AWS fields (no request
    is made): requests time out after `timeout` seconds, connecting after `connect_timeout`
    (at most 10 s by default), and are tried `attempts` times."""
    import boto3
    from botocore.config import Config

    creds = conf.get("credentials") or {}
    session_args: dict[str, Any] = {}
    if creds.get("profile"):
        session_args["profile_name"] = str(creds["profile"])
    if creds.get("id"):
        session_args["aws_access_key_id"] = str(creds["id"])
        session_args["aws_secret_access_key"] = str(creds.get("secret") or "")
        if creds.get("token"):
            session_args["aws_session_token"] = str(creds["token"])
    region = str(conf.get("region") or "") or None
    session = boto3.session.Session(region_name=region, **session_args)
    if creds.get("role"):
        session = _assumed(session, str(creds["role"]), str(creds.get("role_external_id") or ""))
    config = Config(
        connect_timeout=connect_timeout if connect_timeout is not None else min(timeout, 10.0),
        read_timeout=timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        s3={"addressing_style": "path" if conf.get("force_path_style_urls") else "auto"},
    )
    endpoint = str(conf.get("endpoint") or "") or None
    if session.region_name is None:
        return session.client(
            service, endpoint_url=endpoint, config=config, region_name="us-east-1"
        )
    return session.client(service, endpoint_url=endpoint, config=config)


def _assumed(session: Any, role: str, external_id: str) -> Any:
    """A session with the credentials of `role`, assumed through STS."""
    import boto3

    args: dict[str, Any] = {"RoleArn": role, "RoleSessionName": "streamforge"}
    if external_id:
        args["ExternalId"] = external_id
    creds = session.client("sts").assume_role(**args)["Credentials"]
    return boto3.session.Session(
        region_name=session.region_name,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
