"""Plant simulators: Modbus TCP and OPC UA servers with a small, living plant for demos."""
