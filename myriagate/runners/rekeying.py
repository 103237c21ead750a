"""A paramiko Transport whose own thread never waits for a key exchange it alone can finish.

The defect (paramiko issue #822, open since 2016, still in paramiko 5.1): paramiko re-keys every
512 MiB received. When it decides to, its transport thread sends KEXINIT and clears
``clear_to_send``; until the server's KEXINIT and NEWKEYS come back, every "user" message waits
in ``Transport._send_user_message``. The server, which has not yet read our KEXINIT, may still
send what it had queued: the rest of a file, then the command's EOF and CLOSE. paramiko answers a
CLOSE (and a channel request that wants a reply, and its own keepalive) from the transport thread
itself, through ``_send_user_message``, so that thread waits for a key exchange only it can
complete: nothing is read any more, and after ``clear_to_send_timeout`` (30 s) it raises
"Key-exchange timed out waiting for key negotiation" and the connection dies, taking every
channel on it (a download's reader meanwhile waits in its own WINDOW_ADJUST and gets the same
error). A 2 GiB download hit it when its fourth re-key fell in its last ~2 MiB, i.e. when the
command's CLOSE was already on the wire.

Sending the answer at once is not allowed (RFC 4253 7.1: between KEXINIT and NEWKEYS only
key-exchange messages; OpenSSH's strict KEX drops the connection). So, as OpenSSH does, what the
transport thread would send during a key exchange is held and sent right after the exchange, in
the order it was made, before any other thread can send (``clear_to_send_lock`` is made
re-entrant so the flush happens under it, atomically with setting ``clear_to_send``). Other
threads are unchanged: they wait, as paramiko designed, for an exchange that now completes.

This relies on paramiko internals (``clear_to_send``, ``clear_to_send_lock``,
``_send_user_message``, ``_parse_newkeys``, ``_send_message``), present since paramiko 1.x;
tests/integration/test_ssh_rekeys_real.py re-keys every few hundred KiB against the real sshd
and fails without this class.
"""

from __future__ import annotations

import logging
import socket
import threading

import paramiko


class RekeySafeTransport(paramiko.Transport):  # type: ignore[misc]  # paramiko is untyped
    """``paramiko.Transport`` that holds its own thread's messages during a key exchange."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        # Re-entrant: _parse_newkeys below holds it around paramiko's own, which takes it again.
        self.clear_to_send_lock = threading.RLock()
        self._held_during_kex: list[paramiko.Message] = []
        self.messages_held = 0  # since the connection opened: answers that waited for an exchange

    def _send_user_message(self, data: paramiko.Message) -> None:
        if threading.current_thread() is not self:
            super()._send_user_message(data)  # a caller's thread: waits for the exchange to end
            return
        # The transport thread: waiting here would stop the exchange it must carry on.
        with self.clear_to_send_lock:
            if not self.active:
                return  # as paramiko: a dead connection drops what is sent on it
            if self.clear_to_send.is_set():
                self._send_message(data)
            else:
                self._held_during_kex.append(data)
                self.messages_held += 1

    def _parse_newkeys(self, m: paramiko.Message) -> None:
        with self.clear_to_send_lock:
            super()._parse_newkeys(m)  # sets clear_to_send under the same lock
            held, self._held_during_kex = self._held_during_kex, []
            for message in held:
                self._send_message(message)
        if held:
            self._log(logging.DEBUG, f"sent {len(held)} message(s) held during the key exchange")
