#!/usr/bin/env python3
"""Logs in to an iSCSI target and then never answers anything: prints the seconds until the
target closed the connection, or "open" if it had not within the limit. Used by
scripts/serve-clients.sh to check that an unanswered NOP-In ping ends a connection.
Usage: iscsi-silent-initiator.py HOST PORT TARGET-NAME LIMIT-SECONDS"""
import socket
import struct
import sys
import time

host, port, target, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
keys = (f"InitiatorName=iqn.2026-11.test:silent\0SessionType=Normal\0TargetName={target}\0"
        "HeaderDigest=None\0DataDigest=None\0").encode()
bhs = bytearray(48)
bhs[0] = 0x43  # Login Request, immediate
bhs[1] = 0x87  # transit, operational negotiation -> full feature phase
bhs[5:8] = len(keys).to_bytes(3, "big")
bhs[8:14] = bytes([0x80, 0, 0, 0, 0, 1])  # ISID
struct.pack_into(">I", bhs, 16, 1)  # ITT
struct.pack_into(">I", bhs, 24, 1)  # CmdSN
s = socket.create_connection((host, port))
s.sendall(bytes(bhs) + keys + b"\0" * ((4 - len(keys) % 4) % 4))
start = time.time()
s.settimeout(limit)
try:
    while s.recv(65536):
        pass
    print(f"{time.time() - start:.1f}")
except socket.timeout:
    print("open")
