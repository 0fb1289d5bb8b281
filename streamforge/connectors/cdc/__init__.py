"""What the change data capture inputs (`postgres_cdc`, `mysql_cdc`) share.

Modules: `tracker` follows acknowledgements to the position that may be kept, `reader` hands
a session's changes to the stream in batches, `session` runs a session thread and reports why
it ended, `fields` declares and checks the config fields both inputs have, `input` builds the
part of their Input the fields describe.
"""
