"""TLS over a tunnel's byte stream, to a server whose certificate is pinned by its fingerprint.

An interactive app listens on a port of the compute node. Once the app is gone (its job
cancelled, or stopped at its idle timeout) any login with a process on the node can listen at
that port, and until the gateway learns that the job ended it would send the owner's requests
(and the app's secret) there. So the app serves TLS with a certificate its job script made, and
writes the certificate's SHA-256 in its connection file (docs/interactive.md): the gateway
completes no connection to a server that cannot prove it holds that certificate's key, which
only the app's own files hold. No CA and no host name: the pin is the whole check.

The tunnel is a paramiko channel (or a socket), not a socket ``ssl`` could wrap, so the TLS
runs in memory (``ssl.SSLObject`` between two ``MemoryBIO``) and the ciphertext goes through
the tunnel's own ``recv``/``send``. ``PinnedTlsStream`` has the same calls as the tunnel's
stream and works both ways the proxy uses it: blocking (with the stream's timeout, from a
thread) and non-blocking (timeout 0, from the event loop: ``recv`` raises what the tunnel
raises when it has nothing yet).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import ssl
import threading
import time
from typing import Protocol

_FINGERPRINT = re.compile(r"[0-9a-f]{64}\Z")
_READ = 65536


class ByteStream(Protocol):
    """What a paramiko channel and a socket both have."""

    def recv(self, size: int, /) -> bytes: ...
    def send(self, data: bytes, /) -> int: ...
    def sendall(self, data: bytes, /) -> None: ...
    def settimeout(self, timeout: float | None, /) -> None: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


class NotThePinnedServer(ssl.SSLError):
    """The server at the app's address did not show the app's certificate: not the app."""


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # No CA vouches for an app's certificate, and its host is an address: the fingerprint,
    # checked right after the handshake, before a byte of the request is sent, is the check.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


_CONTEXT = _context()


def fingerprint_of(der: bytes) -> str:
    """A certificate's pin: the SHA-256 of its DER form, lower-case hex (what the job script
    writes, from ``openssl x509 -outform DER | sha256sum``)."""
    return hashlib.sha256(der).hexdigest()


class PinnedTlsStream:
    """A TLS client over ``inner``; ``handshake`` must succeed before anything else is used.

    One thread may read while another sends (the WebSocket relay does): the TLS state is used
    under ``_state`` only, never while waiting on the tunnel, and ciphertext is encrypted and
    handed to the tunnel under ``_sending``, so records leave in the order they were made.
    """

    def __init__(self, inner: ByteStream, fingerprint: str) -> None:
        if not _FINGERPRINT.match(fingerprint):
            raise ValueError("a certificate fingerprint is 64 lower-case hex digits")
        self.inner, self._pin = inner, fingerprint
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = _CONTEXT.wrap_bio(self._in, self._out, server_side=False)
        self._state, self._sending = threading.Lock(), threading.Lock()
        self._unsent = b""  # ciphertext the tunnel did not take yet (non-blocking sends)

    # --- set-up, blocking (in a thread): the handshake and the pin ---------------------------------
    def handshake(self, timeout_s: float = 30.0) -> None:
        """Run the TLS handshake over the tunnel (blocking, all of it within ``timeout_s``:
        ``TimeoutError`` past it), then check the server's certificate against the pin;
        ``NotThePinnedServer`` if it differs.

        The deadline is for the whole handshake, not each read: whatever listens at a freed
        port (another login's server) speaks first here, and one byte now and then would
        otherwise hold the calling thread for ever."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sendall(b"")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the TLS handshake at the app's address did not end in time") from None
                self.inner.settimeout(left)
                self._take(self.inner.recv(_READ))
        self.sendall(b"")
        der = self._tls.getpeercert(binary_form=True)
        if der is None or not hmac.compare_digest(fingerprint_of(der), self._pin):
            raise NotThePinnedServer("the server at the app's address does not hold the app's certificate")

    # --- the stream's calls ----------------------------------------------------------------------
    def recv(self, size: int, /) -> bytes:
        """Up to ``size`` bytes of plaintext; b"" at the end. Without data yet, raises what the
        tunnel's ``recv`` raises (non-blocking) or waits as it does (blocking)."""
        while True:
            try:
                with self._state:
                    return self._tls.read(size)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""  # closed, cleanly or not: the HTTP layer tells a cut answer
            if self._out.pending:  # reading made an answer (a TLS 1.3 key update)
                with self._sending:
                    self._flush_some()
            self._take(self.inner.recv(_READ))

    def send(self, data: bytes, /) -> int:
        """Encrypt ``data`` and send what the tunnel takes now. The rest waits (``pending``) for
        the next call or for ``sendall``; with ciphertext still waiting, nothing new is taken
        (the tunnel's would-block error)."""
        with self._sending:
            if self._unsent and not self._flush_some():
                raise BlockingIOError("the tunnel takes no more now")
            with self._state:
                self._tls.write(data)
            self._flush_some()
        return len(data)

    def sendall(self, data: bytes, /) -> None:
        """Send ``data`` and whatever waits, blocking (within the stream's timeout)."""
        with self._sending:
            if data:
                with self._state:
                    self._tls.write(data)
            with self._state:
                self._unsent += self._out.read()
            waiting, self._unsent = self._unsent, b""
            if waiting:
                self.inner.sendall(waiting)

    def flush(self) -> bool:
        """Send ciphertext that earlier non-blocking sends left, until the tunnel would block;
        whether none is left."""
        with self._sending:
            return self._flush_some()

    @property
    def pending(self) -> int:
        """Bytes of ciphertext encrypted but not yet taken by the tunnel."""
        return len(self._unsent)

    def readable_now(self) -> bool:
        """Whether decrypted data waits to be read (the tunnel may have nothing new)."""
        with self._state:
            return self._tls.pending() > 0

    def settimeout(self, timeout: float | None, /) -> None:
        self.inner.settimeout(timeout)

    def fileno(self) -> int:
        return self.inner.fileno()

    def close(self) -> None:
        self.inner.close()

    # --- moving ciphertext -----------------------------------------------------------------------
    def _take(self, data: bytes) -> None:
        with self._state:
            if data:
                self._in.write(data)
            else:
                self._in.write_eof()

    def _flush_some(self) -> bool:
        """Send waiting ciphertext until the tunnel would block (``_sending`` held); whether all
        of it went."""
        with self._state:
            self._unsent += self._out.read()
        while self._unsent:
            try:
                sent = self.inner.send(self._unsent)
            except (BlockingIOError, TimeoutError, InterruptedError):
                return False
            if sent == 0:
                raise ConnectionResetError("the tunnel is closed")
            self._unsent = self._unsent[sent:]
        return True
