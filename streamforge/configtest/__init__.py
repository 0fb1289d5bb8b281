"""Config unit tests in Benthos' format: `streamforge test` runs `tests:` against processors.

A test names processors of a config (`target_processors`, a JSON Pointer or a label) or
a Bloblang file (`target_mapping`), optionally replaces components with `mocks`, feeds
`input_batch`/`input_batches` through them and checks `output_batches` with conditions.
"""

from streamforge.configtest.discover import TestCase, TestFile, discover
from streamforge.configtest.runner import CaseResult, run_case, run_file

__all__ = ["CaseResult", "TestCase", "TestFile", "discover", "run_case", "run_file"]
