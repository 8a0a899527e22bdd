"""Tests of the bc26 integration, its modem library and the virtual BC26."""
