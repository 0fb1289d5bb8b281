"""Config loading: YAML with positions, ${VAR} interpolation, validation against specs."""
