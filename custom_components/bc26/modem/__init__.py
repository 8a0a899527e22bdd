"""BC26 modem library: a typed asyncio client for the BC26 LwM2M AT commands."""
