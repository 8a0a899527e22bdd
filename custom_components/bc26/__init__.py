"""The Quectel BC26 NB-IoT (LwM2M) integration."""
