#!/usr/bin/env python3
"""Prints a loopback port for a rendezvous root that is told its port up front.

Picked below the kernel's ephemeral range, as tests/support/free_port.hpp
does: a bind(0) port is free only until the next connect() or listen(0)
on the machine takes it (tests run side by side and UCX's tcp transport
opens such sockets all the time); below the range only another explicit
pick can collide.
"""
import random
import socket


def unused_fixed_port():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    first = 10000
    if low <= first + 1000:
        raise RuntimeError(f"the ephemeral port range starts at {low}, leaving no fixed ports above {first}")
    for _ in range(200):
        port = random.randrange(first, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"200 random ports in [{first}, {low}) were all taken")


if __name__ == "__main__":
    print(unused_fixed_port())
