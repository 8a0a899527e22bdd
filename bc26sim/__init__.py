"""The virtual BC26: a software Quectel BC26 for tests and demos."""
