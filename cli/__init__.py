"""cmail-console's command line: a drop-in for cmail's `cmail-admin-*` tools on core's services."""
