"""Amazon S3 (and S3-compatible stores) for the `aws_s3` input and output: Benthos' AWS
fields and one boto3 client per component."""

from __future__ import annotations

from streamforge.plugin.aws import aws_fields, make_client

__all__ = ["aws_fields", "is_unreachable", "make_client"]


def is_unreachable(exc: BaseException) -> bool:
    """Whether a boto3 failure means the store could not be reached (worth waiting for)."""
    from botocore import exceptions as bex

    return isinstance(
        exc,
        (
            bex.EndpointConnectionError,
            bex.ConnectionClosedError,
            bex.ReadTimeoutError,
            bex.ConnectTimeoutError,
            ConnectionError,
        ),
    )
