"""The event dataset: its schema, row building, writer and state store."""
