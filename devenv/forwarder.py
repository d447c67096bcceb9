"""A TCP relay from the host's end of a cluster's node link to its API server on loopback.

    python -m devenv.forwarder LISTEN_HOST:PORT TARGET_HOST:PORT [DEVICE]

The API server listens on 127.0.0.1 only. The real nodes' processes and pods live in
the cluster's network namespace (devenv/node_network.py), whose loopback is its own:
they reach the API server at the link address instead, which only that namespace
and this host can reach. With DEVICE (the link's host end), the listener takes only what
arrives through that interface: Linux accepts a packet for any local address on any
interface, so without it a peer that routed the link's range to this machine would reach
the API server (SO_BINDTODEVICE, socket(7)). TLS passes through untouched, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def serve(listen: tuple[str, int], target: tuple[str, int], device: str | None = None) -> None:
    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if device:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    sock.bind(listen)
    server = await asyncio.start_server(relay, sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"relaying {listen[0]}:{listen[1]} -> {target[0]}:{target[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0 if "--help" in argv or "-h" in argv else 2
    asyncio.run(serve(_address(argv[1]), _address(argv[2]), argv[3] if len(argv) == 4 else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
