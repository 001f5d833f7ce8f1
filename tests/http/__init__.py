"""Black-box HTTP tests of the gatehouse binary (see README.md)."""
