"""Wire schemas, one module per resource: ``XCreate`` / ``XUpdate`` in, ``XPublic`` out."""
