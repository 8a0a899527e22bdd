"""Constants of the Quectel BC26 integration."""

from __future__ import annotations

import logging
from typing import Final

from .modem import DataMode

DOMAIN: Final = "bc26"
LOGGER = logging.getLogger(__package__)

# Config entry data: how to reach the module and the platform.
CONF_PORT: Final = "port"
CONF_BAUDRATE: Final = "baudrate"
CONF_SERVER: Final = "server"
CONF_SERVER_PORT: Final = "server_port"
CONF_ENDPOINT: Final = "endpoint"

# Config entry options: how the session behaves.
CONF_DATA_MODE: Final = "data_mode"
CONF_POLL_INTERVAL: Final = "poll_interval"
CONF_DEREGISTER_ON_UNLOAD: Final = "deregister_on_unload"
CONF_CHECK_INTERVAL: Final = "check_interval"
CONF_QUEUE_SIZE: Final = "queue_size"
CONF_QUEUE_AGE: Final = "queue_age"

DEFAULT_BAUDRATE: Final = 115200
BAUDRATES: Final = (9600, 19200, 38400, 57600, 115200, 230400, 460800)
DEFAULT_SERVER_PORT: Final = 5683
DEFAULT_POLL_INTERVAL: Final = 300  # seconds
MIN_POLL_INTERVAL: Final = 60
MAX_POLL_INTERVAL: Final = 86400
DEFAULT_DEREGISTER_ON_UNLOAD: Final = True
# Registration checks of an idle module (a registration update); 0 switches them off.
DEFAULT_CHECK_INTERVAL: Final = 3600  # seconds
MIN_CHECK_INTERVAL: Final = 300
MAX_CHECK_INTERVAL: Final = 86400
# Store and forward: uplinks kept while the module cannot send, at most this many, this old.
DEFAULT_QUEUE_SIZE: Final = 100
MAX_QUEUE_SIZE: Final = 1000
DEFAULT_QUEUE_AGE: Final = 86400  # seconds
MIN_QUEUE_AGE: Final = 60
MAX_QUEUE_AGE: Final = 30 * 86400

# The option values users see, and the module's <mode> of AT+QLWOPEN they stand for.
DATA_MODE_DIRECT_PUSH: Final = "direct_push"
DATA_MODE_BUFFER_ACCESS: Final = "buffer_access"
DATA_MODES: Final = {
    DATA_MODE_DIRECT_PUSH: DataMode.DIRECT_PUSH,
    DATA_MODE_BUFFER_ACCESS: DataMode.BUFFER_ACCESS,
}
DEFAULT_DATA_MODE: Final = DATA_MODE_DIRECT_PUSH

# Config subentries: the LwM2M objects the module declares, and decoded resource sensors.
SUBENTRY_OBJECT: Final = "lwm2m_object"
SUBENTRY_RESOURCE_SENSOR: Final = "resource_sensor"
SUBENTRY_REPORT: Final = "report_entity"

# Only this module answers the integration's LwM2M commands.
SUPPORTED_MODEL: Final = "BC26"


def module_title(imei: str) -> str:
    """`BC26 …1361`: the entry's title and device name, without the whole IMEI.

    The title appears in every diagnostics download, screenshot and entity ID.
    """
    return f"{SUPPORTED_MODEL} …{imei[-4:]}"
