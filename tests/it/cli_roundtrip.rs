// cli_roundtrip
