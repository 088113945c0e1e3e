"""The server side of an HTTP/2 connection for fake upstreams (python3-h2 on a raw socket)."""

import h2.config
import h2.connection
import h2.settings


def h2_server_connection(sock, settings=None):
    """python3-h2 server state for `sock`, with our SETTINGS (`settings`: {SettingCodes: value}
    on top of h2's defaults) already sent."""
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    if settings:
        conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return conn
