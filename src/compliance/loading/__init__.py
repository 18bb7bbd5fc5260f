"""Loading: config.toml, rule YAML, agency and snapshot CSV/XLSX into models, every error located."""
