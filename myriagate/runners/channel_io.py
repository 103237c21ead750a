"""Writes on a paramiko channel that can never reach sshd after the channel's CLOSE.

paramiko's ``Channel.send``/``shutdown_write`` check ``closed`` under the channel lock but send
after releasing it. When the command exits at that moment, paramiko's transport thread answers
the server's CLOSE in between, our EOF or data then names a channel the server has freed, and
OpenSSH drops the whole connection ("packet referred to nonexistent channel"), taking every
other command on that Transport with it. Seen with 8 threads sharing one Transport.

Here the message is sent while the channel lock is held, so it is ordered before any CLOSE
(paramiko marks the channel closed under that lock before sending its CLOSE). Holding the lock
while waiting for a key exchange could stall the transport thread, so during a key exchange
nothing is sent and the caller tries again. This relies on paramiko internals
(``Channel.lock``, ``Transport.clear_to_send[_lock]``, ``Transport._send_message``), all present
since paramiko 2.x; the tests with concurrent commands guard it.
"""

from __future__ import annotations

from collections.abc import Callable

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_EOF, cMSG_CHANNEL_REQUEST

_CLOSED = -1
_LATER = -2


def send_data(chan: paramiko.Channel, data: memoryview) -> int | None:
    """Send what the window allows: bytes sent (0: try later), or None when the channel is closed."""
    sent = 0

    def build() -> paramiko.Message | None:
        nonlocal sent
        size = min(len(data), chan.out_window_size, chan.out_max_packet_size - 64)
        if size <= 0 or chan.eof_sent:
            return None
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_DATA)
        m.add_int(chan.remote_chanid)
        m.add_string(bytes(data[:size]))
        chan.out_window_size -= size
        sent = size
        return m

    outcome = _send_locked(chan, build)
    return None if outcome == _CLOSED else sent


def send_eof(chan: paramiko.Channel) -> bool:
    """Send EOF on stdin; True when done (or moot: closed, already sent), False to try later."""

    def build() -> paramiko.Message | None:
        if chan.eof_sent:
            return None
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_EOF)
        m.add_int(chan.remote_chanid)
        chan.eof_sent = True
        return m

    return _send_locked(chan, build) != _LATER


def send_signal(chan: paramiko.Channel, name: str) -> None:
    """Ask sshd to signal the command (RFC 4254 "signal", e.g. ``KILL``); best effort."""

    def build() -> paramiko.Message:
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string("signal")
        m.add_boolean(False)
        m.add_string(name)
        return m

    _send_locked(chan, build)


def _send_locked(chan: paramiko.Channel, build: Callable[[], paramiko.Message | None]) -> int:
    transport = chan.get_transport()
    with chan.lock:
        if chan.closed or transport is None or not transport.is_active():
            return _CLOSED
        # Lock order channel -> transport send lock; paramiko never takes them the other way.
        with transport.clear_to_send_lock:
            if not transport.clear_to_send.is_set():
                return _LATER
            message = build()
            if message is not None:
                try:
                    transport._send_message(message)
                except (EOFError, OSError, paramiko.SSHException):
                    # The socket died under the write (paramiko raises EOFError) before the
                    # transport thread noticed: as closed; that thread closes the channel.
                    return _CLOSED
            return 0
