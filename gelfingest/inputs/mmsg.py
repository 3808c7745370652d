"""Many datagrams a system call: Linux's recvmmsg(2), through ctypes.

Python's socket module reads one datagram a call (``recvfrom``, ``recvmsg``): about 2 us each here, the
largest single cost of a small GELF message. recvmmsg fills up to VLEN datagrams, their senders' addresses
and (with SO_TIMESTAMPNS) their kernel receive times in one call. The buffers are allocated once; a
call resets the headers the kernel rewrites with one memmove, and the datagrams are copied out as bytes
(docs/performance.md has the figures).

``MultiReceiver.available()`` says whether this works here (Linux, glibc's recvmmsg, ctypes); the UDP
input falls back to recvfrom/recvmsg otherwise, and with ``--udp-reader recvfrom``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import socket
import struct
import sys
from typing import Final

# Datagrams a call. 64 buffers of a full UDP payload: 4 MiB a socket.
VLEN: Final = 64
BUFFER: Final = 65_536
_NAME: Final = 128  # sizeof(struct sockaddr_storage)
_CONTROL: Final = 64  # one cmsg with a struct timespec needs 32
MSG_DONTWAIT: Final = 0x40
# SO_TIMESTAMPNS: the kernel's receive time of each datagram, as a struct timespec (Python names it only on
# some builds; Linux's number is 35). The UDP input turns it on.
SO_TIMESTAMPNS: Final = getattr(socket, "SO_TIMESTAMPNS", 35)
# cmsg_level and cmsg_type of an SO_TIMESTAMPNS cmsg read as one native 64-bit word.
_TIMESTAMP_KIND: Final = int.from_bytes(struct.pack("=ii", socket.SOL_SOCKET, SO_TIMESTAMPNS), sys.byteorder,
                                        signed=True)


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_HDR: Final = ctypes.sizeof(_Mmsghdr)
_LEN_AT: Final = _Mmsghdr.msg_len.offset


def _libc_recvmmsg() -> object | None:
    if not sys.platform.startswith("linux") or struct.calcsize("P") != 8:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


_RECVMMSG = _libc_recvmmsg()


class MultiReceiver:
    """recvmmsg on one non-blocking UDP socket: ``receive()`` returns what one call read."""

    def __init__(self, sock: socket.socket, timestamps: bool = False, vlen: int = VLEN) -> None:
        if _RECVMMSG is None:
            raise OSError("recvmmsg is not available here")
        self._fd = sock.fileno()
        self._v6 = sock.family == socket.AF_INET6
        self.timestamps = timestamps
        self.vlen = vlen
        self._data = (ctypes.c_char * (BUFFER * vlen))()
        self._names = (ctypes.c_char * (_NAME * vlen))()
        self._control = (ctypes.c_char * (_CONTROL * vlen))()
        self._iovs = (_Iovec * vlen)()
        self._hdrs = (_Mmsghdr * vlen)()
        data, names, control = (ctypes.addressof(b) for b in (self._data, self._names, self._control))
        for i in range(vlen):
            self._iovs[i].iov_base = data + i * BUFFER
            self._iovs[i].iov_len = BUFFER
            h = self._hdrs[i].msg_hdr
            h.msg_name = names + i * _NAME
            h.msg_namelen = _NAME
            h.msg_iov = ctypes.pointer(self._iovs[i])
            h.msg_iovlen = 1
            h.msg_control = control + i * _CONTROL if timestamps else None
            h.msg_controllen = _CONTROL if timestamps else 0
        # What the kernel overwrites (the lengths) is put back from this copy before each call.
        self._pristine = bytes(memoryview(self._hdrs).cast("B"))
        self._hdr_view = memoryview(self._hdrs).cast("B")
        self._data_view = memoryview(self._data)
        self._name_view = memoryview(self._names)
        self._control_words = memoryview(self._control).cast("B").cast("q")
        self._address = ctypes.addressof(self._hdrs)
        self._control_address = control
        self._ips: dict[bytes, str] = {}

    @staticmethod
    def available() -> bool:
        return _RECVMMSG is not None

    def receive(self) -> tuple[list[bytes], list[str], list[float] | None, bool]:
        """One call: the datagrams, their senders' addresses, their kernel receive times (0.0 where none
        came; None without timestamps), and whether the socket had no more (it would block)."""
        ctypes.memmove(self._address, self._pristine, len(self._pristine))
        if self.timestamps:
            ctypes.memset(self._control_address, 0, _CONTROL * self.vlen)
        n = _RECVMMSG(self._fd, self._address, self.vlen, MSG_DONTWAIT, None)  # type: ignore[operator]
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return [], [], [] if self.timestamps else None, True
            raise OSError(err, os.strerror(err))
        lengths = _lengths(n).unpack_from(self._hdr_view)
        data_view, name_view = self._data_view, self._name_view
        datagrams = [data_view[i * BUFFER: i * BUFFER + size].tobytes() for i, size in enumerate(lengths)]
        if self._v6:
            keys = [name_view[i * _NAME + 8: i * _NAME + 24].tobytes() for i in range(n)]
        else:
            keys = [name_view[i * _NAME + 4: i * _NAME + 8].tobytes() for i in range(n)]
        ips = self._ips
        sources = [ips.get(key) or self._ip(key) for key in keys]
        stamps: list[float] | None = None
        if self.timestamps:
            # Each slot's first cmsg as 64-bit words: length, then level and type in one, then the struct
            # timespec (seconds, nanoseconds). A slot the kernel left empty was zeroed before the call.
            words, step, end = self._control_words, _CONTROL // 8, n * (_CONTROL // 8)
            kinds = words[1:end:step].tolist()
            secs, nanos = words[2:end:step].tolist(), words[3:end:step].tolist()
            stamps = [sec + nano * 1e-9 for sec, nano in zip(secs, nanos, strict=True)]
            if kinds.count(_TIMESTAMP_KIND) != n:  # rare: a slot without the timestamp (or another cmsg first)
                stamps = [t if kind == _TIMESTAMP_KIND else 0.0 for t, kind in zip(stamps, kinds, strict=True)]
        return datagrams, sources, stamps, n < self.vlen

    def _ip(self, key: bytes) -> str:
        if len(self._ips) >= 65_536:  # bounded: senders are hostile until proven otherwise
            self._ips.clear()
        ip = self._ips[key] = socket.inet_ntop(socket.AF_INET6 if self._v6 else socket.AF_INET, key)
        return ip


@functools.cache
def _lengths(n: int) -> struct.Struct:
    """msg_len of the first ``n`` headers, in one unpack."""
    return struct.Struct("@" + f"{_LEN_AT}xI{_HDR - _LEN_AT - 4}x" * n)
